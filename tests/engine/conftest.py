"""Fixtures for the engine tests: the real config from config/, and a factory for driven sessions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.configuration import default_options, engine_config, load_structure
from bot.settings import Settings
from facilitation.config import EngineConfig
from facilitation.models import Options, Structure
from tests.engine.driver import Driver, pid

_SETTINGS = Settings()
CFG = engine_config(_SETTINGS)
OPERA = load_structure(_SETTINGS, "opera")
DEFAULTS = default_options(_SETTINGS, OPERA)


@pytest.fixture
def cfg() -> EngineConfig:
    return CFG


@pytest.fixture
def opera() -> Structure:
    return OPERA


def new_session(n: int = 0, *, join: bool = True, structure: Structure = OPERA, **kw: Any) -> Driver:
    """A session in Own with participants U1..Un joined; option overrides and Driver arguments by keyword."""
    option_keys = set(Options.model_fields)
    options = DEFAULTS.model_copy(update={k: v for k, v in kw.items() if k in option_keys})
    d = Driver(CFG, structure, options, **{k: v for k, v in kw.items() if k not in option_keys})
    if join:
        for i in range(1, n + 1):
            d.join(pid(i))
    return d


@pytest.fixture
def session() -> Callable[..., Driver]:
    return new_session
