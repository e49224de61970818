"""Themes for Arrange and the note: proposed by grouping, corrected by the facilitator, whose edits win."""

from __future__ import annotations

from facilitation.config import EngineConfig
from facilitation.errors import ThemeEditError
from facilitation.grouping import GroupItem, group_ideas
from facilitation.models import Session, Theme, ThemeEdit


def ordered_idea_ids(s: Session) -> list[str]:
    """Proposals first (in ranked order once there is a tally), then every other live idea."""
    proposals = {p.id: p.idea_id for p in s.proposals}
    lead = [proposals[r.proposal_id] for r in s.tally.rows] if s.tally else list(proposals.values())
    live = [i.id for i in s.live_ideas()]
    lead = [i for i in lead if i in live]
    return lead + [i for i in live if i not in lead]


def regroup(s: Session, cfg: EngineConfig) -> None:
    """Propose themes for every live idea, then replay the facilitator's edits on top."""
    lead = {p.idea_id for p in s.proposals}
    items = [GroupItem(id=i, text=s.idea(i).text, lead=i in lead) for i in ordered_idea_ids(s)]  # type: ignore[union-attr]
    drafts = group_ideas(items, cfg.embed)
    s.themes = [Theme(id=f"t{n}", label=d.label, idea_ids=d.item_ids) for n, d in enumerate(drafts, start=1)]
    for edit in s.theme_edits:
        try:
            apply_edit(s, edit)
        except ThemeEditError:
            continue  # an edit about ideas since withdrawn no longer applies


def place_newcomers(s: Session, label: str) -> None:
    """Ideas that arrived after the themes were confirmed go under a theme of their own, never lost."""
    placed = {i for t in s.themes for i in t.idea_ids}
    missing = [i.id for i in s.live_ideas() if i.id not in placed]
    if missing:
        s.themes.append(Theme(id=f"t{_next_id(s)}", label=label, idea_ids=missing))
    live = {i.id for i in s.live_ideas()}
    for theme in s.themes:
        theme.idea_ids = [i for i in theme.idea_ids if i in live]
    s.themes = [t for t in s.themes if t.idea_ids]


def _next_id(s: Session) -> int:
    return max((int(t.id[1:]) for t in s.themes), default=0) + 1


def _theme(s: Session, theme_id: str) -> Theme:
    found = next((t for t in s.themes if t.id == theme_id), None)
    if found is None:
        raise ThemeEditError("theme_unknown", theme=theme_id.lstrip("t"))
    return found


def apply_edit(s: Session, edit: ThemeEdit) -> None:
    theme = _theme(s, edit.theme)
    if edit.op == "rename":
        theme.label = edit.label or theme.label
        return
    if edit.op == "merge":
        other = _theme(s, edit.other or "")
        if other is theme:
            raise ThemeEditError("theme_merge_self")
        theme.idea_ids += other.idea_ids
        s.themes.remove(other)
        return
    known = {i for t in s.themes for i in t.idea_ids}
    for idea in edit.ideas:
        if idea not in known:
            raise ThemeEditError("theme_idea_unknown", idea=idea.lstrip("i"))
    if edit.op == "move":
        target = _theme(s, edit.other or "")
        for t in s.themes:
            t.idea_ids = [i for i in t.idea_ids if i not in edit.ideas]
        target.idea_ids += edit.ideas
    else:  # split: the named ideas leave `theme` for a new theme
        if not edit.ideas or any(i not in theme.idea_ids for i in edit.ideas):
            raise ThemeEditError("theme_split_not_in", theme=theme.id.lstrip("t"))
        theme.idea_ids = [i for i in theme.idea_ids if i not in edit.ideas]
        s.themes.insert(s.themes.index(theme) + 1,
                        Theme(id=f"t{_next_id(s)}", label=edit.label or theme.label + " (2)", idea_ids=edit.ideas))
    s.themes = [t for t in s.themes if t.idea_ids]
