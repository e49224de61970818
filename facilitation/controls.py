"""The facilitator's controls (next, extend, pause, resume, skip, end, status, add, remove) and note approval."""

from __future__ import annotations

import re
from datetime import timedelta

from facilitation import lifecycle, transitions
from facilitation.effects import PublishNote
from facilitation.models import NextMeeting
from facilitation.note import build_note, render_markdown
from facilitation.numbers import whole
from facilitation.phases import RULES
from facilitation.text import is_blank, neutralise, one_line
from facilitation.themes import place_newcomers
from facilitation.turn import Turn, duration_text

FACILITATOR_ONLY = transitions.CONTROLS
MAX_EXTEND_MINUTES = 120


def run(t: Turn, person: str, command: str, args: str) -> bool:
    """Carry out a control; False if `command` is not one."""
    if command == "approve":
        approve(t, person)
        return True
    if command == "note":
        edit_note_command(t, person, args)
        return True
    if command not in FACILITATOR_ONLY:
        return False
    s = t.s
    if not s.is_facilitator(person):
        t.to_person(person, t.say("not_facilitator"))
        return True
    if command == "next" and _MEETING.match(args):  # `next meeting <date> <topic>`, also after the end
        _next_meeting(t, person, _MEETING.sub("", args, count=1))
        return True
    if command == "confirm" and (s.phase is None or s.phase.kind != "arrange" or s.status == "ended"):
        return False  # confirm is for themes only; elsewhere it must not end a phase
    if (refused := transitions.refusal(s, command)) is not None:
        t.to_person(person, t.say(refused))
        return True
    handler = {
        "next": _next, "confirm": _next, "extend": _extend, "pause": _pause, "resume": _resume,
        "skip": _skip, "end": _end, "status": _status, "add": _add, "remove": _remove, "broadcast": _broadcast,
    }[command]
    handler(t, person, args)
    return True


def _next(t: Turn, person: str, args: str) -> None:
    transitions.move(t.s, "running", "next")
    lifecycle.advance(t)


_MEETING = re.compile(r"\s*meeting\b\s*", re.I)
# Where the date ends and the topic starts: a colon or a dash between spaces ("3:00pm" keeps its colon),
# else after a date written in numbers ("2027-01-15 Job roles").
_MEETING_SEPARATOR = re.compile(r"\s*(?::\s|\s[-–—|]\s)\s*")
_NUMERIC_DATE = re.compile(r"(\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4})\s+(.+)")


def _next_meeting(t: Turn, person: str, args: str) -> None:
    """The next meeting's date and topic, for the note's Next meeting section; said again, it replaces them."""
    text = " ".join(args.split())
    if not text:
        t.to_person(person, t.say("next_meeting_usage"))
        return
    date, topic = _split_meeting(text)
    t.s.next_meeting = NextMeeting(date=one_line(date, 120), topic=one_line(topic, t.cfg.limits.idea_chars))
    t.to_person(person, t.say("next_meeting_set", meeting=neutralise(_meeting_text(t, t.s.next_meeting))))
    if t.s.note_status == "draft":
        lifecycle.draft_note(t)  # the convenor sees the draft with it


def _split_meeting(text: str) -> tuple[str, str]:
    parts = _MEETING_SEPARATOR.split(text, maxsplit=1)
    if len(parts) == 2:
        return parts[0].strip(), parts[1].strip()
    numeric = _NUMERIC_DATE.fullmatch(text)
    return (numeric.group(1), numeric.group(2)) if numeric else (text, "")


def _meeting_text(t: Turn, meeting: NextMeeting) -> str:
    if meeting.topic:
        return t.say("note_next_meeting_topic", date=meeting.date, topic=meeting.topic)
    return meeting.date


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
    assert s.deadline is not None
    s.paused_remaining = max((s.deadline - t.at).total_seconds(), 0)
    transitions.move(s, "paused", "pause")
    t.disarm_all()
    t.to_everyone_now(t.say("paused"))


def _resume(t: Turn, person: str, args: str) -> None:
    s = t.s
    transitions.move(s, "running", "resume")
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
    lifecycle.end(t)


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
    elif spec is None:  # after `end`, waiting for the empty chair before the note
        state = t.say("status_ending", left=t.minutes_left())
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


NOTE_PARTS = {"summary": "summary", "steps": "next_steps", "next_steps": "next_steps", "meeting": "next_meeting",
              "next_meeting": "next_meeting"}


def edit_note_command(t: Turn, person: str, args: str) -> None:
    """`note summary TEXT`, `note steps TEXT`, `note meeting TEXT`: the convenor's own words for that part
    (lines split at new lines or at " | "); with no text, the bot's draft of it comes back."""
    part, _, text = args.strip().partition(" ")
    field = NOTE_PARTS.get(part.lower())
    if field is None:
        t.to_person(person, t.say("note_edit_usage"))
        return
    edit_note(t, person, {field: "\n".join(line.strip() for line in text.split(" | "))})


def edit_note(t: Turn, person: str, values: dict[str, str | list[str]]) -> None:
    """The convenor's edits from the form or the command; the draft is sent again with them in it."""
    s = t.s
    if person != s.convenor:
        t.to_person(person, t.say("not_convenor_edit"))
        return
    if (refused := transitions.note_refusal(s, "edit")) is not None:
        t.to_person(person, t.say(refused))
        return
    for field in ("summary", "next_steps", "next_meeting"):
        if field in values:
            raw = values[field]
            text = "\n".join(raw) if isinstance(raw, list) else raw
            setattr(s.note_edits, field, None if is_blank(text) else text.strip())
    lifecycle.draft_note(t)
    t.to_person(person, t.say("note_edited"))


def approve(t: Turn, person: str, revision: str = "") -> None:
    """Post exactly the draft the convenor approved. If anything reached the session after that draft (a late
    reply or DM, a comment, an edit), it is not posted unseen: a new draft goes to the convenor, who is told
    why and approves that one. `revision` is the draft the Approve button was on (typed `approve`: the latest)."""
    s = t.s
    if person != s.convenor:
        t.to_person(person, t.say("not_convenor"))
    elif (refused := transitions.note_refusal(s, "approve")) is not None:
        t.to_person(person, t.say(refused))
    elif revision and revision != str(s.note_revision):
        t.to_person(person, t.say("note_draft_replaced"))
    else:
        place_newcomers(s, t.say("theme_added_later"))  # late replies after the draft get a theme
        note = build_note(s, t.cfg)
        if render_markdown(note, t.cfg, draft=False) != s.note_markdown:
            t.to_person(person, t.say("note_changed_since_draft"))
            lifecycle.draft_note(t)
            return
        transitions.move_note(s, "approved")
        t.effects.append(PublishNote(key="note:published", title=note.title, markdown=s.note_markdown))
        t.to_person(person, t.say("note_posted"))
