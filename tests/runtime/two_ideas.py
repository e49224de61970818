"""A small session both store suites restart or restore: Fay starts it, two people each post an idea."""

from __future__ import annotations

from adapters.base import CommandIssued, UserMessage
from adapters.console import ConsoleAdapter


async def start_with_two_ideas(adapter: ConsoleAdapter) -> str:
    """The ref of the question, which replies go under."""
    await adapter.send(CommandIssued(channel=adapter.channel, person=adapter.person("Fay"),
                                     text="start own=open What should we learn?"))
    root = next(m.ref for m in adapter.messages if m.where == "channel")
    for n, text in enumerate(["Listen more", "Pay people"]):
        await adapter.send(UserMessage(channel=adapter.channel, person=adapter.person(f"P{n}"), text=text,
                                       message_ref=f"m{n}", reply_to_ref=root, event_id=f"e{n}"))
    return root
