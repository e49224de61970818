"""The note's summary of key points: one or two sentences per leading theme, built from the ideas themselves.

Each sentence is the bot's frame around participants' own words: the theme's best-ranked proposal (or, without
one, its most central idea) and the most central of the rest, quoted. The frame is in config/messages; the
quotes are marked as quotes, so a reader can tell whose words are whose.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from pydantic import BaseModel

from facilitation.grouping_text import content_stems

MAX_THEMES = 5  # the human notes' summaries have three to five points
QUOTE_WORDS = 14  # a quote is the opening of an idea; the idea is in full under its theme


class SummaryIdea(BaseModel):
    id: str
    text: str
    proposal: int | None = None  # its proposal number, if it became one
    rank: int | None = None


class SummaryPoint(BaseModel):
    theme_id: str
    label: str
    text: str  # the sentences as shown (Markdown-free apart from the quote marks)
    quotes: list[str]  # participants' words quoted in `text`
    idea_ids: list[str]  # the ideas quoted, lead first


def central_order(ideas: list[SummaryIdea]) -> list[SummaryIdea]:
    """Ideas ordered by how much of their wording the others share (cosine of content-word sets), most
    central first; ties keep the theme's order."""
    stems = [set(content_stems(i.text)) for i in ideas]

    def centrality(n: int) -> float:
        a = stems[n]
        return sum(len(a & b) / math.sqrt(len(a) * len(b)) for m, b in enumerate(stems) if m != n and a and b)

    scores = [centrality(n) for n in range(len(ideas))]
    return [ideas[n] for n in sorted(range(len(ideas)), key=lambda n: (-scores[n], n))]


def quote(text: str) -> str:
    words = text.split()
    cut = " ".join(words[:QUOTE_WORDS])
    return cut if len(words) <= QUOTE_WORDS else cut.rstrip(".,;:") + "\u2026"


def summarise(themes: list[tuple[str, str, list[SummaryIdea]]], proposals: int,
              say: Callable[..., str]) -> list[SummaryPoint]:
    """`themes`: (id, label, ideas) in the note's order. Leading themes are those with a proposal or at least
    two ideas (at most MAX_THEMES); when none is, the first themes."""
    leading = [th for th in themes if len(th[2]) >= 2 or any(i.proposal for i in th[2])][:MAX_THEMES]
    points = []
    for theme_id, label, ideas in leading or themes[:3]:
        ranked = sorted((i for i in ideas if i.proposal), key=lambda i: (i.rank is None, i.rank or 0))
        order = central_order(ideas)
        lead = ranked[0] if ranked else order[0]
        rest = [i for i in order if i.id != lead.id]
        quotes = [quote(lead.text)]
        if lead.proposal and lead.rank:
            text = say("note_summary_proposal_ranked", label=label, number=lead.proposal, rank=lead.rank,
                       of=proposals, quote=quotes[0])
        elif lead.proposal:
            text = say("note_summary_proposal", label=label, number=lead.proposal, quote=quotes[0])
        else:
            text = say("note_summary_idea", label=label, quote=quotes[0])
        if rest:
            quotes.append(quote(rest[0].text))
            key = "note_summary_support_one" if len(rest) == 1 else "note_summary_support"
            text += " " + say(key, count=len(rest), quote=quotes[1])
        points.append(SummaryPoint(theme_id=theme_id, label=label, text=text, quotes=quotes,
                                   idea_ids=[lead.id] + [i.id for i in rest[:1]]))
    return points
