"""The round-up note: a model built from the session, rendered to Markdown; its JSON is the model itself.

Shaped like the notes convenors write by hand (see shared/examples): summary of key points (sentences per
leading theme), discussion by theme (every point in full, each proposal in full once), ranking, who isn't
here, final reflections, participation, next steps, next meeting. Unattributed unless the session opted in.
The convenor's edits (summary, next steps, next meeting) replace the bot's draft of those parts.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import date
from typing import TypeVar

from pydantic import BaseModel

from facilitation.config import EngineConfig
from facilitation.models import Session, Theme
from facilitation.note_summary import SummaryIdea, SummaryPoint, summarise
from facilitation.phases.report import ranked
from facilitation.text import close_bidi, neutralise, one_line

SCHEMA_VERSION = 2
_T = TypeVar("_T")
# In an unattributed note a breakout group smaller than this would show who wrote what (its ideas, proposals and
# counts are its few members'), so its details are withheld and the note says so.
MIN_GROUP_SHOWN = 3


class NoteIdea(BaseModel):
    id: str
    number: int
    text: str
    group: str | None = None
    theme_id: str | None
    theme: str | None
    proposal_id: str | None
    late: bool
    later_edits: list[str] = []
    author: str | None = None  # only when the session opted in to attribution


class NoteProposal(BaseModel):
    id: str
    number: int
    idea_id: str
    text: str
    reason: str
    rank: int | None  # in the session's ranking (with breakout groups: the plenary ballot)
    score: int | None
    supporters: int | None
    comments: list[str]
    group: str | None = None  # the breakout group it came from
    group_rank: int | None = None  # its rank in that group's own ballot
    group_score: int | None = None
    reported: bool = False  # reported by its group to the plenary


class NoteTheme(BaseModel):
    id: str
    label: str
    idea_ids: list[str]


class NoteRanking(BaseModel):
    method: str
    description: str
    ballots: int
    tie_break_rule: str
    tie_breaks: list[str]


class NoteParticipation(BaseModel):
    people: int
    ideas: int
    late_ideas: int
    withdrawn_ideas: int
    pairs: int
    trios: int
    pairs_without_pick: int
    ballots: int
    comments: int
    empty_chair_answers: int
    most_active_fifth_people: int
    most_active_fifth_share: float  # share of ideas written by the most active fifth of people


class NoteNextMeeting(BaseModel):
    date: str
    topic: str = ""
    text: str  # as the note shows it (the convenor's words when they edited it)


class NoteGroup(BaseModel):
    id: str
    name: str
    proposal_ids: list[str]  # best first by the group's own ranking
    ranking: str | None  # the group's ballot method, in words
    participation: NoteParticipation | None  # None when withheld
    withheld: bool = False  # too few people to show this group's details without naming them


class RoundUpNote(BaseModel):
    schema_version: int = SCHEMA_VERSION
    title: str
    date: date
    question: str
    structure: str
    skipped_phases: list[str]
    attributed: bool
    key_points: list[str]  # proposal texts, best first
    summary: list[SummaryPoint]  # the bot's sentences per leading theme, quoting participants
    summary_text: str | None = None  # the convenor's own summary, which replaces `summary` when set
    themes: list[NoteTheme]
    ideas: list[NoteIdea]
    proposals: list[NoteProposal]
    ranking: NoteRanking | None
    general_comments: list[str]
    empty_chair: list[str]
    reflections: list[str] = []  # the closing round's answers ("one thing you take away")
    participation: NoteParticipation
    groups: list[NoteGroup] = []  # breakout groups, when the session had them
    next_steps: list[str]
    next_meeting: NoteNextMeeting | None = None
    edited_by_convenor: list[str] = []  # which of summary, next_steps, next_meeting the convenor rewrote


def build_note(s: Session, cfg: EngineConfig) -> RoundUpNote:
    theme_of = {i: t for t in s.themes for i in t.idea_ids}
    proposal_of = {p.idea_id: p for p in s.proposals}
    rows = {r.proposal_id: r for r in s.tally.rows} if s.tally else {}
    group_rows = {r.proposal_id: r for tally in s.group_tallies.values() for r in tally.rows}
    by_attr = s.options.attribution
    withheld = set() if by_attr else _small_groups(s)

    def group(group_id: str | None) -> str | None:
        return None if group_id in withheld else s.group_name(group_id) or None

    def author(person: str) -> str | None:
        return s.name_of(person) if by_attr else None

    def with_author(text: str, person: str) -> str:
        return f"{text} ({s.name_of(person)})" if by_attr else text

    idea_models = []
    for i in s.live_ideas():
        theme = theme_of.get(i.id)
        p = proposal_of.get(i.id)
        idea_models.append(NoteIdea(
            id=i.id, number=int(i.id[1:]), text=i.text, theme_id=theme.id if theme else None,
            theme=theme.label if theme else None, proposal_id=p.id if p else None, late=i.late,
            later_edits=i.late_edits, author=author(i.author), group=group(s.group_of(i.author)),
        ))
    proposals = []
    for p in s.proposals:
        idea = s.idea(p.idea_id)
        row, in_group = rows.get(p.id), group_rows.get(p.id)
        proposals.append(NoteProposal(
            id=p.id, number=int(p.id[1:]), idea_id=p.idea_id, text=idea.text if idea else "", reason=p.reason,
            rank=row.rank if row else None, score=row.score if row else None,
            supporters=row.supporters if row else None,
            comments=[with_author(c.text, c.author) for c in p.comments],
            group=group(p.group), group_rank=in_group.rank if in_group else None,
            group_score=in_group.score if in_group else None, reported=p.id in s.reported,
        ))
    ranked = _meeting_order(s, proposals)
    ranking = None
    if s.tally:
        o = s.options
        ranking = NoteRanking(
            method=s.tally.method,
            description=cfg.say(f"note_method_{s.tally.method}", dots=o.dots, cap=o.dots_per_proposal),
            ballots=s.tally.ballots,
            tie_break_rule=cfg.say("note_tie_rule_scores" if s.tally.method == "scores" else "note_tie_rule_votes"),
            tie_breaks=[cfg.say(f"note_tie_{tb.by}", above=tb.above[1:], below=tb.below[1:])
                        for tb in s.tally.tie_breaks],
        )
    key_points = [p.text for p in ranked if p.rank is None or (p.score or 0) > 0] or [p.text for p in ranked]
    empty_chair = [with_author(a.text, a.author) for a in s.empty_chair]
    label_of = {t.id: t.label for t in s.themes}
    next_steps = [cfg.say("note_next_take_forward", ref=_ref(p.number, _label(theme_of, p.idea_id), cfg))
                  for p in ranked[:3]]
    if empty_chair:
        next_steps.append(cfg.say("note_next_empty_chair"))
    if any(not pair.picks for pair in s.pairs):
        next_steps.append(cfg.say("note_next_unpicked"))
    edits = s.note_edits
    if edits.next_steps is not None:
        next_steps = _lines(edits.next_steps)
    meeting = None
    if edits.next_meeting is not None:
        meeting = NoteNextMeeting(date=edits.next_meeting, text=edits.next_meeting)
    elif s.next_meeting is not None:
        m = s.next_meeting
        text = cfg.say("note_next_meeting_topic", date=m.date, topic=m.topic) if m.topic else m.date
        meeting = NoteNextMeeting(date=m.date, topic=m.topic, text=text)
    by_number = {p.idea_id: p for p in proposals}
    summary = summarise(
        [(t.id, label_of[t.id], [SummaryIdea(id=i, text=idea.text, proposal=by_number[i].number if i in by_number
                                             else None, rank=by_number[i].rank if i in by_number else None)
                                 for i in t.idea_ids if (idea := s.idea(i)) is not None and not idea.withdrawn])
         for t in s.themes],
        len([p for p in proposals if p.rank is not None]), cfg.say)
    return _close_bidi_in(RoundUpNote(
        title=cfg.say("note_title", question=one_line(s.question, 80)),
        date=s.started_at.date(),
        question=s.question,
        structure=s.structure.name,
        skipped_phases=[s.structure.phases[n].title for n in s.skipped if n < len(s.structure.phases)],
        attributed=by_attr,
        key_points=key_points,
        summary=summary,
        summary_text=edits.summary,
        themes=[_theme_model(t) for t in s.themes],
        ideas=idea_models,
        proposals=proposals,
        ranking=ranking,
        general_comments=[with_author(c.text, c.author) for c in s.general_comments],
        empty_chair=empty_chair,
        reflections=[with_author(c.text, c.author) for c in s.reflections],
        participation=_participation(s, list(s.participants)),
        groups=[_group_model(s, g.id, g.name, cfg, g.id in withheld) for g in s.groups],
        next_steps=next_steps,
        next_meeting=meeting,
        edited_by_convenor=[k for k, v in edits.model_dump().items() if v is not None],
    ))



def _close_bidi_in(value: _T) -> _T:
    """Every text in the note with the bidi controls it opens closed at its end: note.json's points as well as
    note.md's, so no override spills into whatever a reader shows next to it."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            setattr(value, name, _close_bidi_in(getattr(value, name)))
        return value
    if isinstance(value, list):
        return [_close_bidi_in(v) for v in value]  # type: ignore[return-value]
    return close_bidi(value) if isinstance(value, str) else value  # type: ignore[return-value]


