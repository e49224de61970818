"""Facts the engine is told about. Each carries the time it happened, so the engine needs no clock."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from facilitation.models import Options, Structure


class _Event(BaseModel):
    at: datetime


class SessionStarted(_Event):
    type: Literal["session_started"] = "session_started"
    session_id: str
    channel: str
    question: str
    facilitator: str
    facilitator_name: str
    cofacilitators: list[str] = []
    convenor: str | None = None
    names: dict[str, str] = {}
    structure: Structure
    options: Options
    seed: int
    past_pairs: list[list[str]] = []


class ReplyPosted(_Event):
    """A participant wrote something: `reply_to` is the key of the bot post it answers, if any."""

    type: Literal["reply_posted"] = "reply_posted"
    person: str
    name: str
    text: str
    message_ref: str
    reply_to: str | None = None
    private: bool = False
    tags: dict[str, str] = {}
    sent_at: datetime | None = None  # when it was sent, if the platform says: it may arrive after a phase change


class ReplyEdited(_Event):
    type: Literal["reply_edited"] = "reply_edited"
    person: str
    message_ref: str
    text: str


class ReplyDeleted(_Event):
    type: Literal["reply_deleted"] = "reply_deleted"
    person: str | None = None
    message_ref: str


class ActionTaken(_Event):
    """A button or form: `action` is an `Action.id` the engine handed out."""

    type: Literal["action_taken"] = "action_taken"
    person: str
    name: str
    action: str
    value: str = ""
    values: dict[str, str | list[str]] = {}


class CommandGiven(_Event):
    """A typed command inside a running session (`next`, `extend 5`, `pick 2 because ...`)."""

    type: Literal["command_given"] = "command_given"
    person: str
    name: str
    command: str
    args: str = ""
    private: bool = False  # given in a direct message to the bot


class TimerFired(_Event):
    type: Literal["timer_fired"] = "timer_fired"
    timer_id: str


Event = Annotated[
    SessionStarted | ReplyPosted | ReplyEdited | ReplyDeleted | ActionTaken | CommandGiven | TimerFired,
    Field(discriminator="type"),
]
