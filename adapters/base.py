"""The adapter protocol: what every chat platform (console, Slack, Discord) provides.

An adapter turns platform payloads into the platform-neutral inbound messages below
and hands them to the runtime's sink; it carries out outbound calls the runtime makes.
It knows nothing of OPERA: phases, pairs and votes are the engine's business.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, Field

from facilitation.effects import Action, Person


class UserMessage(BaseModel):
    """Someone wrote something the bot can see: in the channel, in a thread, in a pair space or privately."""

    type: Literal["message"] = "message"
    channel: str
    person: Person
    text: str
    message_ref: str
    reply_to_ref: str | None = None  # ref of the bot post this replies to (thread parent)
    private: bool = False  # a direct message to the bot
    event_id: str | None = None  # platform delivery id, for de-duplicating retries


class MessageEdited(BaseModel):
    type: Literal["edited"] = "edited"
    channel: str
    person: Person
    message_ref: str
    text: str
    event_id: str | None = None


class MessageDeleted(BaseModel):
    type: Literal["deleted"] = "deleted"
    channel: str
    person: Person | None = None
    message_ref: str
    event_id: str | None = None


class CommandIssued(BaseModel):
    """The bot's command (`/opera ...` or its console equivalent): `text` is what follows the command name."""

    type: Literal["command"] = "command"
    channel: str
    person: Person
    text: str
    options: dict[str, Any] = {}  # structured settings from a start form
    event_id: str | None = None


class ActionSubmitted(BaseModel):
    """A button was clicked (and its form, if any, submitted)."""

    type: Literal["action"] = "action"
    channel: str
    person: Person
    session_id: str
    action: str
    value: str = ""
    values: dict[str, str | list[str]] = {}
    event_id: str | None = None


Inbound = Annotated[
    UserMessage | MessageEdited | MessageDeleted | CommandIssued | ActionSubmitted,
    Field(discriminator="type"),
]

Sink = Callable[[Inbound], Awaitable["Reply | None"]]


class Reply(BaseModel):
    """What the runtime answers straight away to an inbound message, shown only to its sender."""

    text: str


class Target(BaseModel):
    """A resolved audience: `ref` is the platform's thread parent, person id or pair-space ref."""

    kind: Literal["channel", "thread", "private", "pair"]
    ref: str | None = None


class Adapter(Protocol):
    """What the runtime needs from a platform. Every call returns the platform's ref for what it made."""

    name: str

    def bind(self, sink: Sink) -> None:
        """Give the adapter the runtime's entry point for inbound messages."""

    async def post(
        self, channel: str, target: Target, text: str, actions: list[Action], session_id: str
    ) -> str:
        """Post `text` (already neutralised by the engine) with its buttons; return the message ref."""

    async def open_pair_space(
        self, channel: str, pair_id: str, title: str, members: list[Person], session_id: str
    ) -> str:
        """Make a space only the members (and the bot) see; return its ref for later `pair` posts."""

    async def deliver_note(
        self,
        channel: str,
        convenor: Person,
        title: str,
        markdown: str,
        json_text: str,
        actions: list[Action],
        session_id: str,
        html: str | None = None,
    ) -> str:
        """Send the draft note privately to the convenor, with the Markdown and JSON files (and the HTML page,
        when the runtime could make it)."""

    async def publish_note(self, channel: str, title: str, markdown: str, session_id: str) -> str:
        """Post the approved note to the channel."""

    async def post_image(self, channel: str, target: Target, filename: str, data: bytes, title: str, alt: str,
                         session_id: str) -> str:
        """Post a PNG (a chart) where `target` says, captioned `title`, described by `alt`; return its ref."""


class DeliveryError(Exception):
    """An adapter call failed, or fell back, for a reason the facilitator can fix (e.g. a missing permission).

    The runtime tells `message` privately to the facilitator and the session carries on. When the call fell
    back and still produced something (a public thread instead of a private one), `ref` is its ref.
    """

    def __init__(self, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.ref = ref
