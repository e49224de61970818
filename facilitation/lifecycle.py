"""A session's course: start, entering and closing phases, the empty chair, the end and the note."""

from __future__ import annotations

from datetime import timedelta

from facilitation import breakouts, transitions
from facilitation.config import EngineConfig
from facilitation.effects import Action, DeliverNote, Effect, Form, FormField, Person
from facilitation.events import SessionStarted
from facilitation.ideas import join
from facilitation.models import Session
from facilitation.note import RoundUpNote, build_note, render_markdown
from facilitation.phases import RULES
from facilitation.text import neutralise
from facilitation.themes import place_newcomers, regroup
from facilitation.turn import QUESTION_KEY, Turn

CONTROLS = ("next", "extend", "pause", "resume", "skip", "end", "status")


def control_actions(t: Turn) -> list[Action]:
    s = t.s
    only = [s.facilitator, *s.cofacilitators]
    return [Action(id=f"control:{c}", label=t.say(f"button_{c}"), value="5" if c == "extend" else "",
                   only_for=only, style="danger" if c == "end" else None) for c in CONTROLS]


def start(ev: SessionStarted, cfg: EngineConfig) -> tuple[Session, list[Effect]]:
    s = Session(
        id=ev.session_id,
        channel=ev.channel,
        question=ev.question,
        facilitator=ev.facilitator,
        cofacilitators=ev.cofacilitators,
        convenor=ev.convenor or ev.facilitator,
        started_at=ev.at,
        seed=ev.seed,
        structure=ev.structure,
        options=ev.options,
        past_pairs=ev.past_pairs,
        names={**ev.names, ev.facilitator: ev.facilitator_name},
    )
    t = Turn(s, cfg, ev.at)
    phases = " \u2192 ".join(p.title for n, p in enumerate(s.structure.phases) if runs(s, n))
    t.to_channel(
        t.say("session_started", question=neutralise(s.question), structure=s.structure.name, phases=phases,
              facilitator=neutralise(ev.facilitator_name)),
        [Action(id="join", label=t.say("button_join"), style="primary")],
        key=QUESTION_KEY,
    )
    t.to_person(s.facilitator, t.say("controls_help"), control_actions(t))
    wanted = s.options.groups if s.options.groups > 1 else (1 if s.options.group_size else 0)
    for _ in range(wanted):
        breakouts.open_group(t)
    enter(t, 0)
    return s, t.effects


def runs(s: Session, index: int) -> bool:
    """Plenary phases run only for sessions with breakout groups; a plenary ballot and optional phases (the
    closing round) only when asked for."""
    spec = s.structure.phases[index]
    if spec.optional and not s.options.closing_round:
        return False
    if not spec.plenary:
        return True
    breakouts = s.options.groups > 1 or s.options.group_size > 0
    return breakouts and (spec.kind != "rank" or s.options.plenary_ballot)


def minutes_for(s: Session, index: int) -> float:
    spec = s.structure.phases[index]
    return s.options.minutes.get(spec.kind, spec.minutes)


def enter(t: Turn, index: int) -> None:
    s = t.s
    s.phase_before = s.phase_index if s.phase_index != index else s.phase_before
    s.phase_index = index
    s.phase_started_at = t.at
    s.deadline = t.at + timedelta(minutes=minutes_for(s, index))
    spec = s.structure.phases[index]
    if f"start:{spec.kind}" in s.structure.empty_chair:
        ask_empty_chair(t, f"start:{spec.kind}")
    rules = RULES[spec.kind]
    rules.open(t)
    if rules.nothing_to_do(t):  # it has said why; waiting out its clock would only leave people idle
        t.to_everyone_now(t.say("phase_nothing_to_do", phase=spec.title))
        advance(t)
        return
    if spec.prompt:
        t.to_thread(spec.prompt)  # the structure's own words for this phase
    t.arm_phase_timers()
    t.to_facilitators(t.say("phase_started_facilitator", phase=spec.title, minutes=t.minutes_left()))


def close(t: Turn) -> None:
    s = t.s
    spec = s.phase
    if spec is None:
        return
    RULES[spec.kind].close(t)
    if f"end:{spec.kind}" in s.structure.empty_chair:
        ask_empty_chair(t, f"end:{spec.kind}")
    t.disarm_all()


def advance(t: Turn) -> None:
    """Close the current phase and open the next one that was not skipped, or finish."""
    s = t.s
    close(t)
    nxt = s.phase_index + 1
    while nxt < len(s.structure.phases) and (nxt in s.skipped or not runs(s, nxt)):
        nxt += 1
    if nxt >= len(s.structure.phases):
        finish(t)
    else:
        enter(t, nxt)