def _label(theme_of: dict[str, Theme], idea_id: str) -> str | None:
    theme = theme_of.get(idea_id)
    return theme.label if theme else None


def _ref(number: int, theme: str | None, cfg: EngineConfig) -> str:
    """How the note refers to a proposal outside its theme, where it stands in full."""
    if theme is None:
        return cfg.say("note_proposal_ref_bare", number=number)
    return cfg.say("note_proposal_ref", number=number, theme=one_line(theme, 80))


def _lines(text: str) -> list[str]:
    """The convenor's text as bullet lines: one per line, list markers dropped."""
    return [ln.strip().lstrip("-*\u2022 ").strip() for ln in text.splitlines() if ln.strip().lstrip("-*\u2022 ")]


def _theme_model(t: Theme) -> NoteTheme:
    return NoteTheme(id=t.id, label=t.label, idea_ids=list(t.idea_ids))


def _meeting_order(s: Session, proposals: list[NoteProposal]) -> list[NoteProposal]:
    """Best first for the whole meeting: by the session's ranking; with breakout groups and no plenary
    ballot, the groups' reported proposals round by round (each group's first, then each group's second)."""
    if s.groups and s.tally is None:
        by_id = {p.id: p for p in proposals}
        rounds = [ranked(s, g.id) for g in s.groups]
        wanted = set(s.reported) or set(by_id)
        order = [r[n].id for n in range(max(map(len, rounds), default=0)) for r in rounds if n < len(r)]
        return [by_id[i] for i in order if i in wanted] + [by_id[i] for i in order if i not in wanted]
    return sorted(proposals, key=lambda p: (p.rank is None, p.rank or 0, p.number))


