"""Configuration a user edits: environment overrides, structure files, wording."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bot.configuration import ConfigError, load_messages, load_structure
from bot.settings import CONFIG_DIR, Settings
from facilitation.config import EngineConfig

ROOT = Path(__file__).resolve().parents[2]


def test_environment_variables_override_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACILITATOR_SESSION__VOTING", "borda")
    monkeypatch.setenv("FACILITATOR_DATABASE", "/tmp/elsewhere.sqlite3")
    settings = Settings()
    assert settings.session.voting == "borda"
    assert settings.database == Path("/tmp/elsewhere.sqlite3")


def test_a_broken_structure_file_is_refused_naming_the_file_and_the_key(tmp_path: Path) -> None:
    shutil.copytree(CONFIG_DIR, tmp_path / "config")
    broken = tmp_path / "config" / "structures" / "broken.toml"
    broken.write_text('name = "Broken"\ndescription = "x"\n[[phases]]\nkind = "own"\ntitle = "Own"\nminutes = "soon"\n')
    settings = Settings(config_dir=tmp_path / "config")
    with pytest.raises(ConfigError, match=r"broken\.toml.*phases\.0\.minutes"):
        load_structure(settings, "broken")
    with pytest.raises(ConfigError, match="no structure called 'nope'"):
        load_structure(settings, "nope")


def test_every_message_the_code_uses_is_in_the_wording_file() -> None:
    messages = load_messages(Settings())
    used: set[str] = set()
    for path in (ROOT / "facilitation").rglob("*.py"):
        used |= set(re.findall(r"say\(\s*\"([a-z_]+)\"", path.read_text(encoding="utf-8")))
    for path in (ROOT / "bot").rglob("*.py"):
        used |= set(re.findall(r"say\(\s*\"([a-z_]+)\"", path.read_text(encoding="utf-8")))
    assert used, "found no messages in use"
    assert sorted(used - set(messages)) == []


def test_every_mistake_the_code_raises_names_a_message_in_the_wording_file() -> None:
    """Errors a person can fix carry a message key (facilitation/errors.py): each must be in en.toml."""
    messages = load_messages(Settings())
    raised: set[str] = set()
    raise_site = re.compile(r"(?<!Assertion)(?:Error|Fixable)\(\s*\"([a-z_]+)\"")
    for folder in ("facilitation", "bot", "adapters"):
        for path in (ROOT / folder).rglob("*.py"):
            raised |= set(raise_site.findall(path.read_text(encoding="utf-8")))
    assert {"start_no_question", "vote_empty", "theme_merge_self"} <= raised
    assert sorted(raised - set(messages)) == []


def test_start_options_are_read_and_mistakes_explained() -> None:
    from bot.commands import CommandError, build_options, parse_start
    from bot.configuration import default_options

    settings = Settings()
    say = EngineConfig(messages=load_messages(settings)).say
    opera = load_structure(settings, "opera")
    req = parse_start("groups=3 voting=borda own=open minutes=own:3 What now?", {})
    options = build_options(default_options(settings, opera), req.option_updates, opera)
    assert (req.question, options.groups, options.voting, options.own_private) == ("What now?", 3, "borda", False)
    assert options.minutes == {"own": 3.0}
    for bad, says in [("colour=red Q?", "Unknown option 'colour'"), ("   ", "Give the question"),
                      ("own=maybe Q?", "own must be private or open"), ("x" * 600, "keep it under 500")]:
        with pytest.raises(CommandError) as caught:
            parse_start(bad, {})
        assert says in caught.value.text(say)
    typed = parse_start("minutes=pair:4 Q?", {})
    with pytest.raises(CommandError) as caught:
        build_options(default_options(settings, load_structure(settings, "25-10")), typed.option_updates,
                      load_structure(settings, "25-10"))
    assert "no phase called pair" in caught.value.text(say)
    # A start form offers the default structure's phases: another structure keeps only its own.
    form = parse_start("", {"question": "Q?", "structure": "25-10", "minutes": {"own": 2, "pair": 4}})
    scored = load_structure(settings, "25-10")
    assert build_options(default_options(settings, scored), form.option_updates, scored,
                         lenient=form.minutes_from_form).minutes == {"own": 2.0}
