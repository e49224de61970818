"""The engine: `handle(session, event, config) -> (session, effects)`. Pure and deterministic.

`apply` is the same step done in place: the runtime owns a working copy of each session and changes it by what
one event touches, so a reply costs the same in a session of ten or of three thousand (docs/scale.md).
`handle` copies first and is what tests and replays that must keep the input use.
"""

from __future__ import annotations

import re
import shlex

from facilitation import controls, ideas, lifecycle, transitions
from facilitation.config import EngineConfig
from facilitation.effects import Effect
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
from facilitation.help import help_text, typed_command
from facilitation.models import EmptyChairAnswer, Session
from facilitation.numbers import whole
from facilitation.phases import RULES, PhaseRules
from facilitation.phases.explain import comment_from_reply
from facilitation.text import is_blank, neutralise, one_line
from facilitation.turn import Turn

PARTICIPANT_COMMANDS = {"join", "leave", "mine", "help"}
# A message that is only a ballot ("vote 2 2 5", "/score 4 2 5"): nobody writes an idea like that.
# Numbers need a separator between them, so a long run of digits cannot make the match backtrack for ever.
_TYPED_BALLOT = re.compile(r"^\s*/?(vote|score)\s+(#?\d+(?:[\s,]+#?\d+)*)[\s,]*$", re.I)


def handle(state: Session | None, event: Event, cfg: EngineConfig) -> tuple[Session | None, list[Effect]]:
    """Apply one event. The input state is never changed; unknown or stale events change nothing."""
    return apply(state.model_copy(deep=True) if state is not None else None, event, cfg)


def apply(state: Session | None, event: Event, cfg: EngineConfig) -> tuple[Session | None, list[Effect]]:
    """Apply one event to `state` in place and return it with the effects. If this raises, `state` may be half
    changed: the caller throws it away and rebuilds it from its snapshot and events."""
    if isinstance(event, SessionStarted):
        return (state, []) if state is not None else lifecycle.start(event, cfg)
    if state is None:
        return None, []
    s = state
    s.events_handled += 1
    t = Turn(s, cfg, event.at)
    if not transitions.TAKES_REPLIES[s.note_status] and isinstance(event, ReplyPosted | ReplyEdited | ReplyDeleted):
        # The note is posted: it never changes unseen, so what arrives now is not taken (and the person is told).
        if event.person is not None and not isinstance(event, ReplyDeleted):
            t.to_person(event.person, t.say("session_closed"))
    elif isinstance(event, TimerFired):
        _timer(t, event)
    elif isinstance(event, ReplyPosted):
        _reply(t, event)
    elif isinstance(event, ReplyEdited):
        _edited(t, event)
    elif isinstance(event, ReplyDeleted):
        _deleted(t, event)
    elif isinstance(event, ActionTaken):
        _action(t, event)
    elif isinstance(event, CommandGiven):
        _command(t, event)
    return s, t.effects


def _rules(t: Turn) -> PhaseRules | None:
    """The running phase's rules, or None once the session has ended."""
    return RULES[t.s.phase.kind] if t.s.phase is not None and t.s.status != "ended" else None


def _timer(t: Turn, ev: TimerFired) -> None:
    s = t.s
    timer = s.timers.pop(ev.timer_id, None)
    if timer is None or not transitions.TIMERS_FIRE[s.status]:
        return  # cancelled by a pause, an extension or a move to the next phase
    if timer.kind == "end":
        lifecycle.advance(t)
        return
    if s.phase is None:
        return  # the wait for the empty chair after `end` has no phase to remind anyone of
    t.to_everyone_now(t.say("reminder", phase=s.phase.title if s.phase else "", left=t.minutes_left()))
    rules = _rules(t)
    if rules and rules.nudges and s.phase_index not in s.nudged:
        s.nudged.append(s.phase_index)
        for person in rules.nudge_targets(t):
            t.to_person(person, t.say(f"nudge_{rules.kind}", left=t.minutes_left()))


