"""Explain: each pair's pick goes to the whole group as a proposal; replies become comments."""

from __future__ import annotations

import re

from facilitation.events import CommandGiven, ReplyPosted
from facilitation.models import Comment, Proposal
from facilitation.phases.base import PhaseRules
from facilitation.text import is_blank, one_line
from facilitation.turn import QUESTION_KEY, Turn

_ADDRESSED = re.compile(r"^\s*(?:P|#|proposal\s*)?([0-9]+)\s*[:.)\-\u2014]\s*(.+)$", re.S | re.I)


def proposal_number(p: Proposal) -> str:
    return p.id.lstrip("P")


def ensure_proposals(t: Turn) -> None:
    """Without a Pair phase (absent or skipped), every idea goes forward as a proposal."""
    s = t.s
    phases = enumerate(s.structure.phases)
    if s.proposals or any(p.kind == "pair" and n not in s.skipped for n, p in phases):
        return
    for idea in s.live_ideas():
        s.proposals.append(Proposal(id=f"P{len(s.proposals) + 1}", idea_id=idea.id, pair_id=None,
                                    group=s.group_of(idea.author)))


def add_comment(t: Turn, ev: ReplyPosted, proposal: Proposal | None, text: str) -> None:
    s = t.s
    if (ev.person, ev.message_ref) in s.comment_keys():
        t.to_person(ev.person, t.say("comment_already_saved"))  # the same message of theirs delivered twice
        return
    if is_blank(text):
        t.to_person(ev.person, t.say("comment_empty"))
        return
    s.names[ev.person] = ev.name
    comment = Comment(author=ev.person, text=text.strip(), message_ref=ev.message_ref)
    (proposal.comments if proposal else s.general_comments).append(comment)
    t.mark_contributed(ev.person)


def comment_from_reply(t: Turn, ev: ReplyPosted) -> bool:
    """Replies to a proposal's post, or thread replies starting with its number ("2: why not ..."), are comments."""
    s = t.s
    if ev.reply_to and ev.reply_to.startswith("proposal:"):
        wanted = ev.reply_to.split(":", 1)[1].split("@", 1)[0]  # "proposal:P3@plenary" is P3 too
        proposal = s.proposal(wanted)
        add_comment(t, ev, proposal, ev.text)
        return True
    if not t.is_session_thread(ev.reply_to) or not s.proposals:
        return False
    m = _ADDRESSED.match(ev.text)
    target = s.proposal("P" + (m.group(1).lstrip("0") or "0")) if m else None
    add_comment(t, ev, target, m.group(2) if (m and target) else ev.text)
    return True


class Explain(PhaseRules):
    kind = "explain"
    keeps_what_was_sent_in_time = True

    def open(self, t: Turn) -> None:
        s = t.s
        ensure_proposals(t)
        limits = t.cfg.limits
        for group in t.group_ids():  # each breakout group hears its own pairs' proposals
            key = f"phase{s.phase_index}:open" + (f"@{group}" if group else "")
            mine = [p for p in s.proposals if p.group == group]
            if not mine:
                t.to_group(group, t.say("explain_none"), key=key)
                continue
            t.to_group(group, t.say("explain_open", count=len(mine), minutes=t.minutes_left()), key=key)
            for p in mine:
                idea = s.idea(p.idea_id)
                text = one_line(idea.text if idea else "", limits.idea_chars)
                reason = one_line(p.reason, limits.reason_chars) or t.say("no_reason")
                # One batch: in a thread, where replies are to the thread and name their proposal by number,
                # the proposals can share messages without blurring whose comment is on which.
                t.to_group(group, t.say("proposal", number=proposal_number(p), text=text, reason=reason),
                           key=f"proposal:{p.id}", batch=f"{key}:proposals")

    def nothing_to_do(self, t: Turn) -> bool:
        return not t.s.proposals

    def on_reply(self, t: Turn, ev: ReplyPosted) -> bool:
        return comment_from_reply(t, ev)

    def on_command(self, t: Turn, ev: CommandGiven) -> bool:
        if ev.command != "comment":
            return False
        fake = ReplyPosted(at=ev.at, person=ev.person, name=ev.name, text=ev.args,
                           message_ref=f"cmd:{t.s.events_handled}", reply_to=QUESTION_KEY)
        said = len(t.effects)
        if not comment_from_reply(t, fake):
            t.to_person(ev.person, t.say("comment_nothing_to_comment_on"))
        elif len(t.effects) == said:  # a typed command is not seen in the thread like a reply: say it counted
            t.to_person(ev.person, t.say("comment_saved"))
        return True
