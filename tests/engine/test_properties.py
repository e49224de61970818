"""Property tests over random event sequences: nothing lost, one space each, tallies match, never raises."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from facilitation.effects import OpenPairSpace
from facilitation.engine import apply
from facilitation.models import Session
from facilitation.note import RoundUpNote
from facilitation.text import neutralise, split_ideas
from tests.engine.conftest import new_session
from tests.engine.driver import FACILITATOR, Driver, audited_text, pid

PEOPLE = [pid(n) for n in range(1, 7)]
WORDS = ["listen", "fund", "carers", "library", "letters", "travel", "youth", "\U0001f4a1", "\u05e9\u05de\u05e2",
         "@everyone", "<@U123>", "plain"]

RAW = re.compile(r"@everyone|<@U123>")
person = st.sampled_from(PEOPLE)
words = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3)
reply = st.tuples(st.just("reply"), person, words, st.integers(1, 3), st.booleans())
op = st.one_of(
    reply, reply, reply,
    st.tuples(st.just("join"), person),
    st.tuples(st.just("leave"), person),
    st.tuples(st.just("edit"), person, st.integers(0, 5), words),
    st.tuples(st.just("delete"), person, st.integers(0, 5)),
    st.tuples(st.just("dup"), person),
    st.tuples(st.just("pick"), person, st.integers(0, 5), words),
    st.tuples(st.just("pick_new"), person, words),
    st.tuples(st.just("vote"), person, st.lists(st.integers(1, 4), max_size=4)),
    st.tuples(st.just("vote"), person, st.lists(st.integers(1, 4), max_size=4)),
    st.tuples(st.just("comment"), person, st.integers(1, 4), words),
    st.tuples(st.just("chair"), person, words),
    st.tuples(st.just("cmd"), st.sampled_from(["extend", "pause", "resume", "skip", "status", "theme"]),
              st.sampled_from([FACILITATOR, "U1"])),
    st.tuples(st.just("advance"), st.sampled_from([1, 30, 100, 250])),
    st.tuples(st.just("fire"), st.integers(0, 50)),  # any timer seen so far, stale or early
)
# How a phase ends: the facilitator's next, its timer running out, or (rarely) the facilitator's end.
transition = st.sampled_from([("cmd", "next", FACILITATOR)] * 3 + [("run_out",)] * 3 + [("cmd", "end", FACILITATOR)])
script = st.lists(st.tuples(st.lists(op, max_size=12), transition), min_size=1, max_size=7)


@dataclass
class Sent:
    """What the test knows was written, independently of the engine's state."""

    texts: list[str]  # the original text, then each edit
    after_end: list[bool]  # for each text: written after the session ended
    deleted: bool = False


@dataclass
class Run:
    d: Driver
    sent: dict[str, Sent] = field(default_factory=dict)
    chair: list[str] = field(default_factory=list)
    refs_of: dict[str, list[str]] = field(default_factory=dict)
    timers_seen: list[str] = field(default_factory=list)
    n: int = 0

    def text(self, ws: list[str]) -> str:
        self.n += 1
        return " ".join(ws) + f" t{self.n}"

    def apply(self, o: tuple) -> None:
        d, kind = self.d, o[0]
        ended = d.s.status == "ended"
        if kind == "join":
            d.join(o[1])
        elif kind == "leave":
            d.cmd(o[1], "leave")
        elif kind == "reply":
            _, who, ws, items, private = o
            text = "\n".join(f"- {self.text(ws)}" for _ in range(items)) if items > 1 else self.text(ws)
            d.reply(who, text, reply_to=None if private else "question", private=private)
            self.sent[d.last_ref] = Sent([text], [ended])
            self.refs_of.setdefault(who, []).append(d.last_ref)
        elif kind in ("edit", "delete", "dup"):
            refs = self.refs_of.get(o[1], [])
            if not refs:
                return
            ref = refs[(o[2] if kind != "dup" else -1) % len(refs)]
            if kind == "edit":
                text = self.text(o[3])
                d.edit(o[1], ref, text)
                self.sent[ref].texts.append(text)
                self.sent[ref].after_end.append(ended)
            elif kind == "delete":
                d.delete(o[1], ref)
                self.sent[ref].deleted = True
            else:
                d.reply(o[1], self.sent[ref].texts[0], ref=ref, reply_to="question")
        elif kind == "pick":
            mine = [i for p in d.s.pairs if o[1] in p.members for m in p.members for i in d.ideas_of(m)]
            d.pick(o[1], mine[o[2] % len(mine)] if mine else "i999", reason=self.text(o[3]))
        elif kind == "pick_new":
            text = self.text(o[2])
            in_pair = d.phase == "pair" and any(o[1] in p.members for p in d.s.pairs)
            d.cmd(o[1], "pick", f"{text} because we agree")
            if in_pair:
                self.sent[f"pick{self.n}"] = Sent([text], [ended])
        elif kind == "vote":
            d.vote(o[1], *o[2])
        elif kind == "comment":
            d.comment(o[1], f"P{o[2]}", self.text(o[3]))
        elif kind == "chair":
            text = self.text(o[2])
            d.reply(o[1], text, reply_to="empty-chair:end:own")
            if not ended:
                self.chair.append(text)
        elif kind == "cmd":
            d.cmd(o[2], o[1], "1 Renamed" if o[1] == "theme" else "")
        elif kind == "advance":
            d.advance(o[1])
        elif kind == "run_out":
            if d.end_timer() is None:
                d.fac("next")  # paused or ended: the facilitator moves on
            else:
                d.run_out()
        elif kind == "fire" and self.timers_seen:
            d.fire(self.timers_seen[o[1] % len(self.timers_seen)])