def _small_groups(s: Session) -> set[str]:
    sizes = Counter(p.group for p in s.participants.values())
    return {g.id for g in s.groups if sizes[g.id] < MIN_GROUP_SHOWN}


def _group_model(s: Session, group: str, name: str, cfg: EngineConfig, withheld: bool) -> NoteGroup:
    if withheld:
        return NoteGroup(id=group, name=name, proposal_ids=[], ranking=None, participation=None, withheld=True)
    tally = s.group_tallies.get(group)
    o = s.options
    return NoteGroup(
        id=group, name=name, proposal_ids=[p.id for p in ranked(s, group)],
        ranking=cfg.say(f"note_method_{tally.method}", dots=o.dots, cap=o.dots_per_proposal) if tally else None,
        participation=_participation(s, [p for p, v in s.participants.items() if v.group == group]),
    )


def _participation(s: Session, people: list[str]) -> NoteParticipation:
    """Counts for these people (everyone, or one breakout group)."""
    who = set(people)
    live = [i for i in s.live_ideas() if i.author in who]
    count = Counter(i.author for i in live)
    per_person = sorted((count[p] for p in people), reverse=True)
    fifth = math.ceil(len(people) / 5) if people else 0
    share = sum(per_person[:fifth]) / len(live) if live else 0.0
    pairs = [p for p in s.pairs if set(p.members) & who]
    comments = [c for p in s.proposals for c in p.comments] + s.general_comments
    if s.group_tallies:  # each group's ballot; a plenary ballot is counted in the plenary's own figures
        groups = {s.group_of(p) for p in who}
        ballots = sum(t.ballots for g, t in s.group_tallies.items() if g in groups)
    else:
        ballots = s.tally.ballots if s.tally else len(s.ballots)
    return NoteParticipation(
        people=len(people), ideas=len(live), late_ideas=sum(1 for i in live if i.late),
        withdrawn_ideas=sum(1 for i in s.ideas if i.withdrawn and i.author in who), pairs=len(pairs),
        trios=sum(1 for p in pairs if len(p.members) == 3),
        pairs_without_pick=sum(1 for p in pairs if not p.picks), ballots=ballots,
        comments=sum(1 for c in comments if c.author in who),
        empty_chair_answers=sum(1 for a in s.empty_chair if a.author in who), most_active_fifth_people=fifth,
        most_active_fifth_share=round(share, 3),
    )


