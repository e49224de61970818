"""Pair: pairs (one trio for an odd count) discuss their ideas and pick their best, with a reason."""

from __future__ import annotations

import re

from facilitation import ideas
from facilitation.effects import Action, Choice, Form, FormField, OpenPairSpace, Person
from facilitation.events import ActionTaken, CommandGiven, ReplyPosted
from facilitation.models import Idea, PairSpace, Proposal
from facilitation.pairing import make_pairs
from facilitation.phases.base import PhaseRules
from facilitation.text import is_blank, one_line
from facilitation.turn import Turn

# One separator between numbers (a comma with optional spaces, or spaces): a long run of spaces or digits
# cannot be split many ways, so hostile input is matched in linear time.
_PICK = re.compile(r"^\s*((?:#?[0-9]+(?:\s*,\s*|\s+))*#?[0-9]+)\s*(?:(?:because|:|-|\u2014|\|)\s*)?(.*)$", re.S | re.I)


def pair_ideas(t: Turn, pair: PairSpace) -> list[Idea]:
    """The ideas a group picks from: its candidates (a merged group's pairs' picks), else its members' ideas."""
    s = t.s
    if pair.candidates:
        found = [s.idea(c) for c in dict.fromkeys(pair.candidates)]
    else:
        found = [i for m in dict.fromkeys(pair.members) for i in s.ideas_of(m)]
    return sorted((i for i in found if i is not None and not i.withdrawn), key=lambda i: int(i.id[1:]))


def spaces(t: Turn) -> list[PairSpace]:
    """The groups of the grouping phase running now (merged groups in a merge phase)."""
    return t.s.merged if t.s.phase is not None and t.s.phase.kind == "merge" else t.s.pairs


def pair_of(t: Turn, person: str) -> PairSpace | None:
    return t.s.pair_space_of(spaces(t), person)


def picks_allowed(t: Turn) -> int:
    spec = t.s.phase
    return spec.picks if spec is not None and spec.picks else t.s.options.picks_per_pair


def _pick_form(t: Turn, pair: PairSpace) -> Form:
    limit = t.cfg.limits
    n = picks_allowed(t)
    fields: list[FormField] = []
    choices = [Choice(value=i.id, label=one_line(i.text, 75)) for i in pair_ideas(t, pair)]
    if choices:
        kind = "select" if n == 1 else "multi_select"
        fields.append(
            FormField(id="ideas", label=t.say("form_pick_label", n=n), kind=kind, choices=choices[:100],
                      max_selected=n, required=False)
        )
    fields.append(FormField(id="new_idea", label=t.say("form_pick_new_label"), kind="long_text", required=False))
    fields.append(
        FormField(id="reason", label=t.say("form_pick_reason", limit=limit.reason_chars), kind="text", required=False)
    )
    return Form(title=t.say("form_pick_title"), submit_label=t.say("form_pick_submit"), fields=fields)


