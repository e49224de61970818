"""Rank: one ballot each over the proposals; changeable until close; results hidden until then."""

from __future__ import annotations

from facilitation.config import CHART_BARS
from facilitation.effects import Action, ChartBar, Choice, Form, FormField, Post
from facilitation.errors import BallotError
from facilitation.events import ActionTaken, CommandGiven
from facilitation.ideas import join
from facilitation.models import Proposal, Session
from facilitation.numbers import MAX_DIGITS, first_bad, number_list, whole
from facilitation.phases.base import PhaseRules
from facilitation.phases.explain import ensure_proposals, proposal_number
from facilitation.text import one_line
from facilitation.turn import Turn
from facilitation.voting import make_ballot, tally


def proposal_lines(t: Turn, proposals: list[Proposal]) -> str:
    s = t.s
    limit = t.cfg.limits.preview_chars
    lines = []
    for p in proposals:
        idea = s.idea(p.idea_id)
        lines.append(f"{proposal_number(p)}. {one_line(idea.text if idea else '', limit)}")
    return "\n".join(lines)


def _ballot_form(t: Turn, proposals: list[Proposal]) -> Form:
    s, o = t.s, t.s.options
    choices = [Choice(value=p.id, label=f"{proposal_number(p)}. {one_line(s.idea(p.idea_id).text, 70)}")  # type: ignore[union-attr]
               for p in proposals]
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


def _number(proposal_id: str) -> str:
    return proposal_id.lstrip("P")  # as proposal_number, from the id alone


def _text(s: Session, p: Proposal) -> str:
    idea = s.idea(p.idea_id)
    return idea.text if idea else ""


def _plenary(t: Turn) -> bool:
    return bool(t.s.phase and t.s.phase.plenary)


def ballots_of(t: Turn) -> list[tuple[str | None, list[Proposal]]]:
    """The ballots this phase runs: one per breakout group over its own proposals, or one plenary ballot
    over what the groups reported."""
    s = t.s
    if _plenary(t):
        return [(None, [p for p in s.proposals if p.id in s.reported])]
    return [(g, [p for p in s.proposals if p.group == g]) for g in t.group_ids()]


def _ballot_index(t: Turn) -> dict[str | None, tuple[list[Proposal], set[str]]]:
    """`ballots_of` by group, with each ballot's proposal ids as a set; worked out once per phase rather than
    per ballot (a big session's ballots would otherwise cost the square of its size)."""
    s = t.s
    stamp = (s.phase_index, id(s.proposals), len(s.proposals), len(s.reported), len(s.groups))
    return s.memo("ballots", stamp, lambda: {g: (ps, {p.id for p in ps}) for g, ps in ballots_of(t)})


def _voters_group(t: Turn, person: str) -> str | None:
    return None if _plenary(t) else t.s.group_of(person)


def _choices_from_form(method: str, values: dict[str, str | list[str]], cap: int) -> list[str]:
    if method == "dots":
        choices: list[str] = []
        for pid, n in values.items():
            raw = n.strip() if isinstance(n, str) else "?"
            if not raw:
                continue
            if whole(raw, -(10**MAX_DIGITS), -1) is not None:
                raise BallotError("vote_negative")
            count = whole(raw, 0, 10**MAX_DIGITS)
            if count is None:
                raise BallotError("vote_not_a_number", value=raw, cap=cap)
            if count > cap:  # refused before the dots are counted out, however many were asked for
                raise BallotError("vote_over_cap", cap=cap)
            choices += [pid] * count
        return choices
    if method == "approval":
        picked = values.get("approve", [])
        return [picked] if isinstance(picked, str) else list(picked)
    places = {k: whole(k.removeprefix("rank_"), 1, 10**MAX_DIGITS) for k in values if k.startswith("rank_")}
    if None in places.values():
        raise BallotError("button_out_of_date")  # a form key no ballot of ours has (rank_², rank_x)
    return [str(values[k]) for k in sorted(places, key=lambda k: places[k] or 0) if values[k]]


