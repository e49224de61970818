"""Own: everyone writes their own ideas, alone; in private mode nobody else sees them yet."""

from __future__ import annotations

from facilitation import ideas
from facilitation.effects import Action, Form, FormField
from facilitation.events import ActionTaken, CommandGiven, ReplyPosted
from facilitation.phases.base import PhaseRules
from facilitation.text import neutralise
from facilitation.turn import Turn


def idea_form(t: Turn) -> Form:
    return Form(
        title=t.say("form_idea_title"),
        submit_label=t.say("form_idea_submit"),
        fields=[FormField(id="idea", label=t.say("form_idea_label"), kind="long_text")],
    )


class Own(PhaseRules):
    kind = "own"
    keeps_what_was_sent_in_time = True
    nudges = True

    def open(self, t: Turn) -> None:
        s = t.s
        key = "own_open_private" if s.options.own_private else "own_open_open"
        actions = [Action(id="add_idea", label=t.say("button_add_idea"), style="primary", form=idea_form(t))]
        limit = s.options.ideas_per_person
        t.to_thread(
            t.say(key, question=neutralise(s.question), minutes=t.minutes_left(), limit=limit or t.say("no_limit")),
            actions,
            key=f"phase{s.phase_index}:open",
        )

    def on_reply(self, t: Turn, ev: ReplyPosted) -> bool:
        if not (ev.reply_to is None or t.is_session_thread(ev.reply_to)) and not ev.private:
            return False
        chosen = next((g.id for g in t.s.groups if g.anchor == ev.reply_to), None)
        ideas.join(t, ev.person, ev.name, ev.tags, chosen)
        private_mode = t.s.options.own_private
        added = ideas.add(t, ev.person, ev.text, ev.message_ref, late=False, private_ack=ev.private)
        if added:
            t.mark_contributed(ev.person)
            if private_mode and not ev.private:
                t.to_person(ev.person, t.say("own_reply_was_visible"))
        return True

    def on_action(self, t: Turn, ev: ActionTaken) -> bool:
        if ev.action != "add_idea":
            return False
        ideas.join(t, ev.person, ev.name)
        text = ev.values.get("idea", ev.value)
        text = "\n".join(text) if isinstance(text, list) else text
        if ideas.add(t, ev.person, text, None, late=False, private_ack=True):
            t.mark_contributed(ev.person)
        return True

    def on_command(self, t: Turn, ev: CommandGiven) -> bool:
        if ev.command == "idea":
            ideas.join(t, ev.person, ev.name)
            if ideas.add(t, ev.person, ev.args, None, late=False, private_ack=True):
                t.mark_contributed(ev.person)
            return True
        if ev.command in ("withdraw", "edit"):
            ref, _, text = ev.args.strip().partition(" ")
            idea = ideas.find_own(t, ev.person, ref) if ref else None
            if idea is None:
                t.to_person(ev.person, t.say("idea_not_yours", ref=neutralise(ref) or "?"))
            elif ev.command == "withdraw":
                idea.withdrawn = True
                t.to_person(ev.person, t.say("idea_withdrawn", number=ideas.number(idea.id)))
            elif not text.strip():
                t.to_person(ev.person, t.say("idea_edit_empty"))
            else:
                ideas.replace_from_message(t, [idea], text)
                t.to_person(ev.person, t.say("idea_edited", number=ideas.number(idea.id)))
            return True
        return False

    def status_line(self, t: Turn, person: str) -> str:
        count = len(ideas.own_ideas(t, person))
        return t.say("status_ideas_one" if count == 1 else "status_ideas", count=count)

