"""Engine forms as Discord modals, within Discord's limits, and remembered across restarts.

Limits handled here: a modal holds at most 5 components (longer forms become several modals, one
after the other, joined by an ephemeral "Continue" button); a select offers at most 25 options (a
longer choice list becomes several selects whose picks are merged); labels are at most 45 characters
(the rest goes in the description). A button's custom id has no room for its form, so the form is
kept, per message and button, in a FormBook (adapters/formbook.py).
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import discord

from adapters.words import Say
from facilitation.effects import Form, FormField

MODAL_COMPONENTS = 5
SELECT_OPTIONS = 25
LABEL_CHARS = 45
DESCRIPTION_CHARS = 100
TITLE_CHARS = 45

Values = dict[str, str | list[str]]
OnSubmitted = Callable[[discord.Interaction, Values], Awaitable[None]]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def expand(fields: list[FormField]) -> list[FormField]:
    """Split choice fields with more than 25 options into several selects (`id#1`, `id#2`, ...)."""
    out: list[FormField] = []
    for f in fields:
        if f.kind not in ("select", "multi_select") or len(f.choices) <= SELECT_OPTIONS:
            out.append(f)
            continue
        chunks = [f.choices[i : i + SELECT_OPTIONS] for i in range(0, len(f.choices), SELECT_OPTIONS)]
        for n, chunk in enumerate(chunks, start=1):
            label = f"{f.label} ({n}/{len(chunks)})"
            # Any one part may be left empty; the merged answer is checked by the engine.
            out.append(f.model_copy(update={"id": f"{f.id}#{n}", "label": label, "choices": chunk, "required": False}))
    return out


def steps(form: Form) -> list[list[FormField]]:
    fields = expand(form.fields)
    return [fields[i : i + MODAL_COMPONENTS] for i in range(0, len(fields), MODAL_COMPONENTS)] or [[]]


def merge(form: Form, raw: Values) -> Values:
    """Join the parts of split selects back into the form's own field ids and value shapes."""
    out: Values = {}
    for f in form.fields:
        if f.id in raw:
            out[f.id] = raw[f.id]
            continue
        keys = sorted((k for k in raw if k.startswith(f.id + "#")), key=lambda k: int(k.rsplit("#", 1)[1]))
        parts = [raw[k] for k in keys]
        if not parts:
            continue
        picked = [v for p in parts for v in (p if isinstance(p, list) else [p]) if v]
        out[f.id] = picked if f.kind == "multi_select" or len(picked) > 1 else (picked[0] if picked else "")
    return out


def _component(f: FormField, say: Say) -> discord.ui.Item:
    if f.kind in ("select", "multi_select"):
        options = [discord.SelectOption(label=_cut(c.label or c.value, 100), value=c.value) for c in f.choices]
        most = len(options) if f.kind == "multi_select" else 1
        if f.kind == "multi_select" and f.max_selected:
            most = min(most, f.max_selected)
        return discord.ui.Select(
            custom_id=f.id, options=options, min_values=1 if f.required else 0, max_values=max(most, 1),
            required=f.required,
        )
    placeholder = None
    if f.kind == "number":
        low = 0 if f.min_value is None else f.min_value
        placeholder = f"{low:g}\u2013{f.max_value:g}" if f.max_value is not None else say("form_number_hint")
    return discord.ui.TextInput(
        custom_id=f.id,
        style=discord.TextStyle.paragraph if f.kind == "long_text" else discord.TextStyle.short,
        required=f.required,
        default=f.initial,
        placeholder=placeholder,
        max_length=4000 if f.kind == "long_text" else (6 if f.kind == "number" else 1000),
    )


class StepModal(discord.ui.Modal):
    """One page of a form: up to five labelled inputs."""

    def __init__(self, title: str, fields: list[FormField], on_submitted: OnSubmitted, say: Say) -> None:
        super().__init__(title=_cut(title, TITLE_CHARS), custom_id=f"opm|{os.urandom(8).hex()}", timeout=900)
        self._on_submitted = on_submitted
        self._inputs: list[tuple[FormField, discord.ui.Item]] = []
        for f in fields:
            component = _component(f, say)
            description = _cut(f.label, DESCRIPTION_CHARS) if len(f.label) > LABEL_CHARS else None
            self.add_item(discord.ui.Label(text=_cut(f.label, LABEL_CHARS), description=description,
                                           component=component))
            self._inputs.append((f, component))

    def values(self) -> Values:
        out: Values = {}
        for f, component in self._inputs:
            if isinstance(component, discord.ui.Select):
                chosen = [str(v) for v in component.values]
                out[f.id] = chosen if f.kind == "multi_select" else (chosen[0] if chosen else "")
            elif isinstance(component, discord.ui.TextInput):
                out[f.id] = component.value or ""
        return out

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self._on_submitted(interaction, self.values())


# Continue buttons of multi-page forms still waiting to be pressed, by token (the oldest dropped past a cap).
_WAITING: OrderedDict[str, tuple[FormFlow, int]] = OrderedDict()
_WAITING_CAP = 2000


class ContinueButton(discord.ui.DynamicItem[discord.ui.Button], template=re.compile(r"opc\|(?P<token>[0-9a-f]{16})")):
    """Opens the next page of a form. Registered with the client, so a press after a restart still gets an
    answer: a clear message instead of Discord's bare "This interaction failed"."""

    def __init__(self, token: str, label: str = "\u2026") -> None:
        super().__init__(discord.ui.Button(label=label, style=discord.ButtonStyle.primary, custom_id=f"opc|{token}"))
        self.token = token

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> ContinueButton:
        return cls(match["token"], label=item.label or "\u2026")

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        waiting = _WAITING.get(self.token)
        if waiting is None:
            say: Say = interaction.client.listener.say  # type: ignore[attr-defined]  # registered by OperaClient
            await interaction.response.send_message(say("form_expired"), ephemeral=True,
                                                    allowed_mentions=discord.AllowedMentions.none())
            return
        flow, index = waiting
        await interaction.response.send_modal(flow.modal(index, self.token))


class FormFlow:
    """Walks one person through a form's pages; calls `done` with the merged values after the last."""

    def __init__(self, form: Form, done: OnSubmitted, say: Say) -> None:
        self.form = form
        self.pages = steps(form)
        self._done = done
        self._say = say
        self._values: Values = {}

    def modal(self, index: int, token: str | None = None) -> StepModal:
        title = self.form.title if len(self.pages) == 1 else f"{self.form.title} ({index + 1}/{len(self.pages)})"

        async def submitted(interaction: discord.Interaction, values: Values) -> None:
            if token is not None:
                _WAITING.pop(token, None)  # this page is in: its Continue button has done its work
            self._values.update(values)
            if index + 1 < len(self.pages):
                await self._offer_next(interaction, index + 1)
            else:
                await self._done(interaction, merge(self.form, self._values))

        return StepModal(title, self.pages[index], submitted, self._say)

    async def _offer_next(self, interaction: discord.Interaction, index: int) -> None:
        # A modal cannot answer a modal: an ephemeral button opens the next page.
        token = os.urandom(8).hex()
        _WAITING[token] = (self, index)
        while len(_WAITING) > _WAITING_CAP:
            _WAITING.popitem(last=False)
        view = discord.ui.View(timeout=900)  # the button itself is registered with the client and outlives this
        view.add_item(ContinueButton(token, self._say("form_continue", part=index + 1, parts=len(self.pages))))
        await interaction.response.send_message(
            self._say("form_part_saved", part=index, parts=len(self.pages)), view=view, ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def start(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(self.modal(0))
