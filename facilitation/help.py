"""`help` in a session: what this person can do now, given their role, the phase and the structure.

Also the bot's command words, so an adapter can tell a typed command ("vote 1 2") from a message.
"""

from __future__ import annotations

import re

from facilitation.phases.pair import pair_of
from facilitation.turn import Turn

PARTICIPANT_WORDS = ("join", "leave", "idea", "mine", "edit", "withdraw", "pick", "vote", "score", "comment",
                     "approve", "help")
FACILITATOR_WORDS = ("start", "next", "extend", "pause", "resume", "skip", "end", "status", "add", "remove",
                     "broadcast", "theme", "confirm")
COMMAND_WORDS = frozenset(PARTICIPANT_WORDS + FACILITATOR_WORDS)

# A direct message to the bot that is one of these is a command, not an idea: the bot's own messages tell people
# to type them ("type mine", "withdraw #N"). Each needs its exact shape, so "End poverty" or "Pick up litter"
# stay ideas. (vote and score are read from any message: facilitation.engine._TYPED_BALLOT.)
_TYPED_ARGS = {
    **dict.fromkeys(("approve", "mine", "help", "leave", "next", "pause", "resume", "skip", "end", "status",
                     "confirm"), ""),
    "join": r"(?:(?:[\w-]+=\S+|\d+)\s*)*",
    "edit": r"#?\d+\s+\S.*",
    "withdraw": r"#?\d+",
    "pick": r"#?\d+(?:[\s,]+#?\d+)*(?:\s*(?:because|:|-|\u2014)\s.*)?",
    "extend": r"\d{1,3}\s*(?:m|min|mins|minutes)?",
    "theme": r"(?:rename|move|merge|split)\s+#?\d.*",
    "comment": r"#?\d+\s*:.*",
    "add": r"<?@\S.*",
    "remove": r"<?@\S.*",
}


def typed_command(text: str) -> tuple[str, str] | None:
    """`"withdraw #2"` -> `("withdraw", "#2")`; None when the message is not a command in its exact shape."""
    word, _, rest = text.strip().partition(" ")
    word = word.lower().lstrip("/")
    shape = _TYPED_ARGS.get(word)
    if shape is None or not re.fullmatch(shape, rest.strip(), re.S | re.I):
        return None
    return word, rest.strip()


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
