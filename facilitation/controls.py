"""The facilitator's controls (next, extend, pause, resume, skip, end, status, add, remove) and note approval."""

from __future__ import annotations

import re
from datetime import timedelta

from facilitation import lifecycle
from facilitation.effects import PublishNote
from facilitation.note import build_note, render_markdown
from facilitation.numbers import whole
from facilitation.phases import RULES
from facilitation.text import is_blank, neutralise, one_line
from facilitation.themes import place_newcomers
from facilitation.turn import Turn, duration_text

FACILITATOR_ONLY = {"next", "extend", "pause", "resume", "skip", "end", "status", "add", "remove", "confirm",
                    "broadcast"}
MAX_EXTEND_MINUTES = 120


def run(t: Turn, person: str, command: str, args: str) -> bool:
    """Carry out a control; False if `command` is not one."""
    if command == "approve":
        approve(t, person)
        return True
    if command not in FACILITATOR_ONLY:
        return False
    s = t.s
    if not s.is_facilitator(person):
        t.to_person(person, t.say("not_facilitator"))
        return True
    if command == "confirm" and (s.phase is None or s.phase.kind != "arrange" or s.status == "ended"):
        return False  # confirm is for themes only; elsewhere it must not end a phase
    if s.status == "ended" and command != "status":
        t.to_person(person, t.say("session_already_ended"))
        return True
    handler = {
        "next": _next, "confirm": _next, "extend": _extend, "pause": _pause, "resume": _resume,
        "skip": _skip, "end": _end, "status": _status, "add": _add, "remove": _remove, "broadcast": _broadcast,
    }[command]
    handler(t, person, args)
    return True


def _next(t: Turn, person: str, args: str) -> None:
    if t.s.status == "paused":
        t.s.status = "running"
    lifecycle.advance(t)


def _extend(t: Turn, person: str, args: str) -> None:
    s = t.s
    minutes = whole(re.sub(r"\s*(?:m|min|mins|minutes)\s*$", "", args or "5"), 1, MAX_EXTEND_MINUTES)
    if minutes is None:
        t.to_person(person, t.say("extend_usage", max=MAX_EXTEND_MINUTES))
        return
    if s.status == "paused":
        s.paused_remaining = (s.paused_remaining or 0) + minutes * 60
        t.to_person(person, t.say("extended_paused", minutes=minutes))
        return
    assert s.deadline is not None
    s.deadline = max(s.deadline, t.at) + timedelta(minutes=minutes)
    t.arm_phase_timers()
    t.to_everyone_now(t.say("extended", minutes=minutes, left=t.minutes_left()))


def _pause(t: Turn, person: str, args: str) -> None:
    s = t.s
    if s.status == "paused":
        t.to_person(person, t.say("already_paused"))
        return
    assert s.deadline is not None
    s.paused_remaining = max((s.deadline - t.at).total_seconds(), 0)
    s.status = "paused"
    t.disarm_all()
    t.to_everyone_now(t.say("paused"))


def _resume(t: Turn, person: str, args: str) -> None:
    s = t.s
    if s.status != "paused":
        t.to_person(person, t.say("not_paused"))
        return
    s.status = "running"
    s.deadline = t.at + timedelta(seconds=s.paused_remaining or 0)
    s.paused_remaining = None
    t.arm_phase_timers()
    t.to_everyone_now(t.say("resumed", left=t.minutes_left()))


def _skip(t: Turn, person: str, args: str) -> None:
    """Skip the next phase that has not been skipped yet (`next` ends the current one)."""
    s = t.s
    nxt = s.phase_index + 1
    while nxt < len(s.structure.phases) and (nxt in s.skipped or not lifecycle.runs(s, nxt)):
        nxt += 1
    if nxt >= len(s.structure.phases):
        t.to_person(person, t.say("skip_nothing"))
        return
    s.skipped.append(nxt)
    t.to_everyone_now(t.say("skipping", phase=s.structure.phases[nxt].title))


