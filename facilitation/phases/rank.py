"""Rank: one ballot each over the proposals; changeable until close; results hidden until then."""

from __future__ import annotations

import re

from facilitation.effects import Action, Choice, Form, FormField
from facilitation.events import ActionTaken, CommandGiven
from facilitation.ideas import join
from facilitation.phases.base import PhaseRules
from facilitation.phases.explain import ensure_proposals, proposal_number
from facilitation.text import one_line
from facilitation.turn import Turn
from facilitation.voting import BallotError, make_ballot, tally


def proposal_lines(t: Turn) -> str:
    s = t.s
    limit = t.cfg.limits.preview_chars
    lines = []
    for p in s.proposals:
        idea = s.idea(p.idea_id)
        lines.append(f"{proposal_number(p)}. {one_line(idea.text if idea else '', limit)}")
    return "\n".join(lines)


def _ballot_form(t: Turn) -> Form:
    s, o = t.s, t.s.options
    choices = [Choice(value=p.id, label=f"{proposal_number(p)}. {one_line(s.idea(p.idea_id).text, 70)}")  # type: ignore[union-attr]
               for p in s.proposals]
    if o.voting == "dots":
        fields = [FormField(id=c.value, label=c.label, kind="number", required=False, min_value=0,
                            max_value=o.dots_per_proposal) for c in choices]
    elif o.voting == "approval":
        fields = [FormField(id="approve", label=t.say("form_approval_label"), kind="multi_select",
                            choices=choices, max_selected=len(choices))]
    else:
        fields = [FormField(id=f"rank_{n}", label=t.say("form_rank_label", n=n), kind="select", choices=choices,
                            required=n == 1) for n in range(1, len(choices) + 1)]
    return Form(title=t.say("form_ballot_title"), submit_label=t.say("form_ballot_submit"), fields=fields)


def _choices_from_form(method: str, values: dict[str, str | list[str]]) -> list[str]:
    if method == "dots":
        choices: list[str] = []
        for pid, n in values.items():
            count = int(str(n).strip() or 0) if str(n).strip().lstrip("-").isdigit() else 0
            if count < 0:
                raise BallotError("vote_negative")
            choices += [pid] * count
        return choices
    if method == "approval":
        picked = values.get("approve", [])
        return [picked] if isinstance(picked, str) else list(picked)
    ranked = sorted((k for k in values if k.startswith("rank_")), key=lambda k: int(k.split("_")[1]))
    return [str(values[k]) for k in ranked if values[k]]


class Rank(PhaseRules):
    kind = "rank"
    nudges = True

    def open(self, t: Turn) -> None:
        s = t.s
        ensure_proposals(t)
        if not s.proposals:
            t.to_thread(t.say("rank_none"), key=f"phase{s.phase_index}:open")
            return
        o = s.options
        how = t.say(f"rank_how_{o.voting}", dots=o.dots, cap=o.dots_per_proposal)
        action = Action(id="vote", label=t.say("button_vote"), style="primary", form=_ballot_form(t))
        t.to_thread(t.say("rank_open", proposals=proposal_lines(t), how=how, minutes=t.minutes_left()),
                    [action], key=f"phase{s.phase_index}:open")

    def on_action(self, t: Turn, ev: ActionTaken) -> bool:
        if ev.action != "vote":
            return False
        try:
            choices = _choices_from_form(t.s.options.voting, ev.values)
        except BallotError as err:
            t.to_person(ev.person, t.say(err.key, **err.values))
            return True
        self._cast(t, ev.person, ev.name, choices)
        return True

    def on_command(self, t: Turn, ev: CommandGiven) -> bool:
        if ev.command != "vote":
            return False
        numbers = re.findall(r"\d+", ev.args)
        by_number = {proposal_number(p): p.id for p in t.s.proposals}
        choices = [by_number.get(n, f"#{n}") for n in numbers]
        self._cast(t, ev.person, ev.name, choices)
        return True

    def _cast(self, t: Turn, person: str, name: str, choices: list[str]) -> None:
        s = t.s
        if not s.proposals:
            t.to_person(person, t.say("rank_none"))
            return
        ids = [p.id for p in s.proposals]
        try:
            ballot = make_ballot(person, choices, ids, s.options)
        except BallotError as err:
            values = dict(err.values)
            if "choice" in values:
                values["choice"] = str(values["choice"]).lstrip("P#")
            t.to_person(person, t.say(err.key, **values))
            return
        join(t, person, name)
        changed = person in s.ballots
        s.ballots[person] = ballot
        t.mark_contributed(person)
        by_id = {p.id: proposal_number(p) for p in s.proposals}
        if ballot.ranking:
            summary = ", ".join(by_id[p] for p in ballot.ranking)
        else:
            summary = ", ".join(f"{by_id[p]}\u00d7{n}" if n > 1 else by_id[p] for p, n in ballot.points.items())
        t.to_person(person, t.say("vote_changed" if changed else "vote_saved", summary=summary))

    def close(self, t: Turn) -> None:
        s = t.s
        if not s.proposals:
            return
        ids = [p.id for p in s.proposals]
        s.tally = tally(s.options.voting, list(s.ballots.values()), ids)
        by_id = {p.id: p for p in s.proposals}
        limit = t.cfg.limits.preview_chars
        lines = []
        for row in s.tally.rows:
            idea = s.idea(by_id[row.proposal_id].idea_id)
            lines.append(t.say("rank_result_line", rank=row.rank, score=row.score, supporters=row.supporters,
                               text=one_line(idea.text if idea else "", limit)))
        t.to_thread(t.say("rank_results", ballots=s.tally.ballots, results="\n".join(lines)))

    def nudge_targets(self, t: Turn) -> list[str]:
        return super().nudge_targets(t) if t.s.proposals else []  # nothing to vote on: no nudge

    def status_line(self, t: Turn, person: str) -> str:
        return t.say("status_done" if person in t.s.ballots else "status_not_yet")
