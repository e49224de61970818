"""Adding, editing and withdrawing ideas, wherever they come from (thread, form, late reply)."""

from __future__ import annotations

from facilitation import breakouts
from facilitation.models import Idea, Participant
from facilitation.text import one_line, split_ideas
from facilitation.turn import Turn


def number(idea_id: str) -> str:
    """How people see an idea's id: i12 is #12."""
    return "#" + idea_id.lstrip("i")


def join(t: Turn, person: str, name: str, tags: dict[str, str] | None = None, group: str | None = None) -> bool:
    """Make `person` a participant (again), in a breakout group if the session has them;
    True if they were not present before. `group` is the group they chose, if any."""
    s = t.s
    s.names[person] = name
    p = s.participants.get(person)
    if p and p.present:
        if tags:
            p.tags.update(tags)
        if group and s.options.assign == "choice" and p.group != group and s.phase_index == 0:
            breakouts.assign(t, person, p.tags, group)  # changing their mind before any groups work starts
        return False
    if p:
        p.present = True
    else:
        p = s.participants[person] = Participant(
            id=person, name=name, tags=tags or {}, joined_phase=s.phase_index
        )
    if p.group is None:
        breakouts.assign(t, person, p.tags, group)
    return True


def own_ideas(t: Turn, person: str) -> list[Idea]:
    return [i for i in t.s.ideas_of(person) if not i.withdrawn]


def add(t: Turn, person: str, text: str, ref: str | None, late: bool, private_ack: bool) -> list[Idea]:
    """Turn one reply into ideas, telling the author about anything unusual. Nothing is dropped silently."""
    s, limits = t.s, t.cfg.limits
    # The same message delivered twice is the same author's (refs are unique per platform and across restarts);
    # another person's message is never taken for it, and the author is told when one is not added again.
    again = [i for i in s.ideas_from_message(ref) if i.author == person] if ref is not None else []
    if again:
        t.to_person(person, t.say("idea_already_saved", numbers=", ".join(number(i.id) for i in again)))
        return []
    parts = split_ideas(text)
    if not parts:
        t.to_person(person, t.say("idea_empty"))
        return []
    cap = s.options.ideas_per_person
    added: list[Idea] = []
    for part in parts:
        if cap and len(own_ideas(t, person)) >= cap:
            t.to_person(person, t.say("idea_over_cap", cap=cap, text=one_line(part, limits.preview_chars)))
            continue
        idea = Idea(
            id=f"i{len(s.ideas) + 1}", author=person, text=part, message_ref=ref, phase=s.phase_index, late=late
        )
        s.ideas.append(idea)
        added.append(idea)
        if len(part) > limits.idea_chars:
            t.to_person(person, t.say("idea_too_long", length=len(part), limit=limits.idea_chars))
    if added and private_ack:
        listing = "\n".join(f"{number(i.id)} {one_line(i.text, limits.preview_chars)}" for i in added)
        t.to_person(person, t.say("idea_saved", count=len(added), ideas=listing))
    return added


def replace_from_message(t: Turn, ideas: list[Idea], text: str) -> None:
    """An edited reply: its ideas take the new text; extra list items become new ideas, missing ones are withdrawn."""
    parts = split_ideas(text)
    for idea, part in zip(ideas, parts, strict=False):
        idea.text = part
        idea.withdrawn = False
    for idea in ideas[len(parts) :]:
        idea.withdrawn = True
    if len(parts) > len(ideas):
        first = ideas[0]
        for part in parts[len(ideas) :]:
            t.s.ideas.append(
                Idea(
                    id=f"i{len(t.s.ideas) + 1}",
                    author=first.author,
                    text=part,
                    message_ref=first.message_ref,
                    phase=first.phase,
                    late=first.late,
                )
            )


def mine(t: Turn, person: str) -> str:
    ideas = own_ideas(t, person)
    if not ideas:
        return t.say("mine_none")
    limit = t.cfg.limits.preview_chars
    return t.say("mine", ideas="\n".join(f"{number(i.id)} {one_line(i.text, limit)}" for i in ideas))


def find_own(t: Turn, person: str, ref: str) -> Idea | None:
    """The caller's own idea named `#12` or `12`."""
    wanted = "i" + ref.strip().lstrip("#")
    return next((i for i in own_ideas(t, person) if i.id == wanted), None)

