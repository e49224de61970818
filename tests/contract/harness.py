"""What the shared adapter contract suite needs from each platform's test harness.

A harness runs the real runtime with one adapter against that platform's loopback fake
(or, for the console, a captured stream), plays users, and reads back what users saw.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel

# The combined note's sections, in order, when a session ran in breakout groups.
BREAKOUT_NOTE_SECTIONS = [
    "Summary of key points",
    "Discussion by theme",
    "Breakout groups",
    "Ranking",
    "Who isn't here",
    "Final reflections",
    "Participation",
    "Next steps",
    "Next meeting",
]


class Seen(BaseModel):
    """One bot message as the platform shows it."""

    ref: str  # the platform's id for the message
    text: str  # as displayed (after the adapter's rendering)
    where: str  # "channel", "thread", "private:<person id>", "pair:<space ref>"
    buttons: list[str] = []  # button labels
    files: list[str] = []  # attached file names
    pings: bool = False  # True if the platform would notify anyone beyond the audience (mass or user mention)


class Harness(Protocol):
    """All user-facing ids are the platform's own; `person` is a user id the harness knows a name for."""

    channel: str
    facilitator: str  # the user who starts sessions in the contract tests
    people: list[str]  # at least seven other users who take part

    async def command(self, person: str, text: str) -> str | None:
        """Run the bot's command with `text` (e.g. "start What next?"); return any reply shown only to them."""

    async def reply_in_thread(self, person: str, text: str, event_id: str | None = None) -> str:
        """Reply in the session thread; return the message ref. Same `event_id` twice = a platform retry."""

    async def reply_to(self, person: str, message_ref: str, text: str) -> str:
        """Reply to one bot message (a proposal, the empty-chair prompt)."""

    async def direct_message(self, person: str, text: str) -> str:
        """Write to the bot privately."""

    async def say_in_pair(self, person: str, text: str) -> str:
        """Write in the pair space `person` belongs to."""

    async def click(
        self, person: str, message_ref: str, label: str, values: dict[str, str | list[str]] | None = None
    ) -> None:
        """Press the button labelled `label` on a bot message, submitting `values` if it opens a form."""

    async def edit(self, person: str, message_ref: str, text: str) -> None: ...

    async def delete(self, person: str, message_ref: str) -> None: ...

    async def settle(self) -> None:
        """Wait until the bot has finished reacting to everything sent so far."""

    def seen(self) -> list[Seen]:
        """Every bot message so far, oldest first."""

    def notes(self) -> list[Seen]:
        """Draft notes delivered privately to the convenor (with their files)."""

    def published(self) -> list[Seen]:
        """Notes posted to the channel after approval."""
