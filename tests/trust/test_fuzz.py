"""Property-based fuzz (issue 14): every command, form field and button of every structure, in every phase, with
hostile values (Unicode digits, huge and negative numbers, control and bidi characters, 40,000-character texts,
mention syntax, markup). No exception escapes the engine or an adapter, every input gets an answer, and the note
holds every accepted idea.

The engine is driven in place, as the runtime drives it; the adapters' own parsing (Slack's button values and
modal state, Discord's modal merging and text, the console's typed lines through the real runtime) gets the same
values. Examples are bounded so the whole file runs in seconds."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import tempfile
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.console import ConsoleAdapter
from adapters.discord import forms as discord_forms
from adapters.discord.rendering import discord_text, split_message
from adapters.slack import render
from bot.assembly import assembled
from bot.configuration import default_options, load_structure
from bot.settings import Settings
from facilitation.controls import FACILITATOR_ONLY
from facilitation.effects import Action, DeliverNote, Effect, Form, Post
from facilitation.engine import PARTICIPANT_COMMANDS, apply
from facilitation.events import (
    ActionTaken,
    CommandGiven,
    Event,
    ReplyDeleted,
    ReplyEdited,
    ReplyPosted,
    SessionStarted,
    TimerFired,
)
from facilitation.models import Session
from facilitation.note import RoundUpNote, _bullet
from tests.engine.conftest import CFG
from tests.trust.platforms import platform, start_with_ideas

SETTINGS = Settings()
STRUCTURES = {name: load_structure(SETTINGS, name) for name in ("opera", "1-2-4-all", "25-10")}
FACILITATOR = "F"
PHASE_COMMANDS = {"idea", "withdraw", "edit", "pick", "vote", "score", "comment", "theme", "approve", "confirm"}
COMMANDS = sorted(PARTICIPANT_COMMANDS | FACILITATOR_ONLY | PHASE_COMMANDS) + ["frobnicate", "", "VOTE", "/pick"]
LONG = 40_000

HOSTILE = [
    "\u00b2", "\u2460", "\u0663", "\u216b", "9" * 30, "-1", "-999999", "0", "1", "2", "3", "01", "1.5", "1e9",
    "#1", "P1", "i1", "g1", "t1", "#\u00b2", "rank_\u00b2", "\x00", "\x1b[31mred", "line\r\nbreak", "\t",
    "\u202eevil", "\u2067iso", "\u200b", "<!channel>", "<!everyone>", "@everyone", "@here", "<@U1>", "<@&1>",
    "<#C1|general>", "<!subteam^S1>", "<img src=x onerror=alert(1)>", "<script>alert(1)</script>",
    "[x](javascript:alert(1))", "```", "**bold**", "| table |", "", " ", "because", "1 because 2", "2 2 5",
    "rename 1 New", "move 1 to 2", "merge 1 2", "split 1 2 : L", "own:3", "\ud7ff", "\U0001f600" * 3,
]
hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=30),
    st.builds(lambda a, b: a + " " + b, st.sampled_from(HOSTILE), st.sampled_from(HOSTILE)),
    st.sampled_from(["-" + " " * LONG, "x" * LONG, "- a\n" * (LONG // 4), "1. " + "9" * LONG]),
)
NAMES = st.one_of(st.sampled_from(["Ana", "<!channel>", "\u202eEve", "<b>Bo</b>", "x" * 300, ""]), st.text(max_size=8))


class Run:
    """One session driven in place by the engine, with what each input produced."""

    def __init__(self, structure: str, options: dict[str, Any], people: int) -> None:
        spec = STRUCTURES[structure]
        opts = default_options(SETTINGS, spec).model_copy(update=options)
        self.clock = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        self.people = [f"U{n}" for n in range(1, people + 1)]
        self.actors = [*self.people, FACILITATOR, "STRANGER"]
        self.s: Session | None = None
        self.actions: list[Action] = []
        self.notes: list[DeliverNote] = []
        self.refs: list[str] = []
        self.n = 0
        self.send(SessionStarted(at=self.clock, session_id="s1", channel="C1", question="What next?",
                                 facilitator=FACILITATOR, facilitator_name="Fay", structure=spec, options=opts,
                                 seed=3))

    def send(self, ev: Event) -> list[Effect]:
        self.s, effects = apply(self.s, ev, CFG)  # an exception here is the test failing
        for e in effects:
            if isinstance(e, Post):
                self.actions += e.actions
            elif isinstance(e, DeliverNote):
                self.actions += e.actions
                self.notes.append(e)
        return effects

    @property
    def state(self) -> Session:
        assert self.s is not None
        return self.s

    def kept(self) -> tuple[int, int, int]:
        s = self.state
        comments = sum(len(p.comments) for p in s.proposals) + len(s.general_comments)
        return len(s.ideas), comments, len(s.empty_chair)

    def anchors(self) -> list[str | None]:
        s = self.state
        return [None, "question", "nowhere", *(g.anchor for g in s.groups), *(f"proposal:{p.id}" for p in s.proposals),
                *(f"pair:{p.id}" for p in s.pairs + s.merged), *s.empty_chair_posts]

    def next_ref(self) -> str:
        self.n += 1
        self.refs.append(f"m{self.n}")
        return self.refs[-1]


def form_values(draw: st.DrawFn, form: Form | None) -> dict[str, str | list[str]]:
    values: dict[str, str | list[str]] = {}
    for f in form.fields if form else []:
        valid = [c.value for c in f.choices] or ["1", "2", "an idea"]
        pick = draw(st.one_of(st.sampled_from(valid), hostile_text, st.lists(st.one_of(st.sampled_from(valid),
                                                                                      hostile_text), max_size=3)))
        values[f.id] = pick
    for key in draw(st.lists(st.sampled_from(["rank_\u00b2", "rank_0", "P999", "approve", "ideas", "op"]),
                             max_size=2)):
        values[key] = draw(hostile_text)
    return values


def one_input(draw: st.DrawFn, run: Run) -> None:
    """One thing a person does, and the check that they got an answer."""
    person = draw(st.sampled_from(run.actors))
    name = draw(NAMES)
    kind = draw(st.sampled_from(["command", "button", "reply", "reply", "edit", "delete"]))
    at = run.clock
    before = run.kept()
    if kind == "command":
        effects = run.send(CommandGiven(at=at, person=person, name=name, command=draw(st.sampled_from(COMMANDS)),
                                        args=draw(hostile_text)))
        assert effects, "a command got no answer"
    elif kind == "button" and run.actions:
        action = draw(st.sampled_from(run.actions))
        value = draw(st.one_of(st.just(action.value), hostile_text))
        effects = run.send(ActionTaken(at=at, person=person, name=name, action=action.id, value=value,
                                       values=form_values(draw, action.form)))
        assert effects, f"the {action.id} button got no answer"
    elif kind == "reply":
        reply_to = draw(st.sampled_from(run.anchors()))
        ref = draw(st.one_of(st.just(run.next_ref()), st.sampled_from(run.refs or ["m0"])))
        effects = run.send(ReplyPosted(at=at, person=person, name=name, text=draw(hostile_text), message_ref=ref,
                                       reply_to=reply_to, private=draw(st.booleans())))
        pair_talk = (reply_to or "").startswith("pair:")
        assert effects or run.kept() != before or pair_talk, "a reply was dropped without an answer"
    elif kind in ("edit", "delete") and run.refs:
        ref = draw(st.sampled_from(run.refs))
        if kind == "edit":
            run.send(ReplyEdited(at=at, person=person, message_ref=ref, text=draw(hostile_text)))
        else:
            run.send(ReplyDeleted(at=at, person=draw(st.sampled_from([person, None])), message_ref=ref))


def note_holds_every_idea(run: Run) -> None:
    s = run.state
    assert run.notes, "no note was drafted"
    note = RoundUpNote.model_validate_json(run.notes[-1].json_text)
    live = {i.id: i for i in s.live_ideas()}
    assert {i.id for i in note.ideas} == set(live)
    markdown = run.notes[-1].markdown
    for idea in live.values():
        assert _bullet(idea.text) in markdown, f"idea {idea.id} is missing from note.md"


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_input_in_every_phase_of_every_structure(data: st.DataObject) -> None:
    draw = data.draw
    structure = draw(st.sampled_from(sorted(STRUCTURES)))
    options = draw(st.fixed_dictionaries({
        "voting": st.sampled_from(["dots", "borda", "approval"]), "own_private": st.booleans(),
        "groups": st.sampled_from([0, 0, 2]), "attribution": st.booleans(),
    }))
    run = Run(structure, options, draw(st.integers(1, 6)))
    for person in run.people:
        run.send(ActionTaken(at=run.clock, person=person, name=person, action="join"))
        run.send(ReplyPosted(at=run.clock, person=person, name=person, text=f"Plain idea of {person}",
                             message_ref=run.next_ref(), private=True))
    while run.state.status != "ended":
        for _ in range(draw(st.integers(0, 5))):
            one_input(draw, run)
            if run.state.status == "ended":
                break
        run.clock += timedelta(minutes=1)
        for timer in list(run.state.timers.values()):  # a reminder or the phase's end, as the scheduler would
            if draw(st.booleans()):
                run.send(TimerFired(at=max(run.clock, timer.fire_at), timer_id=timer.id))
        if run.state.status != "ended":
            run.send(CommandGiven(at=run.clock, person=FACILITATOR, name="Fay", command="next"))
    note_holds_every_idea(run)
    for _ in range(draw(st.integers(0, 3))):  # after the end: late replies, stray buttons, approval
        one_input(draw, run)
    run.send(ActionTaken(at=run.clock, person=FACILITATOR, name="Fay", action="approve_note"))


# --- the adapters' own parsing -----------------------------------------------------------------------------


def zipped(data: bytes) -> str:
    return "z:" + base64.urlsafe_b64encode(zlib.compress(data)).decode()


packed_json = st.recursive(st.none() | st.text(max_size=5) | st.integers(), lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.sampled_from(["v", "f", "fields", "title"]), inner, max_size=3),
                           max_leaves=6)


@settings(max_examples=200, deadline=None)
@given(value=st.one_of(hostile_text, st.text(max_size=200).map(lambda t: "z:" + t), st.binary(max_size=200).map(zipped),
                       packed_json.map(lambda v: zipped(json.dumps(v).encode()))))
def test_slack_button_values_either_unpack_or_are_out_of_date(value: str) -> None:
    try:
        unpacked, form = render.unpack_button_value(value)
    except render.ButtonOutOfDate:
        return
    assert isinstance(unpacked, str | None) and (form is None or isinstance(form, Form))


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), hostile_text)
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=5), inner, max_size=3), max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(state=st.dictionaries(st.sampled_from(["f_idea", "f_P1", "f_rank_1", "f_ideas", "other"]), json_value,
                             max_size=4),
       metadata=st.one_of(hostile_text, json_value.map(json.dumps)))
def test_slack_modal_state_is_read_or_out_of_date(state: dict[str, Any], metadata: str) -> None:
    with contextlib.suppress(render.ButtonOutOfDate):
        values = render.form_values(state)
        assert all(isinstance(v, str) or all(isinstance(x, str) for x in v) for v in values.values())
        render.duplicate_rank_errors(values)
    with contextlib.suppress(render.ButtonOutOfDate):
        assert isinstance(render.form_metadata({"private_metadata": metadata}), dict)


@settings(max_examples=100, deadline=None)
@given(text=hostile_text)
def test_platform_renderings_never_raise_and_lose_nothing(text: str) -> None:
    note = _bullet(text)
    assert render.note_mrkdwn(f"- {note}") and render.message_blocks(render.mrkdwn(text), [], "s1")
    pieces = split_message(discord_text(text))
    assert all(len(p) <= 2000 for p in pieces)
    assert "".join(pieces).replace("\u200b", "").replace("\n", "") == discord_text(text).replace(
        "\u200b", "").replace("\n", "")


@settings(max_examples=60, deadline=None)
@given(values=st.dictionaries(st.sampled_from(["ideas#1", "ideas#2", "reason", "new_idea", "P1"]),
                              st.one_of(hostile_text, st.lists(hostile_text, max_size=3)), max_size=5))
def test_discord_modal_parts_merge_whatever_was_typed(values: dict[str, Any]) -> None:
    form = Form(title="Pick", fields=[
        {"id": "ideas", "label": "Ideas", "kind": "multi_select", "choices": [{"value": "i1", "label": "a"}]},
        {"id": "reason", "label": "Why", "kind": "text"}, {"id": "P1", "label": "one", "kind": "number"}])
    merged = discord_forms.merge(form, values)
    assert set(merged) <= {"ideas", "reason", "P1"}


LINES = st.builds(
    lambda who, how, text: f"{who}{how}{text}",
    st.sampled_from(["Fay", "Ana", "Ben", "<!channel>", "\u202eEve"]),
    st.sampled_from([": ", " dm: ", " pair: ", "@b3: ", "@b999: ", " /", " !edit u1 ", " !delete u", " !click b",
                     " !click b2 Vote P1=", " !click b5 Add idea="]),
    st.one_of(hostile_text.filter(lambda t: len(t) < 2000), st.sampled_from(
        ["next", "vote 1", "pick 1", "score 3", "end", "status", "join", "extend \u0663", "start minutes=own Q?",
         "start structure=../../pyproject Q?", "idea x", "theme rename 1 y", "approve"])),
)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(lines=st.lists(LINES, min_size=5, max_size=25))
def test_the_console_answers_every_typed_line(lines: list[str]) -> None:
    """Through the console adapter and the real runtime (store included): nothing a person types stops it."""

    async def play() -> None:
        out = io.StringIO()
        adapter = ConsoleAdapter(out=out)
        with tempfile.TemporaryDirectory() as tmp:
            async with assembled(adapter, database=Path(tmp) / "facilitator.sqlite3"):
                await adapter.user_line("Fay /start What should we change first?")
                for line in lines:
                    written = len(out.getvalue())
                    await adapter.user_line(line)
                    typed = line.split(" ", 1)[-1]  # what follows the (space-free) name
                    if typed.startswith(("/", "!click")):  # a command or a click: the bot or the console answers
                        said = out.getvalue()[written:]
                        assert " bot" in said or "[console]" in said, f"no answer to {line[:60]!r}"

    asyncio.run(play())


# --- Slack and Discord end to end, through the real libraries and the loopback fakes ------------------------

PLATFORM_INPUT = st.tuples(
    st.sampled_from(["command", "click", "reply", "dm"]),
    st.one_of(hostile_text.filter(lambda t: len(t) < 3000), st.sampled_from(
        ["next", "vote -1", "vote \u00b2", "pick #\u00b2 because <!channel>", "score 9 9 9", "extend \u0663",
         "start minutes=own Q?", "end", "join 2", "theme rename 1 <script>", "idea [x](javascript:1)"])),
)


async def play_on(name: str, inputs: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with platform(name, Path(tmp)) as h:
            own = await start_with_ideas(h, h.people[:2])
            person = h.people[0]
            for kind, text in inputs:
                before = len(h.seen())
                if kind == "command":
                    reply = await h.command(person, text or "help")
                    assert reply or len(h.seen()) > before, f"no answer to the command {text[:60]!r}"
                elif kind == "click":
                    posts = [m for m in h.seen() if m.buttons] or [own]
                    post = posts[len(text) % len(posts)]
                    label = post.buttons[len(text) % len(post.buttons)]
                    fields = {k: text for k in ("idea", "P1", "P2", "rank_1", "approve", "ideas", "new_idea",
                                                "reason", "op", "theme", "label")}
                    await h.click(person, post.ref, label, fields)
                elif kind == "reply":
                    await h.reply_in_thread(person, text or ".")
                else:
                    await h.direct_message(person, text or ".")
                if name == "slack":
                    assert h.last_status == 200  # never a 500 from the app
                    assert not h.last_errors or all(isinstance(v, str) for v in h.last_errors.values())


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(inputs=st.lists(PLATFORM_INPUT, min_size=4, max_size=10))
def test_hostile_input_over_slack_is_always_answered_never_a_500(inputs: list[tuple[str, str]]) -> None:
    asyncio.run(play_on("slack", inputs))


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(inputs=st.lists(PLATFORM_INPUT, min_size=4, max_size=10))
def test_hostile_input_over_discord_is_always_answered(inputs: list[tuple[str, str]]) -> None:
    asyncio.run(play_on("discord", inputs))
