"""A button's id carries its session, action and value, so a click still works after a restart. An id past the
platform's limit (Slack's action_id 255, Discord's custom_id 100) is never cut to fit (the click would mean
something else): the post raises, through the adapter's real rendering path, and nothing is posted."""

from __future__ import annotations

import pytest

from adapters.base import Target
from adapters.ids import IdTooLong
from facilitation.effects import Action
from tests.contract.discord_harness import DiscordHarness
from tests.contract.slack_harness import SlackHarness
from tests.trust.platforms import last_with

SESSION = "s1"
PREFIX = f"op|{SESSION}|vote|"  # the id both platforms give a button: op|session|action|value


def _vote(value: str) -> list[Action]:
    return [Action(id="vote", label="Vote", value=value)]


async def _fits_then_one_more_raises(h: SlackHarness | DiscordHarness, limit: int) -> None:
    fits = "a" * (limit - len(PREFIX))
    await h.adapter.post(h.channel, Target(kind="channel"), "Just fits", _vote(fits), SESSION)
    assert last_with(h, "Just fits").buttons == ["Vote"]
    with pytest.raises(IdTooLong, match=str(limit)):
        # Long enough for Discord to need two messages: not even the first goes out.
        await h.adapter.post(h.channel, Target(kind="channel"), "One too many\n" + "words " * 400,
                             _vote(fits + "a"), SESSION)
    assert not [m for m in h.seen() if "One too many" in m.text], "nothing posted with a cut id"


async def test_a_slack_action_id_past_255_characters_raises_instead_of_being_cut(slack: SlackHarness) -> None:
    await _fits_then_one_more_raises(slack, 255)


async def test_a_discord_custom_id_past_100_characters_raises(discord: DiscordHarness) -> None:
    await _fits_then_one_more_raises(discord, 100)
