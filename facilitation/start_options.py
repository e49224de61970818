"""The options of `start`, defined once: each option's word, the values it takes, its bounds, and where its words
live in config/messages (`start_<key>` labels the option, `start_<key>_<value>` each value).

Everything that offers or reads the options is derived from START_OPTIONS: the typed parser (bot/commands.py),
the Slack start modal and the Discord start form (both built by `start_form` as a neutral `Form`), and the
Discord slash command's options. Adapters get the options with their words as data (`StartMenu`), made by
`start_menu` from a messages catalogue; they never read config themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

from facilitation.effects import Choice, Form, FormField
from facilitation.models import Options, VotingMethod

OptionKind = Literal["structure", "choice", "whole", "switch", "person", "people", "minutes", "language"]
QUESTION_MAX = 500
SWITCH_ON = "on"  # the value of a switch's one checkbox when it is ticked


class StartOption(BaseModel):
    """One `start` option: `key=value` typed, or a field of a start form."""

    model_config = ConfigDict(frozen=True)

    key: str  # the word people type (`voting=borda`) and the form field's id
    kind: OptionKind
    field: str | None = None  # the `Options` field it sets; None: the start request's own (structure, convenor)
    values: tuple[str, ...] = ()  # a choice's words
    low: float | None = None  # bounds of a number (minutes: of each phase's)
    high: float | None = None
    aliases: tuple[str, ...] = ()  # other words accepted when typed
    true_value: str | None = None  # a choice stored as a yes/no field: the value that means yes


def _choices(field: str) -> tuple[str, ...]:
    return get_args(Options.model_fields[field].annotation)


START_OPTIONS: tuple[StartOption, ...] = (
    StartOption(key="structure", kind="structure"),
    StartOption(key="voting", kind="choice", field="voting", values=get_args(VotingMethod)),
    StartOption(key="dots", kind="whole", field="dots", low=1, high=100),
    StartOption(key="dots_per_proposal", kind="whole", field="dots_per_proposal", low=1, high=100),
    StartOption(key="picks", kind="whole", field="picks_per_pair", low=1, high=20),
    StartOption(key="ideas", kind="whole", field="ideas_per_person", low=0, high=1000),
    StartOption(key="own", kind="choice", field="own_private", values=("private", "open"), true_value="private"),
    StartOption(key="attribution", kind="switch", field="attribution"),
    StartOption(key="convenor", kind="person"),
    StartOption(key="cofacilitators", kind="people", aliases=("cofacilitator",)),
    StartOption(key="minutes", kind="minutes", field="minutes", low=0.01, high=240),
    StartOption(key="groups", kind="whole", field="groups", low=0, high=50),
    StartOption(key="group_size", kind="whole", field="group_size", low=0, high=100),
    StartOption(key="assign", kind="choice", field="assign", values=_choices("assign")),
    StartOption(key="plenary", kind="switch", field="plenary_ballot"),
    StartOption(key="closing", kind="switch", field="closing_round"),
    StartOption(key="language", kind="language", field="language"),
)
BY_KEY: dict[str, StartOption] = {o.key: o for o in START_OPTIONS} | {
    alias: o for o in START_OPTIONS for alias in o.aliases
}


class MenuOption(BaseModel):
    """An option with its words in one language, as a platform offers it."""

    key: str
    kind: OptionKind
    label: str
    choices: list[Choice] = []  # a choice's values with their labels; a switch's one checkbox
    low: float | None = None
    high: float | None = None


class StartMenu(BaseModel):
    """What a platform needs to offer `start`: the options and the start form's own words, in one language."""

    title: str
    submit: str
    cancel: str
    question: str
    structure_default: str  # the structure field's label says which one applies when it is left empty
    minutes_example: str  # the one-line minutes field (`own:5,pair:8`)
    phase_minutes: str  # a per-phase minutes field: "{phase}: minutes"
    options: dict[str, MenuOption]

    def __getitem__(self, key: str) -> MenuOption:
        return self.options[key]

    def structure_label(self, key: str, description: str) -> str:
        return f"{key}: {description}" if description else key


