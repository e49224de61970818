"""`help` in a session: what this person can do now, given their role, the phase and the structure.

Also the bot's command words, so an adapter can tell a typed command ("vote 1 2") from a message.
"""

from __future__ import annotations

from facilitation.phases.pair import pair_of
from facilitation.turn import Turn

PARTICIPANT_WORDS = ("join", "leave", "idea", "mine", "edit", "withdraw", "pick", "vote", "score", "comment",
                     "approve", "help")
FACILITATOR_WORDS = ("start", "next", "extend", "pause", "resume", "skip", "end", "status", "add", "remove",
                     "broadcast", "theme", "confirm")
COMMAND_WORDS = frozenset(PARTICIPANT_WORDS + FACILITATOR_WORDS)


def help_text(t: Turn, person: str) -> str:
    s = t.s
    lines = [t.say("help_now", state=_state(t))]
    joined = person in s.participants and s.participants[person].present
    if s.status != "ended":
        lines += _participant_lines(t, person) if joined else [t.say("help_join")]
        if not joined and s.groups and s.options.assign == "choice":
            lines.append(t.say("help_join_group", groups=", ".join(f"{g.id.lstrip('g')} ({g.name})"
                                                                 for g in s.groups)))
    if s.status == "ended" and person == s.convenor and s.note_status == "draft":
        lines.append(t.say("help_approve"))
    if s.is_facilitator(person):
        lines += _facilitator_lines(t)
    if joined and s.status != "ended":
        lines.append(t.say("help_leave"))
    lines.append(t.say("help_help"))
    return "\n".join(lines)


def _state(t: Turn) -> str:
    s = t.s
    if s.status == "ended":
        return t.say("status_ended")
    phase = s.phase.title if s.phase else ""
    if s.status == "paused":
        return t.say("help_state_paused", phase=phase)
    return t.say("help_state_running", phase=phase, left=t.minutes_left())


def _participant_lines(t: Turn, person: str) -> list[str]:
    s = t.s
    kind = s.phase.kind if s.phase else ""
    o = s.options
    if kind == "own":
        return [t.say("help_own_private" if o.own_private else "help_own_open"), t.say("help_mine"),
                t.say("help_edit")]
    if kind in ("pair", "merge"):
        return [t.say("help_pick") if pair_of(t, person) else t.say("help_no_pair"), t.say("help_mine")]
    if kind in ("explain", "report"):
        return [t.say("help_comment")]
    if kind == "rank":
        return [t.say(f"rank_how_{o.voting}", dots=o.dots, cap=o.dots_per_proposal)]
    if kind == "score":
        return [t.say("help_score") if person in s.score_assignments else t.say("score_nothing")]
    return [t.say("help_mine")]


def _facilitator_lines(t: Turn) -> list[str]:
    s = t.s
    if s.status == "ended":
        return [t.say("help_facilitator"), t.say("help_controls_ended")]
    lines = [t.say("help_facilitator"),
             t.say("help_controls_paused" if s.status == "paused" else "help_controls"), t.say("help_people")]
    if s.groups:
        lines.append(t.say("help_broadcast"))
    if s.phase is not None and s.phase.kind == "arrange":
        lines.append(t.say("help_themes"))
    return lines
