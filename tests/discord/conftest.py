"""The loopback fake of Discord that the Discord tests' real client talks to."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.contract.discord_harness import NAMES
from tests.discord.fake_discord import FakeDiscord


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    for name in NAMES:
        fake.add_user(name)
    await fake.start()
    yield fake
    await fake.stop()