# Markdown that would make participant text live in a note viewer: raw HTML (`<img onerror=...>`, `<script>`),
# autolinks (`<javascript:...>`), links and images (`[x](javascript:...)`). Backslash-escaped, it shows as typed
# (CommonMark, and Discord); the Slack rendering reads the escapes back (adapters/slack/render.note_mrkdwn).
_MARKUP = re.compile(r"[\\<>\[\]]")


def _bullet(text: str) -> str:
    """A note point: participant text on one line, neutralised, its markup escaped and any bidi control closed."""
    return _MARKUP.sub(lambda m: "\\" + m.group(0), " ".join(neutralise(text).split()))


def render_markdown(note: RoundUpNote, cfg: EngineConfig, draft: bool) -> str:
    say = cfg.say
    out = [f"# {_bullet(note.title)}", ""]
    numbers = iter(range(1, 20))

    def heading(key: str) -> str:
        return f"## {next(numbers)}. {say(key)}"

    if draft:
        out += [say("note_draft_banner"), ""]
    month = say("note_months").split(",")[note.date.month - 1].strip()  # not %B: the system's locale is not the note's
    out += [say("note_meta", date=f"{note.date.day} {month} {note.date.year}", structure=note.structure),
            "", say("note_question", question=_bullet(note.question)), ""]
    if note.skipped_phases:
        out += [say("note_skipped", phases=", ".join(note.skipped_phases)), ""]

    out += [heading("note_h_summary"), ""]
    if note.summary_text is not None:
        out += [_bullet(line) for line in note.summary_text.splitlines()]
    elif note.summary:
        out += [say("note_summary_key"), ""] + [f"- {_bullet(p.text)}" for p in note.summary]
    else:
        out.append(say("note_no_points"))

    out += ["", heading("note_h_themes"), ""]
    by_id = {i.id: i for i in note.ideas}
    proposal = {p.idea_id: p for p in note.proposals}
    for theme in note.themes:
        out += [f"### {_bullet(theme.label)}", ""]
        for idea_id in theme.idea_ids:
            idea = by_id.get(idea_id)
            if idea is None:
                continue
            out.append(_idea_line(idea, proposal.get(idea_id), len(note.proposals), cfg))
        out.append("")
    if not note.themes:
        out += [say("note_no_ideas"), ""]
    if note.general_comments:
        out += [f"**{say('note_general_comments')}**", ""] + [f"- {_bullet(c)}" for c in note.general_comments]
        out.append("")

    if note.groups:
        out += _groups_section(note, heading("note_h_groups"), cfg)

    out += [heading("note_h_ranking"), ""]
    if note.ranking:
        r = note.ranking
        out += [say("note_ranking_intro", description=r.description, ballots=r.ballots), ""]
        out += [say("note_ranking_header"), "|---|---|---|---|"]
        for p in sorted((p for p in note.proposals if p.rank is not None), key=lambda p: p.rank or 0):
            theme = by_id[p.idea_id].theme if p.idea_id in by_id else None
            ref = _bullet(_ref(p.number, theme, cfg)).replace("|", "/")
            out.append(f"| {p.rank} | {ref[:1].upper() + ref[1:]} | {p.score} | {p.supporters} |")
        out.append("")
        if r.tie_breaks:
            out += [say("note_tie_rule", rule=r.tie_break_rule)] + [f"- {tb}" for tb in r.tie_breaks]
        else:
            out.append(say("note_no_ties"))
    else:
        out.append(say("note_ranked_in_groups" if note.groups else "note_not_ranked"))

    out += ["", heading("note_h_empty_chair"), ""]
    out += [f"- {_bullet(a)}" for a in note.empty_chair] or [say("note_no_empty_chair")]

    out += ["", heading("note_h_reflections"), ""]
    out += [f"- {_bullet(a)}" for a in note.reflections] or [say("note_no_reflections")]

    p = note.participation
    out += ["", heading("note_h_participation"), "",
            say("note_participation", people=p.people, ideas=p.ideas, late=p.late_ideas, pairs=p.pairs,
                trios=p.trios, unpicked=p.pairs_without_pick, ballots=p.ballots, comments=p.comments)]
    balance = balance_sentence(p, cfg)
    out += [balance] if balance else []

    out += ["", heading("note_h_next"), ""]
    out += [f"- {_bullet(s)}" for s in note.next_steps] or [say("note_no_next")]

    out += ["", heading("note_h_next_meeting"), ""]
    out.append(_bullet(note.next_meeting.text) if note.next_meeting else say("note_no_next_meeting"))
    if note.edited_by_convenor:
        parts = ", ".join(say(f"note_part_{k}") for k in note.edited_by_convenor)
        out += ["", say("note_edited_by_convenor", parts=parts)]
    return "\n".join(out).rstrip() + "\n"


