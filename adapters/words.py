"""What an adapter says by itself (a form's Cancel, the start form, a platform's refusal): from config/messages
like everything else the bot says. Start-up hands each adapter the catalogue of the configured language; an
adapter made without one (a test, a tool) speaks the installed English."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path

from facilitation.config import EngineConfig
from facilitation.start_options import StartMenu, start_menu

Say = Callable[..., str]

_ENGLISH = Path(__file__).resolve().parent.parent / "config" / "messages" / "en.toml"


@cache
def _installed_english() -> dict[str, str]:
    return tomllib.loads(_ENGLISH.read_text(encoding="utf-8"))


def speaker(messages: Mapping[str, str] | None = None) -> Say:
    """`say(key, **values)` over `messages` (config/messages/<language>.toml as a dict)."""
    return EngineConfig(messages=dict(messages) if messages is not None else _installed_english()).say


def menu(messages: Mapping[str, str] | None = None) -> StartMenu:
    """The start options with their words, for the platform's start command and form."""
    return start_menu(speaker(messages))
