"""Harnesses for the trust tests: the real runtime behind each platform's adapter and loopback fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.contract.console_harness import ConsoleHarness, make_console_harness
from tests.contract.discord_harness import DiscordHarness, make_discord_harness
from tests.contract.harness import Harness
from tests.contract.harnesses import HARNESSES
from tests.contract.slack_harness import SlackHarness, make_slack_harness


@pytest.fixture(params=sorted(HARNESSES))
async def h(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async with HARNESSES[request.param](tmp_path) as harness:
        yield harness


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[ConsoleHarness]:
    async with make_console_harness(tmp_path) as harness:
        yield harness


@pytest.fixture
async def slack(tmp_path: Path) -> AsyncIterator[SlackHarness]:
    async with make_slack_harness(tmp_path) as harness:
        yield harness


@pytest.fixture
async def discord(tmp_path: Path) -> AsyncIterator[DiscordHarness]:
    async with make_discord_harness(tmp_path) as harness:
        yield harness
