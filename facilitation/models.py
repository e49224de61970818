"""The session and everything in it, as plain pydantic data."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from facilitation.numbers import whole

T = TypeVar("T")

PhaseKind = Literal["own", "pair", "merge", "score", "explain", "rank", "report", "arrange", "reflect"]
VotingMethod = Literal["dots", "borda", "approval"]


class PhaseSpec(BaseModel):
    """One phase of a structure file. Unknown keys are refused, so a typo is caught at start."""

    model_config = ConfigDict(extra="forbid")

    kind: PhaseKind
    title: str
    minutes: float = Field(gt=0, le=240)
    private: bool = False  # own: ideas stay private until the group hears them
    prompt: str = ""  # said when the phase opens, under the phase's own instructions
    per_person: int | None = Field(default=None, ge=1)  # own: ideas per person (25/10: one bold idea)
    picks: int | None = Field(default=None, ge=1)  # pair, merge: picks per group
    group_size: int = Field(default=4, ge=3)  # merge: pairs are merged into groups of about this size
    voting: VotingMethod | None = None  # rank: the structure's method, unless the session chose one
    raters: int = Field(default=5, ge=1)  # score: how many others score each idea
    top: int = Field(default=10, ge=1)  # score: top ideas that go forward; report: proposals per group
    # A plenary phase runs only when the session has breakout groups (rank: only with a plenary ballot).
    plenary: bool = False
    # An optional phase runs only when the session asks for it (start closing=on, for the closing round).
    optional: bool = False


class Structure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str
    phases: list[PhaseSpec] = Field(min_length=1)
    # Points where the empty-chair question is asked, as "start:<kind>" or "end:<kind>".
    empty_chair: list[str] = []

    @model_validator(mode="after")
    def _coherent(self) -> Structure:
        kinds = [p.kind for p in self.phases]
        for point in self.empty_chair:
            when, _, kind = point.partition(":")
            if when not in ("start", "end") or kind not in kinds:
                raise ValueError(f"empty_chair: {point!r} must be start:KIND or end:KIND of a phase here ({kinds})")
        for n, kind in enumerate(kinds):
            if kind == "merge" and "pair" not in kinds[:n]:
                raise ValueError(f"phases.{n}: a merge phase needs a pair phase before it")
            if kind == "score" and "own" not in kinds[:n]:
                raise ValueError(f"phases.{n}: a score phase needs an own phase before it")
        return self


class Options(BaseModel):
    own_private: bool = True
    ideas_per_person: int = 0  # 0: no limit
    picks_per_pair: int = 1
    voting: VotingMethod = "dots"
    dots: int = 3
    dots_per_proposal: int = 2
    attribution: bool = False
    reminder_seconds: int = 60
    empty_chair_seconds: int = 60  # after `end`, time to answer the empty chair before the note goes out
    groups: int = 0  # breakout groups; 0 or 1: one group
    group_size: int = 0  # or: open a new group whenever every group has this many people
    assign: Literal["mixed", "random", "choice"] = "mixed"  # mixed: diverse by tags; choice: people pick
    plenary_ballot: bool = False  # rank the groups' reported proposals together
    closing_round: bool = False  # run the structure's optional closing round (start closing=on)
    minutes: dict[str, float] = {}  # per-phase overrides of the structure's durations
    language: str = ""  # what the bot says in this session (config/messages/<language>.toml); "": the default


class Participant(BaseModel):
    id: str
    name: str
    tags: dict[str, str] = {}
    present: bool = True
    joined_phase: int = 0
    group: str | None = None  # breakout group id, when the session has groups


class Group(BaseModel):
    """A breakout group: its members discuss in the thread under the post keyed `anchor`."""

    id: str
    name: str
    anchor: str


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
    group: str | None = None
    candidates: list[str] = []  # ideas to pick from; empty means the members' own ideas
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
    group: str | None = None
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
    mean: float | None = None  # score phases: the mean score given by its raters


class TieBreak(BaseModel):
    above: str
    below: str
    by: Literal["supporters", "order"]


class Tally(BaseModel):
    method: VotingMethod | Literal["scores"]
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


class NextMeeting(BaseModel):
    """The facilitator's `next meeting <date> <topic>`: both as typed, shown as given."""

    date: str
    topic: str = ""


