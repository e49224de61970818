"""Configuration a user edits: environment overrides, structure files, wording."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bot.configuration import ConfigError, load_messages, load_structure
from bot.settings import CONFIG_DIR, Settings

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
