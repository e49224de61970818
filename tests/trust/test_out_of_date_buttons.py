"""Finding 4: a tampered button (a value that decodes to a JSON list, or carries an invalid form; a custom id
that is not ours) is answered "that button is out of date" and acts on nothing: never an HTTP 500, never silence."""

from __future__ import annotations

import base64
import json
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

from adapters.slack import render
from tests.contract.discord_harness import DiscordHarness
from tests.contract.slack_harness import SlackHarness
from tests.slack.fake_slack import BOT_ID, BOT_USER, TEAM
from tests.slack.signed import APP_ID
from tests.trust.platforms import platform, start_with_ideas

OUT_OF_DATE = "out of date"


def packed(payload: Any, raw: bytes | None = None) -> str:
    data = raw if raw is not None else json.dumps(payload).encode()
    return "z:" + base64.urlsafe_b64encode(zlib.compress(data)).decode()


TAMPERED = {
    "json list": packed(["v", "f"]),
    "invalid form": packed({"v": "", "f": {"title": "x", "fields": "not a list"}}),
    "value not text": packed({"v": {"a": 1}}),
    "not base64": "z:%%%",
    "not zlib": "z:" + base64.urlsafe_b64encode(b"plain bytes").decode(),
    "inflates to megabytes": packed(None, raw=b'{"v": "' + b" " * 5_000_000 + b'"}'),
}


@pytest.mark.parametrize("value", TAMPERED.values(), ids=TAMPERED.keys())
def test_values_that_do_not_decode_are_out_of_date(value: str) -> None:
    with pytest.raises(render.ButtonOutOfDate):
        render.unpack_button_value(value)


def test_values_the_bot_packs_still_unpack() -> None:
    from facilitation.effects import Action, Form, FormField

    ballot = Form(title="Ballot", submit_label="Vote", fields=[FormField(id="P1", label="one", kind="number")])
    action = Action(id="vote", label="Vote", value="g2", form=ballot)
    value, form = render.unpack_button_value(render.pack_button_value(action))
    assert value == "g2" and form == action.form


async def click_with(h: SlackHarness, person: str, ref: str, action_id: str, value: str) -> int:
    """A block_actions payload for the bot message `ref`, with a button of our making but a forged value."""
    msg = h.fake.message(ref)
    payload = {
        "type": "block_actions", "api_app_id": APP_ID, "token": "legacy", "trigger_id": f"trig{time.time_ns()}",
        "user": {"id": person, "username": h.name(person), "name": h.name(person), "team_id": TEAM},
        "team": {"id": TEAM, "domain": "fake"},
        "container": {"type": "message", "message_ts": msg.ts, "channel_id": msg.channel, "is_ephemeral": False},
        "channel": {"id": msg.channel, "name": "x"},
        "message": {"type": "message", "ts": msg.ts, "text": msg.text, "blocks": msg.blocks, "user": BOT_USER,
                    "bot_id": BOT_ID},
        "response_url": h.fake.response_url(person, msg.channel),
        "actions": [{"type": "button", "action_id": action_id, "block_id": "actions0",
                     "text": {"type": "plain_text", "text": "Vote"}, "value": value,
                     "action_ts": f"{time.time():.6f}"}],
    }
    status, _ = await h.signed.interaction(payload)
    await h.settle()
    return status


@pytest.mark.parametrize("value", [TAMPERED["json list"], TAMPERED["invalid form"], TAMPERED["value not text"]],
                         ids=["json list", "invalid form", "value not text"])
async def test_a_tampered_slack_button_is_answered_out_of_date(value: str, tmp_path: Path) -> None:
    async with platform("slack", tmp_path) as h:
        own = await start_with_ideas(h, h.people[:2])
        person = h.people[2]
        button = next(e for b in h.fake.message(own.ref).blocks if b.get("type") == "actions"
                      for e in b["elements"])
        before, views = len(h.fake.messages), len(h.fake.views)
        status = await click_with(h, person, own.ref, button["action_id"], value)
        assert status == 200
        answers = [m for m in h.fake.messages[before:] if m.ephemeral_to == person]
        assert answers and OUT_OF_DATE in h._display(answers[-1])
        assert len(h.fake.views) == views  # no modal opened from a forged form


async def test_a_slack_button_whose_id_does_not_decode_is_answered(tmp_path: Path) -> None:
    async with platform("slack", tmp_path) as h:
        own = await start_with_ideas(h, h.people[:1])
        before = len(h.fake.messages)
        assert await click_with(h, h.people[1], own.ref, "op|only-a-session", "") == 200
        answers = [m for m in h.fake.messages[before:] if m.ephemeral_to == h.people[1]]
        assert answers and OUT_OF_DATE in h._display(answers[-1])


async def test_a_slack_form_with_tampered_metadata_is_answered(tmp_path: Path) -> None:
    async with platform("slack", tmp_path) as h:
        own = await start_with_ideas(h, h.people[:1])
        person = h.people[1]
        button = next(e for b in h.fake.message(own.ref).blocks if b.get("type") == "actions" for e in b["elements"])
        await click_with(h, person, own.ref, button["action_id"], button["value"])  # the real Add an idea modal
        view = {**list(h.fake.views.values())[-1], "id": "Vforged", "private_metadata": json.dumps(["s", "a"])}
        await h.submit(person, view, {"idea": "A real idea"})
        assert h.last_status == 200
        assert [m for m in h.seen() if m.where == f"private:{person}" and OUT_OF_DATE in m.text]
        assert all("A real idea" not in i.text for s in h.runtime.sessions.values() for i in s.ideas)


async def test_a_discord_button_whose_custom_id_is_not_ours_is_answered(tmp_path: Path) -> None:
    async with platform("discord", tmp_path) as h:
        assert isinstance(h, DiscordHarness)
        own = await start_with_ideas(h, h.people[:1])
        person = h.people[1]
        for forged in ("op|only-a-session", "opx|1|2|3"):
            ix = await h.fake.click(person, h.fake.messages[own.ref], forged)
            await h._answered(ix)
            await h.settle()
            assert any(OUT_OF_DATE in (f.get("content") or "") for f in ix.followups)
