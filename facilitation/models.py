"""The session and everything in it, as plain pydantic data."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

PhaseKind = Literal["own", "pair", "explain", "rank", "arrange"]
VotingMethod = Literal["dots", "borda", "approval"]


class PhaseSpec(BaseModel):
    kind: PhaseKind
    title: str
    minutes: float
    private: bool = False


class Structure(BaseModel):
    name: str
    description: str
    phases: list[PhaseSpec]
    # Points where the empty-chair question is asked, as "start:<kind>" or "end:<kind>".
    empty_chair: list[str] = []


class Options(BaseModel):
    own_private: bool = True
    ideas_per_person: int = 0  # 0: no limit
    picks_per_pair: int = 1
    voting: VotingMethod = "dots"
    dots: int = 3
    dots_per_proposal: int = 2
    attribution: bool = False
    reminder_seconds: int = 60
    minutes: dict[str, float] = {}  # per-phase overrides of the structure's durations


class Participant(BaseModel):
    id: str
    name: str
    tags: dict[str, str] = {}
    present: bool = True
    joined_phase: int = 0


class Idea(BaseModel):
    id: str
    author: str
    text: str
    message_ref: str | None = None
    phase: int = 0  # index of the phase it arrived in
    late: bool = False
    withdrawn: bool = False
    late_edits: list[str] = []


class PairSpace(BaseModel):
    id: str
    members: list[str]
    picks: list[str] = []
    reason: str = ""
    picked_by: str | None = None


class Comment(BaseModel):
    author: str
    text: str
    message_ref: str | None = None


class Proposal(BaseModel):
    id: str
    idea_id: str
    pair_id: str | None
    reason: str = ""
    comments: list[Comment] = []


class Ballot(BaseModel):
    voter: str
    # dots: proposal id -> dots; approval: id -> 1; borda: the ranking, best first.
    points: dict[str, int] = {}
    ranking: list[str] = []


class TallyRow(BaseModel):
    proposal_id: str
    score: int
    supporters: int
    rank: int


class TieBreak(BaseModel):
    above: str
    below: str
    by: Literal["supporters", "order"]


class Tally(BaseModel):
    method: VotingMethod
    rows: list[TallyRow]
    ballots: int
    tie_breaks: list[TieBreak] = []


class Theme(BaseModel):
    id: str
    label: str
    idea_ids: list[str]


class ThemeEdit(BaseModel):
    """A facilitator's change to the proposed themes, kept so it survives regrouping."""

    op: Literal["rename", "move", "merge", "split"]
    theme: str
    other: str | None = None
    ideas: list[str] = []
    label: str | None = None


class EmptyChairAnswer(BaseModel):
    author: str
    text: str
    point: str


class Timer(BaseModel):
    id: str
    kind: Literal["end", "reminder"]
    fire_at: datetime


class Session(BaseModel):
    id: str
    channel: str
    question: str
    facilitator: str
    cofacilitators: list[str] = []
    convenor: str
    started_at: datetime
    seed: int
    structure: Structure
    options: Options
    past_pairs: list[list[str]] = []

    participants: dict[str, Participant] = {}
    names: dict[str, str] = {}  # everyone the session has heard of, participant or not
    status: Literal["running", "paused", "ended"] = "running"
    phase_index: int = 0
    phase_started_at: datetime | None = None
    deadline: datetime | None = None
    paused_remaining: float | None = None
    timers: dict[str, Timer] = {}
    timer_generation: int = 0
    skipped: list[int] = []  # indexes of phases the facilitator skipped
    events_handled: int = 0

    ideas: list[Idea] = []
    pairs: list[PairSpace] = []
    proposals: list[Proposal] = []
    general_comments: list[Comment] = []
    ballots: dict[str, Ballot] = {}
    tally: Tally | None = None
    themes: list[Theme] = []
    theme_edits: list[ThemeEdit] = []
    themes_confirmed: bool = False
    empty_chair: list[EmptyChairAnswer] = []
    empty_chair_posts: dict[str, str] = {}  # post key -> point
    contributed: dict[int, list[str]] = {}  # phase index -> people who contributed in it
    nudged: list[int] = []  # phases whose nudges went out
    note_status: Literal["none", "draft", "approved"] = "none"
    ended_at: datetime | None = None

    @property
    def phase(self) -> PhaseSpec | None:
        phases = self.structure.phases
        return phases[self.phase_index] if 0 <= self.phase_index < len(phases) else None

    def present(self) -> list[Participant]:
        return [p for p in self.participants.values() if p.present]

    def name_of(self, person: str) -> str:
        return self.names.get(person, person)

    def live_ideas(self) -> list[Idea]:
        return [i for i in self.ideas if not i.withdrawn]

    def idea(self, idea_id: str) -> Idea | None:
        return next((i for i in self.ideas if i.id == idea_id), None)

    def is_facilitator(self, person: str) -> bool:
        return person == self.facilitator or person in self.cofacilitators
