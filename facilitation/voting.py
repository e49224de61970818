"""Ballots and tallies: dot voting, Borda and approval, with one documented tie-break.

Tie-break (stated in every note): proposals with equal scores are ordered by how many people
supported them (gave them any dot, approval or Borda point), then by the order in which they
were explained to the group. The order is total, so the result never depends on chance.
"""

from __future__ import annotations

from collections.abc import Collection

from facilitation.errors import BallotError
from facilitation.models import Ballot, Options, Tally, TallyRow, TieBreak, VotingMethod


def make_ballot(voter: str, choices: list[str], proposal_ids: Collection[str], options: Options) -> Ballot:
    """A ballot from the voter's choices: for dots one entry per dot, for Borda the ranking best first,
    for approval the proposals approved."""
    unknown = [c for c in choices if c not in proposal_ids]
    if unknown:
        raise BallotError("vote_unknown", choice=unknown[0])
    if not choices:
        raise BallotError("vote_empty")
    method = options.voting
    if method == "dots":
        if len(choices) > options.dots:
            raise BallotError("vote_too_many_dots", dots=options.dots, given=len(choices))
        points: dict[str, int] = {}
        for c in choices:
            points[c] = points.get(c, 0) + 1
        over = [c for c, n in points.items() if n > options.dots_per_proposal]
        if over:
            raise BallotError("vote_over_cap", cap=options.dots_per_proposal)
        return Ballot(voter=voter, points=points)
    if len(set(choices)) != len(choices):
        raise BallotError("vote_repeated")
    if method == "approval":
        return Ballot(voter=voter, points=dict.fromkeys(choices, 1))
    return Ballot(voter=voter, ranking=list(choices), points=_borda_points(choices, len(proposal_ids)))


def _borda_points(ranking: list[str], n: int) -> dict[str, int]:
    # n-1 points for first place down to 0 for last; proposals left unranked get 0.
    return {pid: n - 1 - i for i, pid in enumerate(ranking) if n - 1 - i > 0}


def tally(method: VotingMethod, ballots: list[Ballot], proposal_ids: list[str]) -> Tally:
    score = dict.fromkeys(proposal_ids, 0)
    supporters = dict.fromkeys(proposal_ids, 0)
    for b in ballots:
        for pid, pts in b.points.items():
            if pid in score and pts > 0:
                score[pid] += pts
                supporters[pid] += 1
        for pid in b.ranking:  # a last place in Borda earns no points but is still support
            if pid in score and b.points.get(pid, 0) == 0:
                supporters[pid] += 1
    order = sorted(proposal_ids, key=lambda p: (-score[p], -supporters[p], proposal_ids.index(p)))
    rows: list[TallyRow] = []
    tie_breaks: list[TieBreak] = []
    for rank, pid in enumerate(order, start=1):
        rows.append(TallyRow(proposal_id=pid, score=score[pid], supporters=supporters[pid], rank=rank))
    for a, b in zip(rows, rows[1:], strict=False):
        if a.score == b.score:
            by = "supporters" if a.supporters > b.supporters else "order"
            tie_breaks.append(TieBreak(above=a.proposal_id, below=b.proposal_id, by=by))
    return Tally(method=method, rows=rows, ballots=len(ballots), tie_breaks=tie_breaks)
