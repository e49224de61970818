"""Breakout groups: who goes where. Sizes stay within one of each other; tags are spread; seeded."""

from __future__ import annotations

import random

from facilitation.effects import Action
from facilitation.models import Group, Session
from facilitation.turn import Turn


def new_group(s: Session, name: str) -> Group:
    n = len(s.groups) + 1
    group = Group(id=f"g{n}", name=name, anchor=f"group:g{n}")
    s.groups.append(group)
    return group


def place(s: Session, person: str, tags: dict[str, str], chosen: str | None) -> str:
    """The group a newcomer joins: their choice when the session lets people choose, else the smallest
    group, preferring (in mixed mode) the one with fewest members sharing their tags, then a seeded draw."""
    known = [g.id for g in s.groups]
    if chosen in known and (s.options.assign == "choice" or full(s)):
        return chosen  # type: ignore[return-value]
    size = {g: len(s.members(g)) for g in known}
    shared = {g: 0 for g in known}
    if s.options.assign == "mixed":
        for p in s.present():
            if p.group in shared and p.id != person:
                shared[p.group] += len(p.tags.items() & tags.items())
    rng = random.Random(f"{s.seed}:{person}")
    draw = {g: rng.random() for g in known}
    return min(known, key=lambda g: (size[g], shared[g], draw[g]))


def full(s: Session) -> bool:
    """With a group size set, every group has reached it (a newcomer opens a new group)."""
    cap = s.options.group_size
    return bool(cap) and all(len(s.members(g.id)) >= cap for g in s.groups)


def open_group(t: Turn) -> Group:
    """A new breakout group and its post in the channel; its thread is the group's space."""
    s = t.s
    group = new_group(s, t.say("group_name", n=len(s.groups) + 1))
    # Only when people choose does the button name the group: otherwise the bot places whoever presses it.
    label = t.say("button_join_group", group=group.name) if s.options.assign == "choice" else t.say("button_join")
    actions = [Action(id="join", value=group.id, label=label)]
    t.to_channel(t.say("group_anchor", group=group.name), actions, key=group.anchor)
    return group


def assign(t: Turn, person: str, tags: dict[str, str], chosen: str | None) -> None:
    """Put a participant into a breakout group (opening a new one when all are full) and tell them which."""
    s = t.s
    if not s.groups:
        return
    chosen_group = open_group(t).id if full(s) and chosen is None else place(s, person, tags, chosen)
    p = s.participants[person]
    if p.group != chosen_group:
        p.group = chosen_group
        t.to_person(person, t.say("joined_group", group=s.group_name(chosen_group)))
