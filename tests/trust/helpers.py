"""What the trust tests read back: what one person was told, and what the facilitator's status says."""

from __future__ import annotations

import io
import time
from typing import Any

from tests.contract.console_harness import ConsoleHarness
from tests.contract.harness import Harness, Seen
from tests.contract.slack_harness import SlackHarness
from tests.slack.fake_slack import BOT_ID, BOT_USER, TEAM
from tests.slack.signed import APP_ID


def told(h: Harness, person: str) -> str:
    """Everything the bot showed `person` alone (private posts, and the console's replies to them)."""
    text = "\n".join(m.text for m in h.seen() if m.where == f"private:{person}")
    if isinstance(h, ConsoleHarness) and isinstance(h.adapter.out, io.StringIO):
        name = h.adapter.names.get(person, person)
        blocks = ("\n" + h.adapter.out.getvalue()).split("\n[")  # each block: one line the console wrote
        text += "\n".join(b for b in blocks if b.startswith(f"only for {name}]"))
    return text


def last_with(h: Harness, text: str) -> Seen:
    found = [m for m in h.seen() if text in m.text]
    assert found, f"no bot message contains {text!r}"
    return found[-1]


async def status(h: Harness, person: str | None = None) -> str:
    """The facilitator's status line: "People: N. Ideas: M." (counts only)."""
    await h.command(person or h.facilitator, "status")
    await h.settle()
    return last_with(h, "People:").text


def block_actions(h: SlackHarness, person: str, message_ref: str, label: str, channel: str | None = None,
                  trigger: str = "trig-t") -> dict[str, Any]:
    """Slack's block_actions payload for pressing a bot button; `channel` overrides where it says it was pressed."""
    msg = h.fake.message(message_ref)
    button = next(b for b in msg.buttons() if b["text"]["text"] == label)
    where = channel or msg.channel
    return {
        "type": "block_actions", "api_app_id": APP_ID, "token": "legacy", "trigger_id": trigger,
        "user": {"id": person, "username": "x", "name": "x", "team_id": TEAM}, "team": {"id": TEAM, "domain": "x"},
        "container": {"type": "message", "message_ts": msg.ts, "channel_id": where, "is_ephemeral": False},
        "channel": {"id": where, "name": "x"},
        "message": {"type": "message", "ts": msg.ts, "text": msg.text, "blocks": msg.blocks, "user": BOT_USER,
                    "bot_id": BOT_ID},
        "response_url": h.fake.response_url(person, where),
        "actions": [{"type": "button", "action_id": button["action_id"], "block_id": "actions0",
                     "text": button["text"], "value": button.get("value"), "action_ts": f"{time.time():.6f}"}],
    }