class NoteEdits(BaseModel):
    """The convenor's own words for parts of the note, which replace the bot's draft of them."""

    summary: str | None = None
    next_steps: str | None = None
    next_meeting: str | None = None


class Timer(BaseModel):
    id: str
    kind: Literal["end", "reminder"]
    fire_at: datetime


class IdeaIndex:
    """Where to find ideas by author and by message, so a reply costs the same in a session of any size.

    Ideas are only ever appended (an idea's id is its position + 1; edits and withdrawals change it in place),
    so the index catches up with the new tail whenever it is read and is never stale. It is not stored: a
    session loaded from JSON builds it again on first use."""

    def __init__(self) -> None:
        self.seen: list[Idea] | None = None
        self.count = 0
        self.by_author: dict[str, list[Idea]] = {}
        self.by_ref: dict[str, list[Idea]] = {}

    def sync(self, ideas: list[Idea]) -> IdeaIndex:
        if ideas is not self.seen or len(ideas) < self.count:  # a new list (a copy or a load): start again
            self.__init__()  # type: ignore[misc]
            self.seen = ideas
        for idea in ideas[self.count:]:
            self.by_author.setdefault(idea.author, []).append(idea)
            if idea.message_ref is not None:
                self.by_ref.setdefault(idea.message_ref, []).append(idea)
        self.count = len(ideas)
        return self


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
    groups: list[Group] = []  # empty: one group, in the session thread
    names: dict[str, str] = {}  # everyone the session has heard of, participant or not
    status: Literal["running", "paused", "ended"] = "running"
    phase_index: int = 0
    phase_started_at: datetime | None = None
    phase_before: int | None = None  # the phase open before this one began (replies sent in it may still arrive)
    deadline: datetime | None = None
    paused_remaining: float | None = None
    timers: dict[str, Timer] = {}
    timer_generation: int = 0
    skipped: list[int] = []  # indexes of phases the facilitator skipped
    events_handled: int = 0

    ideas: list[Idea] = []
    pairs: list[PairSpace] = []
    merged: list[PairSpace] = []  # groups made by merging pairs (1-2-4-All's fours)
    score_assignments: dict[str, list[str]] = {}  # rater -> ideas they were asked to score
    scores: dict[str, dict[str, int]] = {}  # rater -> idea -> score
    proposals: list[Proposal] = []
    general_comments: list[Comment] = []
    ballots: dict[str, Ballot] = {}
    tally: Tally | None = None  # the session's ranking (with groups: the plenary ballot's)
    group_tallies: dict[str, Tally] = {}  # each breakout group's own ranking
    reported: list[str] = []  # proposals each group reported to the plenary
    themes: list[Theme] = []
    theme_edits: list[ThemeEdit] = []
    themes_confirmed: bool = False
    empty_chair: list[EmptyChairAnswer] = []
    empty_chair_posts: dict[str, str] = {}  # post key -> point
    empty_chair_asked_at: datetime | None = None  # the last time the question was put
    reflections: list[Comment] = []  # the closing round's answers ("one thing you take away")
    next_meeting: NextMeeting | None = None
    note_edits: NoteEdits = NoteEdits()
    contributed: dict[int, list[str]] = {}  # phase index -> people who contributed in it
    nudged: list[int] = []  # phases whose nudges went out
    note_status: Literal["none", "draft", "approved"] = "none"
    note_revision: int = 0  # drafts sent to the convenor so far; the Approve button names the one it is on
    note_markdown: str = ""  # the latest draft exactly as it will be posted: approval posts this, nothing else
    ended_at: datetime | None = None

    _ideas_index: IdeaIndex = PrivateAttr(default_factory=IdeaIndex)
    _pairs_seen: tuple[int, int, int] = PrivateAttr(default=(0, 0, 0))
    _pair_by_person: dict[str, PairSpace] = PrivateAttr(default_factory=dict)

    _contributors: dict[int, set[str]] = PrivateAttr(default_factory=dict)
    _memos: dict[str, tuple[object, Any]] = PrivateAttr(default_factory=dict)

    def memo(self, name: str, stamp: object, build: Callable[[], T]) -> T:
        """Derived data worked out once while `stamp` (what it depends on) stays the same; never stored."""
        held = self._memos.get(name)
        if held is None or held[0] != stamp:
            held = self._memos[name] = (stamp, build())
        return held[1]  # type: ignore[no-any-return]

    def mark_contributed(self, phase: int, person: str) -> None:
        done = self.contributed.setdefault(phase, [])
        seen = self._contributors.get(phase)
        if seen is None or len(seen) != len(done):  # first use, or the list changed underneath (a load)
            seen = self._contributors[phase] = set(done)
        if person not in seen:
            seen.add(person)
            done.append(person)

    def _index(self) -> IdeaIndex:
        return self._ideas_index.sync(self.ideas)

    def ideas_of(self, person: str) -> list[Idea]:
        """The person's ideas, withdrawn ones included, in the order they arrived."""
        return self._index().by_author.get(person, [])

    def ideas_from_message(self, ref: str) -> list[Idea]:
        return self._index().by_ref.get(ref, [])

    def pair_space_of(self, spaces: list[PairSpace], person: str) -> PairSpace | None:
        """The pair (or merged group) `person` is in among `spaces` (the session's pairs or merged groups)."""
        seen = (id(spaces), len(spaces), sum(len(p.members) for p in spaces[-1:]))
        if seen != self._pairs_seen:
            self._pair_by_person = {m: p for p in reversed(spaces) for m in p.members}
            self._pairs_seen = seen
        found = self._pair_by_person.get(person)
        return found if found is not None and person in found.members else None

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
        """An idea by id: i12 is the twelfth idea (ids are positions, see IdeaIndex)."""
        n = whole(idea_id[1:], 1, len(self.ideas)) if idea_id[:1] == "i" else None
        if n is not None and self.ideas[n - 1].id == idea_id:
            return self.ideas[n - 1]
        return None

    def proposal(self, proposal_id: str) -> Proposal | None:
        """A proposal by id: P3 is the third (ids are positions in the list)."""
        n = whole(proposal_id[1:], 1, len(self.proposals)) if proposal_id[:1] == "P" else None
        if n is not None and self.proposals[n - 1].id == proposal_id:
            return self.proposals[n - 1]
        return None

    def comment_keys(self) -> set[tuple[str, str | None]]:
        """(author, message ref) of every comment, to tell a second delivery of one from a new comment."""
        lists = [p.comments for p in self.proposals] + [self.general_comments]
        stamp = (tuple(map(id, lists)), sum(map(len, lists)))  # a deleted comment makes a new list
        return self.memo("comment_keys", stamp,
                         lambda: {(c.author, c.message_ref) for comments in lists for c in comments})

    def is_facilitator(self, person: str) -> bool:
        return person == self.facilitator or person in self.cofacilitators

    def group_of(self, person: str) -> str | None:
        p = self.participants.get(person)
        return p.group if p else None

    def members(self, group: str | None) -> list[Participant]:
        """Present participants of a group (of the whole session when it has no groups)."""
        return [p for p in self.present() if group is None or p.group == group]

    def set_tally(self, group: str | None, tally: Tally) -> None:
        """A group's ranking; without breakout groups it is the session's."""
        if group is None:
            self.tally = tally
        else:
            self.group_tallies[group] = tally

    def tally_for(self, group: str | None) -> Tally | None:
        return self.tally if group is None else self.group_tallies.get(group)

    def group_name(self, group: str | None) -> str:
        return next((g.name for g in self.groups if g.id == group), "")