def start_menu(say: Callable[..., str]) -> StartMenu:
    """The options with their words from `say` (an `EngineConfig.say`: config/messages in one language)."""
    options = {}
    for o in START_OPTIONS:
        words = o.values or ((SWITCH_ON,) if o.kind == "switch" else ())
        options[o.key] = MenuOption(key=o.key, kind=o.kind, label=say(f"start_{o.key}"), low=o.low, high=o.high,
                                    choices=[Choice(value=v, label=say(f"start_{o.key}_{v}")) for v in words])
    return StartMenu(title=say("start_form_title"), submit=say("start_form_submit"), cancel=say("form_cancel"),
                     question=say("start_question"), structure_default=say("start_structure_default"),
                     minutes_example=say("start_minutes_example"),
                     phase_minutes=say("start_phase_minutes", phase="{phase}"),  # filled in per phase
                     options=options)


def start_form(menu: StartMenu, keys: Sequence[str], structures: Mapping[str, str], initial: Mapping[str, str],
               phases: Sequence[tuple[str, str, float]] = ()) -> Form:
    """The start form with the question and the options `keys`, in that order, as a neutral `Form` every adapter
    renders. `initial` holds the values it starts with; `phases` (kind, title, minutes) asks the minutes of each
    phase in a number field of its own, else `minutes` is one line of text."""
    fields = [FormField(id="question", label=menu.question, kind="long_text", max_chars=QUESTION_MAX)]
    for key in keys:
        o = menu[key]
        common: dict[str, Any] = {"id": key, "label": o.label, "required": False, "initial": initial.get(key)}
        if o.kind == "structure" and structures:
            choices = [Choice(value=k, label=menu.structure_label(k, v)) for k, v in structures.items()]
            fields.append(FormField(kind="select", choices=choices, **common))
        elif o.kind == "structure":
            fields.append(FormField(kind="text", **{**common, "label": menu.structure_default}))
        elif o.kind == "choice":
            fields.append(FormField(kind="select", choices=o.choices, **common))
        elif o.kind == "whole":
            fields.append(FormField(kind="number", min_value=o.low, max_value=o.high, **common))
        elif o.kind in ("switch", "person", "people"):
            fields.append(FormField(kind=o.kind, choices=o.choices, **common))
        elif o.kind == "minutes" and phases:
            fields += [FormField(id=f"minutes_{kind}", label=menu.phase_minutes.format(phase=title), kind="number",
                                 decimal=True, min_value=0.5, max_value=o.high, required=False, initial=f"{minutes:g}")
                       for kind, title, minutes in phases]
        elif o.kind == "minutes":
            fields.append(FormField(kind="text", **{**common, "label": menu.minutes_example}))
        else:
            fields.append(FormField(kind="text", **common))
    return Form(title=menu.title, submit_label=menu.submit, fields=fields)


def form_answers(values: Mapping[str, str | list[str] | bool]) -> dict[str, Any]:
    """A submitted start form as start options (the keys `parse_start` reads); empty answers are left out, so
    the defaults apply. Numbers stay text: the parser checks them and answers a bad one clearly."""
    out: dict[str, Any] = {}
    minutes: dict[str, str] = {}
    for key, value in values.items():
        option = BY_KEY.get(key)
        if key.startswith("minutes_"):
            if str(value).strip():
                minutes[key.removeprefix("minutes_")] = str(value).strip()
        elif option is not None and option.kind == "switch":
            out[key] = value is True or (isinstance(value, list) and SWITCH_ON in value) or value == SWITCH_ON
        elif option is not None and option.kind == "people" and isinstance(value, list):
            if value:
                out[key] = list(value)
        elif option is not None and option.kind == "minutes" and str(value).strip():
            out[key] = _minutes_line(str(value))
        elif not isinstance(value, bool) and (text := (" ".join(value) if isinstance(value, list) else value).strip()):
            out[key] = text
    if minutes:
        out["minutes"] = minutes
    return out


def _minutes_line(text: str) -> str | dict[str, str]:
    """`own:5, pair:8` as {kind: minutes}; anything else as typed, for the parser to explain."""
    pairs = [part.split(":", 1) for part in text.replace(" ", "").split(",") if part]
    if pairs and all(len(p) == 2 for p in pairs):
        return {kind.lower(): value for kind, value in pairs}
    return text.strip()