def balance_sentence(p: NoteParticipation, cfg: EngineConfig) -> str:
    """Who wrote how much, in words that fit the numbers (no "1 of 1 people wrote 100%")."""
    if p.ideas == 0 or p.people == 0:
        return ""
    share = round(p.most_active_fifth_share * 100)
    if p.people == 1:
        return cfg.say("note_balance_alone")
    if p.most_active_fifth_people == 1:
        return cfg.say("note_balance_one", people=p.people, share=share)
    return cfg.say("note_balance", fifth=p.most_active_fifth_people, people=p.people, share=share)


def _idea_line(idea: NoteIdea, proposal: NoteProposal | None, of: int, cfg: EngineConfig) -> str:
    text = _bullet(idea.text)
    by = f" ({_bullet(idea.author)})" if idea.author else ""
    late = cfg.say("note_late_mark") if idea.late else ""
    line = f"- {text}{by}{late}"
    if proposal is not None:
        if proposal.rank:
            rank = cfg.say("note_rank_mark", rank=proposal.rank, of=of, score=proposal.score)
        elif proposal.group_rank:
            rank = cfg.say("note_group_rank_mark", rank=proposal.group_rank, score=proposal.group_score)
        else:
            rank = ""
        mark = cfg.say("note_proposal_mark", number=proposal.number)
        if proposal.group:
            mark = cfg.say("note_proposal_group_mark", number=proposal.number, group=proposal.group)
        line = f"- **{mark}{rank}** {text}{by}{late}"
        if proposal.reason:
            line += "\n  " + cfg.say("note_reason", reason=_bullet(proposal.reason))
        for c in proposal.comments:
            line += "\n  " + cfg.say("note_comment", comment=_bullet(c))
    for edit in idea.later_edits:
        line += "\n  " + cfg.say("note_later_edit", text=_bullet(edit))
    return line


def _groups_section(note: RoundUpNote, heading: str, cfg: EngineConfig) -> list[str]:
    """One short part per breakout group: its proposals in its own order, and who took part."""
    say = cfg.say
    by_id = {p.id: p for p in note.proposals}
    out = [heading, ""]
    for group in note.groups:
        p = group.participation
        if p is None:
            out += [f"### {_bullet(group.name)}", "", say("note_group_withheld", min=MIN_GROUP_SHOWN), ""]
            continue
        out += [f"### {_bullet(group.name)}", "",
                say("note_group_people", people=p.people, ideas=p.ideas, pairs=p.pairs, ballots=p.ballots,
                    share=round(p.most_active_fifth_share * 100))]
        if group.ranking:
            out.append(group.ranking)
        out.append("")
        for n, pid in enumerate(group.proposal_ids, start=1):
            prop = by_id[pid]
            score = say("note_group_score", score=prop.group_score) if prop.group_score is not None else ""
            reported = say("note_reported_mark") if prop.reported else ""
            out.append(f"{n}. {_bullet(prop.text)}{score}{reported}")
        if not group.proposal_ids:
            out.append(say("note_group_no_proposals"))
        out.append("")
    return out


def note_file_stem(title: str) -> str:
    """The note's file name without its extension, the same on every platform: the title in lower case,
    letters and digits kept, the rest turned into single hyphens (`round-up-what-should-we-change-first`)."""
    stem = "".join(ch if ch.isalnum() else "-" for ch in title.lower()).strip("-")
    while "--" in stem:
        stem = stem.replace("--", "-")
    return stem[:60].rstrip("-") or "note"