def _reply(t: Turn, ev: ReplyPosted) -> None:
    s = t.s
    s.names.setdefault(ev.person, ev.name)
    if ev.reply_to and ev.reply_to.startswith("empty-chair:"):
        _empty_chair(t, ev)
        return
    command = typed_command(ev.text) if ev.private else None
    if command is not None:  # "approve", "mine", "withdraw #2" sent to the bot, as its messages say to
        _command(t, CommandGiven(at=ev.at, person=ev.person, name=ev.name, command=command[0], args=command[1]))
        return
    if _in_the_phase_it_was_sent_in(t, ev):
        return
    rules = _rules(t)
    typed = _TYPED_BALLOT.match(ev.text)
    if typed and rules and rules.on_command(t, CommandGiven(at=ev.at, person=ev.person, name=ev.name,
                                                             command=typed.group(1).lower(), args=typed.group(2),
                                                             private=ev.private)):
        return  # "vote 2 2 5" written as a message, as the ballot post invites: a ballot, not an idea
    if rules and rules.on_reply(t, ev):
        return
    if ev.reply_to and ev.reply_to.startswith("proposal:"):
        comment_from_reply(t, ev)
        return
    if ev.reply_to and ev.reply_to.startswith("pair:"):
        return  # pair discussion after Pair closed stays the pair's own
    _late(t, ev)


def _in_the_phase_it_was_sent_in(t: Turn, ev: ReplyPosted) -> bool:
    """A reply sent before the phase changed but applied after (platforms deliver out of order: a Slack thread
    reply can arrive after the `next` typed just after it) counts in the phase it was sent in, when that phase
    keeps what is written while it is open: an idea in Own, a comment in Explain, a reflection."""
    s = t.s
    if ev.sent_at is None or s.phase_before is None or s.phase_started_at is None or s.status == "ended" \
            or ev.sent_at >= s.phase_started_at:
        return False
    rules = RULES[s.structure.phases[s.phase_before].kind]
    if not rules.keeps_what_was_sent_in_time:
        return False
    now = s.phase_index
    s.phase_index = s.phase_before  # as if it had arrived in time: its idea or comment belongs to that phase
    try:
        return rules.on_reply(t, ev)
    finally:
        s.phase_index = now


def _late(t: Turn, ev: ReplyPosted) -> None:
    """A reply no open phase wants is kept as a late idea and the facilitator is told: nothing is dropped."""
    ideas.join(t, ev.person, ev.name, ev.tags)
    added = ideas.add(t, ev.person, ev.text, ev.message_ref, late=True, private_ack=False)
    if added:
        preview = "\n".join(one_line(i.text, t.cfg.limits.preview_chars) for i in added)
        t.to_person(ev.person, t.say("late_kept"))
        if _ideas_private(t):  # private mode: the facilitator hears of it, but not what it says, before Explain
            t.to_facilitators(t.say("late_told_private", name=neutralise(ev.name), count=len(added)))
        else:
            t.to_facilitators(t.say("late_told", name=neutralise(ev.name), ideas=preview))


# Phases in which the group has not yet heard anyone's ideas: a private session's text stays with its author.
BEFORE_EXPLAIN = ("own", "pair", "merge", "score")


def _ideas_private(t: Turn) -> bool:
    s = t.s
    return s.options.own_private and s.status != "ended" and s.phase is not None and s.phase.kind in BEFORE_EXPLAIN


def _empty_chair(t: Turn, ev: ReplyPosted) -> None:
    s = t.s
    if is_blank(ev.text):
        t.to_person(ev.person, t.say("comment_empty"))
        return
    if any(a.text == ev.text.strip() and a.author == ev.person for a in s.empty_chair):
        t.to_person(ev.person, t.say("empty_chair_already_saved"))
        return
    point = s.empty_chair_posts.get(ev.reply_to or "", "")
    s.empty_chair.append(EmptyChairAnswer(author=ev.person, text=ev.text.strip(), point=point))


