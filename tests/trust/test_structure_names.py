"""Finding 5: `structure=` read any file. Only the names `facilitator structures` lists are accepted, and no error
shows where the server keeps its files or what a file holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.configuration import ConfigError, list_structures, load_structure
from bot.settings import Settings
from tests.trust.platforms import PLATFORMS, QUESTION, platform

SETTINGS = Settings()
REPO = Path(__file__).resolve().parents[2]
OUTSIDE = ["../../pyproject", str(REPO / "pyproject"), "../messages/en", "opera/../../../pyproject", "/etc/passwd"]


@pytest.mark.parametrize("name", OUTSIDE)
def test_only_listed_structures_load_and_errors_show_no_server_path(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_structure(SETTINGS, name)
    message = str(caught.value)
    assert str(SETTINGS.config_dir) not in message and str(REPO) not in message.replace(name, "")
    assert "build-system" not in message and "key project" not in message
    assert "opera" in message  # it says which names there are


def test_every_listed_structure_still_loads() -> None:
    assert {"opera", "1-2-4-all", "25-10"} <= set(list_structures(SETTINGS))
    for name in list_structures(SETTINGS):
        assert load_structure(SETTINGS, name).phases


def test_a_broken_structure_is_named_by_its_file_not_the_server_path(tmp_path: Path) -> None:
    (tmp_path / "structures").mkdir()
    (tmp_path / "structures" / "broken.toml").write_text('name = "B"\ndescription = "x"\n[[phases]]\nkind = "own"\n')
    with pytest.raises(ConfigError) as caught:
        load_structure(Settings(config_dir=tmp_path), "broken")
    assert "structures/broken.toml" in str(caught.value) and str(tmp_path) not in str(caught.value)


@pytest.mark.parametrize("name", PLATFORMS)
async def test_structure_outside_the_list_is_refused_on_every_platform(name: str, tmp_path: Path) -> None:
    async with platform(name, tmp_path) as h:
        reply = await h.command(h.facilitator, f"start structure=../../pyproject {QUESTION}")
        assert reply and "didn't start" in reply and "no structure called" in reply
        assert str(REPO) not in reply and "build-system" not in reply
        assert not [m for m in h.seen() if "Join" in m.buttons]  # no session started
