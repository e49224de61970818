"""Arrange: every idea grouped into themes, proposals first; the facilitator corrects, then confirms."""

from __future__ import annotations

import re

from facilitation.effects import Action, Choice, Form, FormField
from facilitation.errors import ThemeEditError
from facilitation.events import ActionTaken, CommandGiven
from facilitation.ideas import number
from facilitation.models import ThemeEdit
from facilitation.phases.base import PhaseRules
from facilitation.text import is_blank, one_line
from facilitation.themes import apply_edit, regroup
from facilitation.turn import Turn

OPS = ("rename", "move", "merge", "split")


def themes_text(t: Turn) -> str:
    s = t.s
    proposal_of = {p.idea_id: p for p in s.proposals}
    limit = t.cfg.limits.preview_chars
    blocks = []
    for theme in s.themes:
        lines = [t.say("theme_heading", number=theme.id.lstrip("t"), label=one_line(theme.label, 80))]
        for idea_id in theme.idea_ids:
            idea = s.idea(idea_id)
            mark = t.say("theme_proposal_mark") if idea_id in proposal_of else ""
            lines.append(f"  {number(idea_id)} {mark}{one_line(idea.text if idea else '', limit)}")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def _edit_form(t: Turn) -> Form:
    return Form(
        title=t.say("form_theme_title"),
        submit_label=t.say("form_theme_submit"),
        fields=[
            FormField(id="op", label=t.say("form_theme_op"), kind="select",
                      choices=[Choice(value=op, label=t.say(f"theme_op_{op}")) for op in OPS]),
            FormField(id="theme", label=t.say("form_theme_theme"), kind="text"),
            FormField(id="ideas", label=t.say("form_theme_ideas"), kind="text", required=False),
            FormField(id="other", label=t.say("form_theme_other"), kind="text", required=False),
            FormField(id="label", label=t.say("form_theme_label"), kind="text", required=False),
        ],
    )


def _numbers(text: str, prefix: str) -> list[str]:
    # ASCII digits only, as everywhere (facilitation/numbers.py): "²" or "٣" is no theme or idea number.
    return [prefix + n for n in re.findall(r"[0-9]+", text)]


def parse_edit(args: str) -> ThemeEdit:
    """`rename 2 New label`, `move 5 6 to 2`, `merge 2 3`, `split 2 5 6 : New label`."""
    op, _, rest = args.strip().partition(" ")
    op = op.lower()
    if op not in OPS:
        raise ThemeEditError("theme_usage")
    if op == "rename":
        m = re.match(r"\s*#?([0-9]+)\s+(.+)$", rest, re.S)
        if not m or is_blank(m.group(2)):
            raise ThemeEditError("theme_usage")
        return ThemeEdit(op=op, theme="t" + m.group(1), label=m.group(2).strip())
    if op == "merge":
        nums = _numbers(rest, "t")
        if len(nums) != 2:
            raise ThemeEditError("theme_usage")
        return ThemeEdit(op=op, theme=nums[0], other=nums[1])
    if op == "move":
        ideas_part, sep, target = rest.rpartition(" to ")
        if not sep:
            raise ThemeEditError("theme_usage")
        ideas, theme = _numbers(ideas_part, "i"), _numbers(target, "t")
        if not ideas or len(theme) != 1:
            raise ThemeEditError("theme_usage")
        return ThemeEdit(op=op, theme=theme[0], other=theme[0], ideas=ideas)
    numbers_part, _, label = rest.partition(":")
    nums = re.findall(r"[0-9]+", numbers_part)
    if len(nums) < 2:
        raise ThemeEditError("theme_usage")
    return ThemeEdit(op=op, theme="t" + nums[0], ideas=["i" + n for n in nums[1:]], label=label.strip() or None)


def _form_to_args(values: dict[str, str | list[str]]) -> str:
    get = {k: (" ".join(v) if isinstance(v, list) else v).strip() for k, v in values.items()}
    op = get.get("op", "")
    theme, ideas, other, label = get.get("theme", ""), get.get("ideas", ""), get.get("other", ""), get.get("label", "")
    return {
        "rename": f"rename {theme} {label}",
        "merge": f"merge {theme} {other}",
        "move": f"move {ideas} to {other or theme}",
        "split": f"split {theme} {ideas} : {label}",
    }.get(op, op)


class Arrange(PhaseRules):
    kind = "arrange"

    def open(self, t: Turn) -> None:
        s = t.s
        regroup(s, t.cfg)
        self._show(t, f"phase{s.phase_index}:open")

    def _show(self, t: Turn, key: str | None = None) -> None:
        s = t.s
        if not s.themes:
            t.to_plenary(t.say("arrange_none"), key=key)
            return
        facilitators = [s.facilitator, *s.cofacilitators]
        actions = [
            Action(id="edit_themes", label=t.say("button_edit_themes"), form=_edit_form(t), only_for=facilitators),
            Action(id="confirm_themes", label=t.say("button_confirm_themes"), style="primary",
                   only_for=facilitators),
        ]
        t.to_plenary(t.say("arrange_open", themes=themes_text(t), minutes=t.minutes_left()), actions, key=key)

    def nothing_to_do(self, t: Turn) -> bool:
        return not t.s.themes

    def on_action(self, t: Turn, ev: ActionTaken) -> bool:
        if ev.action == "edit_themes":
            self._edit(t, ev.person, _form_to_args(ev.values))
            return True
        return False

    def on_command(self, t: Turn, ev: CommandGiven) -> bool:
        if ev.command != "theme":
            return False
        self._edit(t, ev.person, ev.args)
        return True

    def _edit(self, t: Turn, person: str, args: str) -> None:
        s = t.s
        if not s.is_facilitator(person):
            t.to_person(person, t.say("not_facilitator"))
            return
        try:
            edit = parse_edit(args)
            if edit.label:
                edit.label = one_line(edit.label, t.cfg.limits.label_chars)
            apply_edit(s, edit)
        except ThemeEditError as err:
            t.to_person(person, t.say(err.key, **err.values))
            return
        s.theme_edits.append(edit)
        self._show(t)

    def close(self, t: Turn) -> None:
        t.s.themes_confirmed = True
        if t.s.themes:
            t.to_plenary(t.say("arrange_confirmed", count=len(t.s.themes)))
