"""The closing round: each person says one thing they take away; the answers become the note's Final reflections."""

from __future__ import annotations

from facilitation.events import ReplyPosted
from facilitation.models import Comment
from facilitation.phases.base import PhaseRules
from facilitation.text import is_blank
from facilitation.turn import Turn


class Reflect(PhaseRules):
    kind = "reflect"
    keeps_what_was_sent_in_time = True

    def open(self, t: Turn) -> None:
        t.to_plenary(t.say("reflect_open", minutes=t.minutes_left()), key=self._key(t))

    @staticmethod
    def _key(t: Turn) -> str:
        return f"phase{t.s.phase_index}:open"

    def on_reply(self, t: Turn, ev: ReplyPosted) -> bool:
        here = ev.private or ev.reply_to is None or ev.reply_to == self._key(t) or t.is_session_thread(ev.reply_to)
        if not here:
            return False
        s = t.s
        if is_blank(ev.text) or any(c.message_ref == ev.message_ref for c in s.reflections):
            return True
        s.reflections.append(Comment(author=ev.person, text=ev.text.strip(), message_ref=ev.message_ref))
        t.mark_contributed(ev.person)
        t.to_person(ev.person, t.say("reflect_saved"))
        return True