class Rank(PhaseRules):
    kind = "rank"
    nudges = True

    def open(self, t: Turn) -> None:
        s = t.s
        ensure_proposals(t)
        s.ballots = {}  # a plenary ballot after the groups' own starts afresh (theirs are in their tallies)
        o = s.options
        how = t.say(f"rank_how_{o.voting}", dots=o.dots, cap=o.dots_per_proposal)
        for group, proposals in ballots_of(t):
            key = f"phase{s.phase_index}:open" + (f"@{group}" if group else "")
            post = t.to_plenary if _plenary(t) else (lambda text, actions=None, key=None, g=group:
                                                     t.to_group(g, text, actions, key))
            if not proposals:
                post(t.say("rank_none"), key=key)
                continue
            action = Action(id="vote", label=t.say("button_vote"), style="primary", form=_ballot_form(t, proposals))
            post(t.say("rank_open", proposals=proposal_lines(t, proposals), how=how, minutes=t.minutes_left()),
                 [action], key=key)

    def nothing_to_do(self, t: Turn) -> bool:
        return not any(proposals for _, proposals in ballots_of(t))

    def on_action(self, t: Turn, ev: ActionTaken) -> bool:
        if ev.action != "vote":
            return False
        try:
            choices = _choices_from_form(t.s.options.voting, ev.values, t.s.options.dots_per_proposal)
        except BallotError as err:
            values = {k: one_line(str(v), 20) for k, v in err.values.items()}
            t.to_person(ev.person, t.say(err.key, **values))
            return True
        self._cast(t, ev.person, ev.name, choices)
        return True

    def on_command(self, t: Turn, ev: CommandGiven) -> bool:
        if ev.command != "vote":
            return False
        numbers = number_list(ev.args)
        if numbers is None:  # "vote -1" is not a vote for proposal 1
            t.to_person(ev.person, t.say("vote_not_numbers", bad=one_line(first_bad(ev.args), 20)))
            return True
        _, open_ids = self._open_to(t, ev.person)
        choices = [f"P{n}" if f"P{n}" in open_ids else f"#{n}" for n in numbers]  # P3 is "3" or "03"
        self._cast(t, ev.person, ev.name, choices, private=ev.private)
        return True

    def _open_to(self, t: Turn, person: str) -> tuple[list[Proposal], set[str]]:
        """The proposals on `person`'s ballot (their group's, or the plenary's), and their ids."""
        return _ballot_index(t).get(_voters_group(t, person), ([], set()))

    def _cast(self, t: Turn, person: str, name: str, choices: list[str], private: bool = False) -> None:
        s = t.s
        if private and person not in s.participants:  # a direct message never makes anyone a participant
            t.to_person(person, t.say("vote_join_first"))
            return
        join(t, person, name)  # a newcomer's group decides which proposals are on their ballot
        proposals, ids = self._open_to(t, person)
        if not proposals:
            t.to_person(person, t.say("rank_none"))
            return
        try:
            ballot = make_ballot(person, choices, ids, s.options)
        except BallotError as err:
            values = dict(err.values)
            if "choice" in values:  # what the voter sent, quoted back safely and briefly
                values["choice"] = one_line(str(values["choice"]).lstrip("P#"), 20)
            t.to_person(person, t.say(err.key, **values))
            return
        changed = person in s.ballots
        s.ballots[person] = ballot
        t.mark_contributed(person)
        if ballot.ranking:
            summary = ", ".join(_number(p) for p in ballot.ranking)
        else:
            summary = ", ".join(f"{_number(p)}\u00d7{n}" if n > 1 else _number(p) for p, n in ballot.points.items())
        t.to_person(person, t.say("vote_changed" if changed else "vote_saved", summary=summary))

    def close(self, t: Turn) -> None:
        s = t.s
        limit = t.cfg.limits.preview_chars
        for group, proposals in ballots_of(t):
            if not proposals:
                continue
            ballots = [b for voter, b in s.ballots.items() if _plenary(t) or s.group_of(voter) == group]
            result = tally(s.options.voting, ballots, [p.id for p in proposals])
            s.set_tally(group, result)
            by_id = {p.id: p for p in proposals}
            lines = []
            for row in result.rows:
                lines.append(t.say("rank_result_line", rank=row.rank, score=row.score, supporters=row.supporters,
                                   text=one_line(_text(s, by_id[row.proposal_id]), limit)))
            text = t.say("rank_results", ballots=result.ballots, results="\n".join(lines))
            if _plenary(t):
                t.to_plenary(text)
            else:
                t.to_group(group, text)
            shown = t.effects[-1]  # the results post: the chart goes where it went
            assert isinstance(shown, Post)
            # A readable chart shows the leading proposals; a session of hundreds has the rest in the results.
            bars = [ChartBar(label=t.say("chart_bar", number=proposal_number(by_id[row.proposal_id]),
                                         text=one_line(_text(s, by_id[row.proposal_id]), limit)), value=row.score)
                    for row in result.rows[:CHART_BARS]]
            title = t.say("chart_title") if len(result.rows) <= CHART_BARS else t.say(
                "chart_title_top", n=CHART_BARS, total=len(result.rows))
            t.chart(shown.audience, title, bars, t.say("chart_alt", results="; ".join(
                f"{b.label}: {b.value:g}" for b in bars)))

    def nudge_targets(self, t: Turn) -> list[str]:
        return [p for p in super().nudge_targets(t) if self._open_to(t, p)[0]]  # nothing to vote on: no nudge

    def status_line(self, t: Turn, person: str) -> str:
        return t.say("status_done" if person in t.s.ballots else "status_not_yet")
