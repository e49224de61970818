"""What the trust tests read back: what one person was told, and what the facilitator's status says."""

from __future__ import annotations

import io

from tests.contract.console_harness import ConsoleHarness
from tests.contract.harness import Harness, Seen


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