def _broadcast(t: Turn, person: str, args: str) -> None:
    """A message to every group's thread at once (to the session thread when there are no groups)."""
    if is_blank(args):
        t.to_person(person, t.say("broadcast_usage"))
        return
    text = args.strip()
    limit = t.cfg.limits.idea_chars
    if len(text) > limit:  # refused whole rather than cut: the facilitator still has the text to shorten
        t.to_person(person, t.say("broadcast_too_long", length=len(text), limit=limit))
        return
    t.to_thread(t.say("broadcast", text=neutralise(text)))


def _end(t: Turn, person: str, args: str) -> None:
    s = t.s
    s.status = "running"
    lifecycle.close(t)
    lifecycle.finish(t)


def _status(t: Turn, person: str, args: str) -> None:
    s = t.s
    spec = s.phase
    rules = RULES[spec.kind] if spec and s.status != "ended" else None
    lines = []
    for p in sorted(s.present(), key=lambda p: p.name.lower()):
        detail = rules.status_line(t, p.id) if rules else ""
        group = f" ({s.group_name(p.group)})" if p.group else ""
        lines.append(f"\u2022 {one_line(p.name, 80)}{group}: {detail}")
    if s.status == "ended":
        state = t.say("status_ended")
    elif s.status == "paused":
        state = t.say("status_paused", phase=spec.title if spec else "", left=duration_text(s.paused_remaining or 0))
    else:
        state = t.say("status_running", phase=spec.title if spec else "", left=t.minutes_left())
    t.to_person(person, t.say("status", state=state, people=len(lines), ideas=len(s.live_ideas()),
                              lines="\n".join(lines) or t.say("status_nobody")))


_MENTION = re.compile(r"<@!?([A-Za-z0-9]+)(?:\|([^>]*))?>|@?([\w.\-]+)")


def _people(args: str) -> list[tuple[str, str]]:
    """`<@U123>`, `<@U123|ana>` or plain ids, as (id, name) pairs."""
    found = []
    for m in _MENTION.finditer(args):
        pid = m.group(1) or m.group(3)
        found.append((pid, m.group(2) or pid))
    return found


def _add(t: Turn, person: str, args: str) -> None:
    people = _people(args)
    if not people:
        t.to_person(person, t.say("add_usage"))
        return
    for pid, name in people:
        lifecycle.join_reply(t, pid, t.s.names.get(pid, name))
    t.to_person(person, t.say("added", names=", ".join(neutralise(t.s.name_of(p)) for p, _ in people)))


def _remove(t: Turn, person: str, args: str) -> None:
    people = [p for p, _ in _people(args) if p in t.s.participants]
    if not people:
        t.to_person(person, t.say("remove_usage"))
        return
    for pid in people:
        leave(t, pid)
    t.to_person(person, t.say("removed", names=", ".join(neutralise(t.s.name_of(p)) for p in people)))


def leave(t: Turn, person: str) -> None:
    """Someone leaves; their ideas stay in the session (and the note)."""
    p = t.s.participants.get(person)
    if p is None or not p.present:
        t.to_person(person, t.say("not_in_session"))
        return
    p.present = False
    t.to_person(person, t.say("left"))


def approve(t: Turn, person: str, revision: str = "") -> None:
    """Post exactly the draft the convenor approved. If anything reached the session after that draft (a late
    reply or DM, a comment, an edit), it is not posted unseen: a new draft goes to the convenor, who is told
    why and approves that one. `revision` is the draft the Approve button was on (typed `approve`: the latest)."""
    s = t.s
    if person != s.convenor:
        t.to_person(person, t.say("not_convenor"))
    elif s.note_status == "none":
        t.to_person(person, t.say("note_not_ready"))
    elif s.note_status == "approved":
        t.to_person(person, t.say("note_already_posted"))
    elif revision and revision != str(s.note_revision):
        t.to_person(person, t.say("note_draft_replaced"))
    else:
        place_newcomers(s, t.say("theme_added_later"))  # late replies after the draft get a theme
        note = build_note(s, t.cfg)
        if render_markdown(note, t.cfg, draft=False) != s.note_markdown:
            t.to_person(person, t.say("note_changed_since_draft"))
            lifecycle.draft_note(t)
            return
        s.note_status = "approved"
        t.effects.append(PublishNote(key="note:published", title=note.title, markdown=s.note_markdown))
        t.to_person(person, t.say("note_posted"))
