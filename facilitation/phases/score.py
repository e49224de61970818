"""Score (25/10 crowd sourcing): each idea is scored 1 to 5, anonymously, by several others; the top ones go on."""

from __future__ import annotations

import random

from facilitation.effects import Action, Form, FormField
from facilitation.events import ActionTaken, CommandGiven
from facilitation.ideas import number
from facilitation.models import Proposal, Tally, TallyRow
from facilitation.numbers import number_list, whole
from facilitation.phases.base import PhaseRules
from facilitation.text import one_line
from facilitation.turn import Turn

LOW, HIGH = 1, 5


def assign(raters: list[str], ideas: list[tuple[str, str]], per_idea: int, seed: int) -> dict[str, list[str]]:
    """Give each idea (id, author) to `per_idea` raters who did not write it, spreading the load evenly."""
    rng = random.Random(seed)
    order = raters[:]
    rng.shuffle(order)
    load = dict.fromkeys(order, 0)
    out: dict[str, list[str]] = {r: [] for r in order}
    for idea_id, author in ideas:
        eligible = sorted((r for r in order if r != author), key=lambda r: (load[r], order.index(r)))
        for rater in eligible[:per_idea]:
            out[rater].append(idea_id)
            load[rater] += 1
    return {r: ids for r, ids in out.items() if ids}


def _form(t: Turn, idea_ids: list[str]) -> Form:
    s = t.s
    fields = [FormField(id=i, label=f"{number(i)} {one_line(s.idea(i).text, 60)}", kind="number",  # type: ignore[union-attr]
                        min_value=LOW, max_value=HIGH) for i in idea_ids]
    return Form(title=t.say("form_score_title"), submit_label=t.say("form_score_submit"), fields=fields)


class Score(PhaseRules):
    kind = "score"
    nudges = True

    def open(self, t: Turn) -> None:
        s = t.s
        spec = s.phase
        assert spec is not None
        s.score_assignments = {}
        for n, group in enumerate(t.group_ids()):  # ideas are scored within their breakout group
            raters = [p.id for p in s.members(group)]
            ideas = [(i.id, i.author) for i in s.live_ideas() if group is None or s.group_of(i.author) == group]
            s.score_assignments.update(assign(raters, ideas, spec.raters, s.seed + s.phase_index + 97 * n))
        s.scores = {}
        t.to_thread(t.say("score_open", minutes=t.minutes_left(), raters=spec.raters, top=spec.top),
                    key=f"phase{s.phase_index}:open")
        limit = t.cfg.limits.preview_chars
        for rater, idea_ids in s.score_assignments.items():
            listing = "\n".join(f"{number(i)} {one_line(s.idea(i).text, limit)}" for i in idea_ids)  # type: ignore[union-attr]
            t.to_person(rater, t.say("score_intro", ideas=listing),
                        [Action(id="score", label=t.say("button_score"), style="primary", form=_form(t, idea_ids))])

    def nothing_to_do(self, t: Turn) -> bool:
        return not t.s.score_assignments

    def on_action(self, t: Turn, ev: ActionTaken) -> bool:
        if ev.action != "score":
            return False
        given = {k: str(v).strip() for k, v in ev.values.items() if isinstance(v, str) and v.strip()}
        self._score(t, ev.person, given)
        return True

    def on_command(self, t: Turn, ev: CommandGiven) -> bool:
        if ev.command != "score":
            return False
        mine = t.s.score_assignments.get(ev.person, [])
        values = number_list(ev.args)
        if values is None:  # "score -1 ²": refused whole, with the rule
            values = [LOW - 1]
        self._score(t, ev.person, dict(zip(mine, map(str, values), strict=False)))
        return True

    def _score(self, t: Turn, person: str, given: dict[str, str]) -> None:
        s = t.s
        mine = s.score_assignments.get(person)
        if not mine:
            t.to_person(person, t.say("score_nothing"))
            return
        scores: dict[str, int] = {}
        for idea_id, raw in given.items():
            value = whole(raw, LOW, HIGH)
            if idea_id not in mine or value is None:
                t.to_person(person, t.say("score_invalid", low=LOW, high=HIGH))
                return
            scores[idea_id] = value
        if not scores:
            t.to_person(person, t.say("score_invalid", low=LOW, high=HIGH))
            return
        s.scores[person] = {**s.scores.get(person, {}), **scores}
        t.mark_contributed(person)
        t.to_person(person, t.say("score_saved", count=len(s.scores[person]), of=len(mine)))

    def close(self, t: Turn) -> None:
        s = t.s
        spec = s.phase
        assert spec is not None
        given: dict[str, list[int]] = {}
        for scores in s.scores.values():
            for idea_id, value in scores.items():
                given.setdefault(idea_id, []).append(value)
        live = [i.id for i in s.live_ideas()]
        s.proposals = []
        limit = t.cfg.limits.preview_chars
        for group in t.group_ids():
            rated = [i for i in live if i in given and (group is None or s.group_of(s.idea(i).author) == group)]  # type: ignore[union-attr]
            # Highest mean first; ties by more raters, then by the order the ideas were written.
            order = sorted(rated, key=lambda i: (-sum(given[i]) / len(given[i]), -len(given[i]), live.index(i)))
            top = [Proposal(id=f"P{len(s.proposals) + n}", idea_id=i, pair_id=None, group=group)
                   for n, i in enumerate(order[: spec.top], 1)]
            s.proposals += top
            raters = sum(1 for r in s.scores if group is None or s.group_of(r) == group)
            tally = Tally(method="scores", ballots=raters, rows=[
                TallyRow(proposal_id=p.id, score=sum(given[p.idea_id]), supporters=len(given[p.idea_id]), rank=n,
                         mean=round(sum(given[p.idea_id]) / len(given[p.idea_id]), 2))
                for n, p in enumerate(top, start=1)
            ])
            s.set_tally(group, tally)
            lines = [t.say("score_result_line", rank=row.rank, mean=row.mean, raters=row.supporters,
                           text=one_line(s.idea(p.idea_id).text, limit))  # type: ignore[union-attr]
                     for row, p in zip(tally.rows, top, strict=True)]
            t.to_group(group, t.say("score_results", count=len(lines),
                                    results="\n".join(lines) or t.say("score_none")))

    def status_line(self, t: Turn, person: str) -> str:
        return t.say("status_scored", count=len(t.s.scores.get(person, {})),
                     of=len(t.s.score_assignments.get(person, [])))

    def nudge_targets(self, t: Turn) -> list[str]:
        return [p for p in super().nudge_targets(t) if p in t.s.score_assignments]
