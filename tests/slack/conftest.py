"""Fixtures for the Slack tests: a harness on a fresh fake Slack and a fresh SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.contract.slack_harness import SlackHarness, make_slack_harness


@pytest.fixture
async def slack(tmp_path: Path) -> AsyncIterator[SlackHarness]:
    async with make_slack_harness(tmp_path) as harness:
        yield harness
