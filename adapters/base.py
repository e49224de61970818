"""The adapter protocol: what every chat platform (console, Slack, Discord) provides.

An adapter turns platform payloads into the platform-neutral inbound messages below
and hands them to the runtime's sink; it carries out outbound calls the runtime makes.
It knows nothing of OPERA: phases, pairs and votes are the engine's business.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, Field

from facilitation.effects import Action, Person
from facilitation.errors import FacilitatorError, SetupError


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
    # When the platform says it was sent (seconds since the epoch: Slack's ts, a Discord snowflake's time). Events
    # can arrive out of order (a Slack reply after the command typed just after it): the runtime counts a reply in
    # the phase it was sent in, not the one it arrived in.
    sent_at: float | None = None


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
    private: bool = False  # typed in the person's direct message with the bot
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
    private: bool = False  # clicked in the person's direct message with the bot
    event_id: str | None = None


class ButtonOutOfDate(BaseModel):
    """A button or form the adapter could not read (tampered with, or from an older version of the bot): the
    person is told so, and nothing is acted on."""

    type: Literal["out_of_date"] = "out_of_date"
    channel: str
    person: Person
    event_id: str | None = None


Inbound = Annotated[
    UserMessage | MessageEdited | MessageDeleted | CommandIssued | ActionSubmitted | ButtonOutOfDate,
    Field(discriminator="type"),
]

Sink = Callable[[Inbound], Awaitable["Reply | None"]]


# Set by an adapter around one hand-off to the runtime, for platforms that must be acknowledged quickly: the runtime
# sets it once what it was handed is committed to the event store, so the adapter acknowledges only then.
STORED: ContextVar[asyncio.Event | None] = ContextVar("inbound_stored", default=None)


def mark_stored() -> None:
    """The inbound message being handled is safely stored (called by the runtime after its commit)."""
    stored = STORED.get()
    if stored is not None:
        stored.set()


class Reply(BaseModel):
    """What the runtime answers straight away to an inbound message, shown only to its sender."""

    text: str


class Target(BaseModel):
    """A resolved audience: `ref` is the platform's thread parent, person id or pair-space ref."""

    kind: Literal["channel", "thread", "private", "pair"]
    ref: str | None = None


class Part(BaseModel):
    """One post of several that share a message (see `Batching`)."""

    text: str
    actions: list[Action] = []


class Batching(Protocol):
    """What a platform that can show several posts as one message offers beside the Adapter protocol (Slack):
    the runtime then sends a batch of posts (Post.batch) in as few messages as `parts_fit` allows."""

    def parts_fit(self, parts: list[Part]) -> int:
        """How many of the leading `parts` fit in one message (at least 1)."""

    async def post_parts(self, channel: str, target: Target, parts: list[Part], session_id: str) -> str:
        """Post `parts` as one message, each with its own text and buttons; return the message ref."""


class Adapter(Protocol):
    """What the runtime needs from a platform. Every call returns the platform's ref for what it made."""

    name: str

    def bind(self, sink: Sink) -> None:
        """Give the adapter the runtime's entry point for inbound messages."""

    async def check(self) -> None:
        """Show the credentials to the platform before anything is opened: StartRefused (saying what to fix)
        when it refuses them. Calling it again does nothing."""

    async def start(self) -> None:
        """Connect to the platform (and start listening), so posts can be made. Calling it again once started
        does nothing."""

    async def wait_closed(self) -> None:
        """Serve until the platform connection ends for good (a program that runs the bot waits on this)."""

    async def close(self) -> None:
        """Stop listening and let go of what `start` opened; safe to call more than once."""

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


class Check(BaseModel):
    """One line of `facilitator doctor`: what was checked, how it went, and (when not ok) how to fix it."""

    name: str
    status: Literal["ok", "fail", "note", "skip"]
    detail: str


class StartRefused(SetupError):
    """The platform refused to connect (a wrong token, a missing intent): the message says what to fix."""


class DeliveryError(FacilitatorError):
    """An adapter call failed, or fell back, for a reason the facilitator can fix (e.g. a missing permission).

    The runtime tells `message` privately to the facilitator and the session carries on. When the call fell
    back and still produced something (a public thread instead of a private one), `ref` is its ref.
    `lasting=False` says trying again later may work (the platform did not answer, or answered 5xx): the
    runtime retries it, as it does any other exception an adapter raises.
    """

    def __init__(self, message: str, ref: str | None = None, lasting: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.ref = ref
        self.lasting = lasting


class NotDelivered(Exception):
    """The platform cannot deliver this, and the facilitator was already told why (a person who refuses
    direct messages): the runtime neither retries it nor reports it again."""


@dataclass(frozen=True)
class Delivering:
    """What the runtime is carrying out while it calls an adapter (see DELIVERING).

    `key` is stable for the effect across attempts and restarts, so a platform that de-duplicates by a
    client-chosen id (Slack message metadata, Discord's `nonce`) can be given the same id every time.
    `maybe_sent`: an earlier attempt may have reached the platform (it failed without a clear answer, or the
    process stopped during it): look for the post before sending again. `since`: when the first attempt began
    (seconds since the epoch), to bound that look.
    """

    key: str
    maybe_sent: bool = False
    since: float = 0.0
    # Asked before a call that waited (a throttle, a 429's Retry-After) goes out: False when another process may
    # have taken the effect over meanwhile (several processes on PostgreSQL); see `may_go_on`.
    may_send: Callable[[], bool] | None = field(default=None, compare=False, repr=False)
    _parts: itertools.count[int] = field(default_factory=itertools.count, compare=False, repr=False)

    def nonce(self, size: int = 25) -> str:
        """A platform-safe id for the next message this effect makes (a long note is several), the same on every
        attempt as long as the messages are sent in the same order (Discord allows 25 characters)."""
        return hashlib.sha256(f"{self.key}#{next(self._parts)}".encode()).hexdigest()[:size]


# Set by the runtime around each adapter call that carries out an effect; None for immediate answers.
DELIVERING: ContextVar[Delivering | None] = ContextVar("delivering", default=None)


def may_go_on() -> None:
    """Before an adapter's call that may have waited: stop (a DeliveryError the runtime tries again after, when
    it finds out whose the effect is) if the effect being carried out may no longer be this process's."""
    doing = DELIVERING.get()
    if doing is not None and doing.may_send is not None and not doing.may_send():
        raise DeliveryError("this process lost touch with the database, so another may be sending it", lasting=False)
