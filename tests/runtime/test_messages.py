"""Every language's messages file says everything English says: the same keys, the same placeholders."""

from __future__ import annotations

import string
import tomllib

from bot.settings import CONFIG_DIR

MESSAGES = CONFIG_DIR / "messages"


def _load(name: str) -> dict[str, str]:
    return tomllib.loads((MESSAGES / f"{name}.toml").read_text(encoding="utf-8"))


def _placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def test_every_messages_file_has_exactly_the_keys_and_placeholders_of_english() -> None:
    english = _load("en")
    others = sorted(p.stem for p in MESSAGES.glob("*.toml") if p.stem != "en")
    assert "cy" in others, "Welsh sits beside English"
    for language in others:
        messages = _load(language)
        assert sorted(set(english) - set(messages)) == [], f"{language}.toml lacks these keys"
        assert sorted(set(messages) - set(english)) == [], f"{language}.toml has keys English does not"
        for key, text in english.items():
            assert _placeholders(messages[key]) == _placeholders(text), f"{language}.toml: {key}"
            assert messages[key].strip(), f"{language}.toml: {key} is empty"
        assert len(messages["note_months"].split(",")) == 12, f"{language}.toml: twelve months"