def check_pairs_opened(d: Driver, before: str | None) -> None:
    """Everyone present when Pair opens is in exactly one pair space."""
    if d.phase != "pair" or before == "pair":
        return
    present = sorted(p.id for p in d.s.present())
    spaces = [m.id for e in d.last if isinstance(e, OpenPairSpace) for m in e.members]
    assert sorted(spaces) == present
    assert sorted(m for p in d.s.pairs for m in p.members) == present


def check_tally(d: Driver) -> None:
    """The tally is the sum of the ballots, recomputed here from the ballots themselves."""
    s = d.s
    if s.tally is None:
        return
    ids = [p.id for p in s.proposals]
    expected = dict.fromkeys(ids, 0)
    for b in s.ballots.values():
        if s.tally.method == "borda":  # n-1 points for first place, down to 0 for n-th
            points = {p: len(ids) - 1 - place for place, p in enumerate(b.ranking)}
        else:
            points = b.points
        for pid_, n in points.items():
            expected[pid_] += n
    assert {r.proposal_id: r.score for r in s.tally.rows} == expected
    assert s.tally.ballots == len(s.ballots)
    assert [r.score for r in s.tally.rows] == sorted(expected.values(), reverse=True)
    if s.options.voting == "dots":
        assert all(sum(b.points.values()) <= s.options.dots for b in s.ballots.values())
        assert all(max(b.points.values()) <= s.options.dots_per_proposal for b in s.ballots.values())


def check_nothing_lost(run: Run, note: RoundUpNote, published: str) -> None:
    """Every text written and not withdrawn is in the note: as ideas, a later edit, or a comment."""
    ideas = {i.text for i in note.ideas}
    later = {e for i in note.ideas for e in i.later_edits}
    comments = {c for p in note.proposals for c in p.comments} | set(note.general_comments)

    def as_ideas(text: str) -> bool:
        return all(part in ideas for part in split_ideas(text))

    for ref, sent in run.sent.items():
        if sent.deleted:
            continue
        if sent.after_end[-1]:  # after the draft: it must reach the note the convenor publishes
            assert all(neutralise(part) in published for part in split_ideas(sent.texts[-1])), sent.texts[-1]
        before = [t for t, after in zip(sent.texts, sent.after_end, strict=True) if not after]
        if not before:
            continue
        latest = before[-1]
        # A comment edited after the end is the edited text in the newest draft, the one that is published.
        kept = (as_ideas(latest) or latest in comments or sent.texts[-1] in comments
                or (latest in later and any(map(as_ideas, before))))
        assert kept, f"{ref}: {latest!r} is not in the note"
    assert set(run.chair) <= set(note.empty_chair)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(phases=script, n=st.integers(0, 6), voting=st.sampled_from(["dots", "borda", "approval"]),
       private=st.booleans(), seed=st.integers(0, 1000))
def test_random_sessions_keep_every_idea_pair_everyone_and_tally_right(phases, n, voting, private, seed):
    d = new_session(n, voting=voting, own_private=private, seed=seed)
    run = Run(d)
    max_phase = 0
    for o in [o for ops, end in phases for o in [*ops, end]]:
        before = d.phase
        run.apply(o)
        run.timers_seen += [t for t in d.armed if t not in run.timers_seen]
        assert set(d.armed) == set(d.s.timers), "the timers armed are the timers the session expects"
        check_pairs_opened(d, before)
        max_phase = max(max_phase, d.s.phase_index)
        check_tally(d)
    event(f"reached {max_phase}")
    event(f"ideas {min(len(d.s.ideas), 5)}+")
    if d.s.status != "ended":
        d.fac("end")
    check_tally(d)
    d.act(FACILITATOR, "approve_note")
    if not d.published():  # something reached the session after the draft: the convenor approves the new one
        d.act(FACILITATOR, "approve_note")
    [published] = d.published()
    note = d.note()
    assert {i.text for i in d.s.live_ideas() if i.id in {n.id for n in note.ideas}} == {i.text for i in note.ideas}
    assert all(i.theme for i in note.ideas), "every idea has a theme"
    check_nothing_lost(run, note, published.markdown)
    for text in [*(audited_text(p) for p in d.posts()), d.note_md(), published.markdown]:
        assert not RAW.search(text), text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(phases=script, n=st.integers(0, 6), voting=st.sampled_from(["dots", "borda", "approval"]),
       private=st.booleans(), seed=st.integers(0, 1000), cut=st.floats(0, 1))
def test_changing_the_state_in_place_from_a_snapshot_gives_exactly_the_state_of_a_replay(
        phases, n, voting, private, seed, cut):
    """The runtime's path (one working state changed in place, restarted from a JSON snapshot at any point)
    ends in exactly the state, and says exactly what, a replay of every event from scratch does."""
    d = new_session(n, voting=voting, own_private=private, seed=seed)
    run = Run(d)
    for o in [o for ops, end in phases for o in [*ops, end]]:
        run.apply(o)
    if d.s.status != "ended":
        d.fac("end")
    d.act(FACILITATOR, "approve_note")
    snapshot_at = int(cut * len(d.events))
    working: Session | None = None
    effects = []
    for k, ev in enumerate(d.events):
        if k == snapshot_at and working is not None:  # a restart: the snapshot is all that is left
            working = Session.model_validate_json(working.model_dump_json())
        working, out = apply(working, ev, d.cfg)
        effects += out
    assert working is not None
    assert working.model_dump() == d.s.model_dump()
    assert effects == d.log