def _edited(t: Turn, ev: ReplyEdited) -> None:
    s = t.s
    own = [i for i in s.ideas_from_message(ev.message_ref) if i.author == ev.person]
    rules = _rules(t)
    if own:
        open_now = rules is not None and rules.kind == "own" and not own[0].late and own[0].phase == s.phase_index
        if open_now:
            if is_blank(ev.text):
                t.to_person(ev.person, t.say("idea_edit_empty"))
            else:
                ideas.replace_from_message(t, own, ev.text)
        else:
            own[0].late_edits.append(ev.text)
            t.to_person(ev.person, t.say("edit_after_close"))
        return
    for c in [c for p in s.proposals for c in p.comments] + s.general_comments:
        if c.message_ref == ev.message_ref and c.author == ev.person:
            c.text = ev.text


def _deleted(t: Turn, ev: ReplyDeleted) -> None:
    s = t.s
    own = [i for i in s.ideas_from_message(ev.message_ref)
           if not i.withdrawn and (ev.person is None or i.author == ev.person)]
    rules = _rules(t)
    if own:
        if rules is not None and rules.kind == "own" and own[0].phase == s.phase_index:
            for i in own:
                i.withdrawn = True
        else:
            t.to_person(own[0].author, t.say("delete_after_close"))
        return
    for p in s.proposals:
        p.comments = [c for c in p.comments if c.message_ref != ev.message_ref]
    s.general_comments = [c for c in s.general_comments if c.message_ref != ev.message_ref]


def _action(t: Turn, ev: ActionTaken) -> None:
    s = t.s
    s.names.setdefault(ev.person, ev.name)
    if ev.action == "join":
        lifecycle.join_reply(t, ev.person, ev.name, group=ev.value or None)
        return
    if ev.action == "approve_note":
        controls.approve(t, ev.person, ev.value)
        return
    if ev.action == "edit_note":
        controls.edit_note(t, ev.person, ev.values)
        return
    if ev.action.startswith("control:"):
        command = ev.action.split(":", 1)[1]
        controls.run(t, ev.person, command, ev.value)
        return
    if ev.action == "confirm_themes":
        if not controls.run(t, ev.person, "confirm", ""):
            t.to_person(ev.person, t.say("action_closed"))  # a Confirm button left over from Arrange
        return
    rules = _rules(t)
    if rules and rules.on_action(t, ev):
        return
    t.to_person(ev.person, t.say("action_closed"))


def _command(t: Turn, ev: CommandGiven) -> None:
    s = t.s
    s.names.setdefault(ev.person, ev.name)
    cmd = ev.command.lower()
    if cmd == "join":
        tags, group = _join_args(ev.args)
        lifecycle.join_reply(t, ev.person, ev.name, tags, group)
    elif cmd == "leave":
        controls.leave(t, ev.person)
    elif cmd == "mine":
        t.to_person(ev.person, ideas.mine(t, ev.person))
    elif cmd == "help":
        t.to_person(ev.person, help_text(t, ev.person))
    elif not controls.run(t, ev.person, cmd, ev.args) and not _phase_command(t, ev.model_copy(update={"command": cmd})):
        t.to_person(ev.person, t.say("command_not_now", command=neutralise(one_line(cmd, 40))))


def _phase_command(t: Turn, ev: CommandGiven) -> bool:
    rules = _rules(t)
    return bool(rules and rules.on_command(t, ev))


def _join_args(args: str) -> tuple[dict[str, str], str | None]:
    """`join sector=charity role="lived experience"` gives tags; `join 2` or `join group 2` chooses a group."""
    try:
        words = shlex.split(args)
    except ValueError:  # an unbalanced quote: read it plainly rather than refuse
        words = args.split()
    tags = dict(part.split("=", 1) for part in words if "=" in part and not part.startswith("="))
    numbers = [n for n in (whole(w, 1, 999) for w in words) if n is not None]
    return {k.lower(): v for k, v in tags.items()}, f"g{numbers[0]}" if numbers else None