class Pair(PhaseRules):
    kind = "pair"
    nudges = True

    def open(self, t: Turn) -> None:
        s = t.s
        present = [p.id for p in s.present()]
        s.pairs = []
        if not present:
            t.to_thread(t.say("pair_nobody"), key=f"phase{s.phase_index}:open")
            return
        for n, group in enumerate(t.group_ids()):  # pairs form within each breakout group
            people = s.members(group)
            tags = {p.id: p.tags for p in people}
            for members in make_pairs([p.id for p in people], s.seed + s.phase_index + 97 * n, tags, s.past_pairs):
                s.pairs.append(PairSpace(id=f"p{len(s.pairs) + 1}", members=members, group=group))
        t.to_thread(
            t.say("pair_open", pairs=len(s.pairs), minutes=t.minutes_left(), n=picks_allowed(t)),
            key=f"phase{s.phase_index}:open",
        )
        self.open_spaces(t, "pair_intro")

    def nothing_to_do(self, t: Turn) -> bool:
        return not spaces(t)

    def open_spaces(self, t: Turn, intro: str) -> None:
        """Open a space per group, showing the ideas it picks from and a Pick button."""
        s = t.s
        preview = t.cfg.limits.preview_chars
        for pair in spaces(t):
            members = [Person(id=m, name=s.name_of(m)) for m in pair.members]
            names = ", ".join(m.name for m in members)
            t.effects.append(
                OpenPairSpace(key=f"pair:{pair.id}", pair_id=pair.id, title=t.say("pair_title"), members=members)
            )
            listing = "\n".join(f"{ideas.number(i.id)} {one_line(i.text, preview)}" for i in pair_ideas(t, pair))
            action = Action(id="pick", label=t.say("button_pick"), style="primary", form=_pick_form(t, pair),
                            only_for=pair.members)
            alone = len(pair.members) == 1  # nobody to pair with: they are told so, and their own pick counts
            t.to_pair(
                pair.id,
                t.say(f"{intro}_alone" if alone else intro, names=one_line(names, 300),
                      ideas=listing or t.say("pair_no_ideas"),
                      n=picks_allowed(t), question=one_line(s.question, 300)),
                [action],
                key=f"pair:{pair.id}:intro",
            )

    def on_action(self, t: Turn, ev: ActionTaken) -> bool:
        if ev.action != "pick":
            return False
        chosen = ev.values.get("ideas", [])
        chosen = [chosen] if isinstance(chosen, str) else chosen
        reason = ev.values.get("reason", "")
        new_idea = ev.values.get("new_idea", "")
        self._pick(t, ev.person, [c for c in chosen if c], str(reason), str(new_idea))
        return True

    def on_command(self, t: Turn, ev: CommandGiven) -> bool:
        if ev.command != "pick":
            return False
        self._typed_pick(t, ev.person, ev.args)
        return True

    def _typed_pick(self, t: Turn, person: str, args: str) -> None:
        m = _PICK.match(args)
        if m:
            picks = ["i" + n.lstrip("#") for n in re.findall(r"#?[0-9]+", m.group(1))]
            self._pick(t, person, picks, m.group(2), "")
        elif args.strip().startswith("#"):  # "#²", "#٣": meant as a number, so not taken for a new idea
            t.to_person(person, t.say("pick_unknown", number=one_line(args.split()[0], 20)))
        else:
            text, _, reason = args.partition(" because ")
            self._pick(t, person, [], reason, text)

    def on_reply(self, t: Turn, ev: ReplyPosted) -> bool:
        # Conversation inside a pair space stays there: it is the pair's own discussion. A message that
        # starts with "pick" is the pick the intro tells people they can type there.
        word, _, rest = ev.text.strip().partition(" ")
        typed_pick = word.lower().lstrip("/") == "pick"
        if ev.private and typed_pick and pair_of(t, ev.person) is not None:
            self._typed_pick(t, ev.person, rest.strip())  # a pair that meets by DM (no private space allowed)
            return True
        if not (ev.reply_to and ev.reply_to.startswith("pair:")):
            return False
        if typed_pick:
            self._typed_pick(t, ev.person, rest.strip())
        return True

    def _pick(self, t: Turn, person: str, picks: list[str], reason: str, new_idea: str) -> None:
        s, limits = t.s, t.cfg.limits
        pair = pair_of(t, person)
        if pair is None:
            t.to_person(person, t.say("pick_not_in_pair"))
            return
        if not is_blank(new_idea):
            added = ideas.add(t, person, new_idea, None, late=False, private_ack=False)
            picks = picks + [i.id for i in added]
        allowed = {i.id for i in pair_ideas(t, pair)}
        unknown = [p for p in picks if p not in allowed]
        if unknown:
            t.to_person(person, t.say("pick_unknown", number=ideas.number(unknown[0])))
            return
        picks = list(dict.fromkeys(picks))
        if not picks:
            t.to_person(person, t.say("pick_empty"))
            return
        if len(picks) > picks_allowed(t):
            t.to_person(person, t.say("pick_too_many", n=picks_allowed(t)))
            return
        reason = reason.strip()
        if len(reason) > limits.reason_chars:
            t.to_person(person, t.say("reason_too_long", limit=limits.reason_chars))
        pair.picks, pair.reason, pair.picked_by = picks, reason, person
        for member in pair.members:
            t.mark_contributed(member)
        chosen = "\n".join(f"{ideas.number(p)} {one_line(s.idea(p).text, limits.preview_chars)}"  # type: ignore[union-attr]
                           for p in picks)
        picked = "pair_picked_alone" if len(pair.members) == 1 else "pair_picked"
        t.to_pair(pair.id, t.say(picked, name=one_line(s.name_of(person), 80), ideas=chosen,
                                 reason=one_line(reason, limits.reason_chars) or t.say("no_reason")))

    def close(self, t: Turn) -> None:
        s = t.s
        for pair in spaces(t):
            if pair.picks:
                for idea_id in pair.picks:
                    n = len(s.proposals) + 1
                    s.proposals.append(Proposal(id=f"P{n}", idea_id=idea_id, pair_id=pair.id, reason=pair.reason,
                                                group=pair.group))
            else:
                t.to_facilitators(t.say("pair_no_pick", pair=pair.id.lstrip("p"), count=len(pair_ideas(t, pair))))
                t.to_pair(pair.id, t.say("pair_closed_no_pick"))

    def nudge_targets(self, t: Turn) -> list[str]:
        return [p for p in super().nudge_targets(t) if pair_of(t, p) is not None]  # only people with a pair

    def status_line(self, t: Turn, person: str) -> str:
        pair = pair_of(t, person)
        if pair is None:
            return t.say("status_no_pair")
        return t.say("status_pair_picked" if pair.picks else "status_pair_waiting", pair=pair.id.lstrip("p"))


