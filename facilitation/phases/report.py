"""Report back (plenary): each breakout group's top proposals go to the whole meeting in the main channel."""

from __future__ import annotations

from facilitation.models import Proposal, Session
from facilitation.phases.base import PhaseRules
from facilitation.phases.explain import proposal_number
from facilitation.text import one_line
from facilitation.turn import Turn


def ranked(s: Session, group: str | None) -> list[Proposal]:
    """A group's proposals, best first by its own ranking (in explained order if it did not rank)."""
    mine = [p for p in s.proposals if p.group == group]
    tally = s.tally_for(group)
    if tally is None:
        return mine
    order = {row.proposal_id: row.rank for row in tally.rows}
    return sorted(mine, key=lambda p: (order.get(p.id, len(order) + 1), mine.index(p)))


class Report(PhaseRules):
    kind = "report"

    def nothing_to_do(self, t: Turn) -> bool:
        return not t.s.reported

    def open(self, t: Turn) -> None:
        s = t.s
        spec = s.phase
        assert spec is not None
        s.reported = []
        t.to_plenary(t.say("report_open", minutes=t.minutes_left(), top=spec.top), key=f"phase{s.phase_index}:open")
        limits = t.cfg.limits
        for group in t.group_ids():
            top = ranked(s, group)[: spec.top]
            s.reported += [p.id for p in top]
            if not top:
                t.to_plenary(t.say("report_group_none", group=s.group_name(group)))
                continue
            for p in top:
                idea = s.idea(p.idea_id)
                t.to_plenary(t.say("report_proposal", group=s.group_name(group), number=proposal_number(p),
                                   text=one_line(idea.text if idea else "", limits.idea_chars),
                                   reason=one_line(p.reason, limits.reason_chars) or t.say("no_reason")),
                             key=f"proposal:{p.id}@plenary")