def ask_empty_chair(t: Turn, point: str) -> None:
    key = f"empty-chair:{point}"
    if key in t.s.empty_chair_posts:
        return
    t.s.empty_chair_posts[key] = point
    t.s.empty_chair_asked_at = t.at
    # In the channel, not the session thread: the prompt gets replies of its own on every platform
    # (Slack threads are one level deep, so a prompt inside the session thread could not be answered).
    t.to_channel(t.say("empty_chair"), key=key)


def end(t: Turn) -> None:
    """The facilitator's `end`: close the phase, then give the empty chair its time before the note goes out
    (a question asked in the same breath as the note would go unanswered). `end` again sends it at once."""
    s = t.s
    transitions.move(s, "running", "end")
    if s.phase is not None:
        close(t)
        if _wait_for_empty_chair(t):
            return
    finish(t)


def _wait_for_empty_chair(t: Turn) -> bool:
    """If nobody has answered the empty chair yet, ask it (once) and wait until it has been open a short while:
    past the last phase, so replies in the wait are kept as late ideas, and the end timer finishes."""
    s = t.s
    seconds = s.options.empty_chair_seconds
    if not s.structure.empty_chair or s.empty_chair or seconds <= 0:
        return False
    if s.empty_chair_asked_at is None:
        ask_empty_chair(t, "end:session")
    assert s.empty_chair_asked_at is not None
    until = s.empty_chair_asked_at + timedelta(seconds=seconds)
    if until <= t.at:
        return False
    s.phase_before = s.phase_index
    s.phase_index = len(s.structure.phases)
    s.phase_started_at = t.at
    s.deadline = until
    t.arm_phase_timers()
    t.to_channel(t.say("end_empty_chair_wait", left=t.minutes_left()))
    return True


def finish(t: Turn) -> None:
    s = t.s
    if s.status == "ended":
        return
    t.disarm_all()
    transitions.move(s, "ended", "finish")
    s.ended_at = t.at
    s.deadline = None
    draft_note(t)
    t.to_channel(t.say("session_ended", convenor=neutralise(s.name_of(s.convenor))), key="ended")


def draft_note(t: Turn) -> None:
    s = t.s
    if s.themes:
        place_newcomers(s, t.say("theme_added_later"))
    else:
        regroup(s, t.cfg)
    note = build_note(s, t.cfg)
    transitions.move_note(s, "draft")
    s.note_revision += 1
    s.note_markdown = render_markdown(note, t.cfg, draft=False)
    t.effects.append(
        DeliverNote(
            key="note:draft" if s.note_revision == 1 else f"note:draft:{s.note_revision}",
            convenor=Person(id=s.convenor, name=s.name_of(s.convenor)),
            title=note.title,
            markdown=render_markdown(note, t.cfg, draft=True),
            json_text=note.model_dump_json(indent=2),
            actions=[Action(id="approve_note", label=t.say("button_approve_note"), style="primary",
                            value=str(s.note_revision), only_for=[s.convenor]),
                     Action(id="edit_note", label=t.say("button_edit_note"), form=_note_form(t, note),
                            only_for=[s.convenor])],
        )
    )


# Longest text put in a form field to start from (Slack's limit is 3,000; Discord's 4,000 and 1,000): a longer
# draft leaves the field empty, which keeps the bot's draft, rather than offering a cut text to post.
_FORM_TEXT = {"long_text": 2900, "text": 900}


def _note_form(t: Turn, note: RoundUpNote) -> Form:
    """The convenor's form: the summary, next steps and next meeting, each starting from what the note says."""
    summary = note.summary_text if note.summary_text is not None else "\n".join(p.text for p in note.summary)
    fields = [("summary", "long_text", summary), ("next_steps", "long_text", "\n".join(note.next_steps)),
              ("next_meeting", "text", note.next_meeting.text if note.next_meeting else "")]
    return Form(title=t.say("form_note_title"), submit_label=t.say("form_note_submit"), fields=[
        FormField(id=name, label=t.say(f"form_note_{name}"), kind=kind, required=False,  # type: ignore[arg-type]
                  initial=text if text and len(text) <= _FORM_TEXT[kind] else None)
        for name, kind, text in fields])


def join_reply(t: Turn, person: str, name: str, tags: dict[str, str] | None = None, group: str | None = None) -> None:
    if t.s.status == "ended":  # nothing left to take part in; joining now would only change the note's counts
        t.to_person(person, t.say("session_already_ended"))
        return
    said = len(t.effects)
    if join(t, person, name, tags, group):
        t.to_person(person, t.say("joined", question=neutralise(t.s.question)))
        if t.s.phase is not None and t.s.phase.kind == "pair" and t.s.pairs and t.s.status != "ended":
            t.to_person(person, t.say("joined_after_pairing"))
    elif len(t.effects) == said:  # pressed twice, or typed after joining: still an answer
        t.to_person(person, t.say("already_joined"))
