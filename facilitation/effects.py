"""Instructions the engine hands out; the runtime carries them out through an adapter.

Every effect has a `key` unique within its session, so a replay after a crash
can tell which effects were already carried out and posts nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field


class Choice(BaseModel):
    value: str
    label: str


class FormField(BaseModel):
    """One input of a form; adapters render it as a modal input, a select, or a console hint."""

    id: str
    label: str
    kind: Literal["text", "long_text", "select", "multi_select", "number"]
    choices: list[Choice] = []
    required: bool = True
    max_selected: int | None = None
    min_value: int | None = None
    max_value: int | None = None
    initial: str | None = None


class Form(BaseModel):
    title: str
    submit_label: str = "Submit"
    fields: list[FormField]


class Action(BaseModel):
    """A button. Clicking it either submits `value` at once or opens `form` first."""

    id: str
    label: str
    value: str = ""
    style: Literal["primary", "danger"] | None = None
    form: Form | None = None
    # Only these people may use it (empty: anyone); adapters may hide it from others.
    only_for: list[str] = []


class Audience(BaseModel):
    """Where a post goes: the session's channel, a thread under an earlier post, one person, or a pair space."""

    kind: Literal["channel", "thread", "private", "pair"]
    anchor: str | None = None  # key of the post a thread hangs under
    person: str | None = None
    pair_id: str | None = None


class Person(BaseModel):
    id: str
    name: str


class Post(BaseModel):
    type: Literal["post"] = "post"
    key: str
    audience: Audience
    text: str
    actions: list[Action] = []
    # Consecutive posts of one event with the same batch, to the same place, may share one message where the
    # platform allows it (each keeps its own text and buttons): 30 proposals are not 30 s of 1-post-a-second.
    batch: str | None = None


class ChartBar(BaseModel):
    label: str
    value: float


class PostChart(BaseModel):
    """A bar chart posted as an image (the runtime draws it): Rank's results, best first."""

    type: Literal["post_chart"] = "post_chart"
    key: str
    audience: Audience
    title: str
    bars: list[ChartBar]
    alt: str  # the chart in words, for people who cannot see it


class OpenPairSpace(BaseModel):
    type: Literal["open_pair_space"] = "open_pair_space"
    key: str
    pair_id: str
    title: str
    members: list[Person]


class StartTimer(BaseModel):
    type: Literal["start_timer"] = "start_timer"
    key: str
    timer_id: str
    fire_at: datetime


class CancelTimer(BaseModel):
    type: Literal["cancel_timer"] = "cancel_timer"
    key: str
    timer_id: str


class DeliverNote(BaseModel):
    """The draft round-up note, sent privately to the convenor with its files."""

    type: Literal["deliver_note"] = "deliver_note"
    key: str
    convenor: Person
    title: str
    markdown: str
    json_text: str
    actions: list[Action] = []


class PublishNote(BaseModel):
    """The approved note, posted to the session's channel."""

    type: Literal["publish_note"] = "publish_note"
    key: str
    title: str
    markdown: str


class SessionClosed(BaseModel):
    type: Literal["session_closed"] = "session_closed"
    key: str


Effect = Annotated[
    Post | PostChart | OpenPairSpace | StartTimer | CancelTimer | DeliverNote | PublishNote | SessionClosed,
    Field(discriminator="type"),
]
