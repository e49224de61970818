"""The bot's typed command (`/opera ...` on every platform): splitting it and reading `start` options."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from facilitation.errors import Fixable
from facilitation.models import Options, Structure
from facilitation.numbers import decimal, whole
from facilitation.start_options import BY_KEY, QUESTION_MAX, START_OPTIONS, StartOption
from facilitation.text import is_blank, one_line

_OPTION = re.compile(r"^(\w+)=(\S+)$")
_PERSON = re.compile(r"<@!?([A-Za-z0-9]+)(?:\|[^>]*)?>|^@?([\w.\-]+)$")


class CommandError(Fixable):
    """A command or start form the user must correct: `key` names the config/messages sentence that says how."""


class StartRequest(BaseModel):
    question: str
    structure: str | None = None
    convenor: str | None = None
    cofacilitators: list[str] = []
    option_updates: dict[str, Any] = {}
    # A start form offers minutes for the default structure's phases; another structure ignores the rest.
    minutes_from_form: bool = False


def split(text: str) -> tuple[str, str]:
    """`"extend 5"` -> `("extend", "5")`; the command word is lower-cased."""
    word, _, rest = text.strip().partition(" ")
    return word.lower().lstrip("/"), rest.strip()


def _person(value: str) -> str:
    m = _PERSON.search(value.strip())
    if not m:
        raise CommandError("start_not_a_person", value=_quoted(value))
    return m.group(1) or m.group(2)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("on", "yes", "true", "1"):
        return True
    if str(value).lower() in ("off", "no", "false", "0"):
        return False
    raise CommandError("start_not_on_off", value=_quoted(value))


def _minutes(value: Any, low: float, high: float) -> dict[str, float]:
    if isinstance(value, dict):
        pairs = [(str(k), v) for k, v in value.items()]
    else:
        pairs = [tuple(part.split(":", 1)) if ":" in part else (part, "") for part in str(value).split(",") if part]
    out: dict[str, float] = {}
    for kind, minutes in pairs:
        kind = _quoted(kind)
        if not minutes:
            raise CommandError("start_minutes_colon", phase=kind)
        m = decimal(minutes, low, high)
        if m is None:
            raise CommandError("start_minutes_range", phase=kind, low=f"{low:g}", high=f"{high:g}")
        out[kind.strip().lower()] = m
    return out


def _quoted(text: object) -> str:
    """Something the user typed, shortened and neutralised to quote back in an error."""
    return one_line(str(text), 40)


def _value(option: StartOption, value: Any) -> Any:
    """A typed or submitted value of `option` as its `Options` field takes it."""
    if option.kind == "choice":
        word = str(value).lower()
        if word not in option.values:
            raise CommandError("start_choice", option=option.key, first=", ".join(option.values[:-1]),
                               last=option.values[-1])
        return word == option.true_value if option.true_value else word
    if option.kind == "whole":
        assert option.low is not None and option.high is not None
        n = whole(value, int(option.low), int(option.high))
        if n is None:
            raise CommandError("start_whole", option=option.key, low=f"{option.low:g}", high=f"{option.high:g}")
        return n
    if option.kind == "switch":
        return _bool(value)
    if option.kind == "minutes":
        assert option.low is not None and option.high is not None
        return _minutes(value, option.low, option.high)
    return str(value).lower()  # language: checked against the installed catalogues by the runtime


def parse_start(args: str, form: dict[str, Any]) -> StartRequest:
    """`start [voting=borda] [own=open] [dots=5] [convenor=@x] [minutes=own:3,pair:5] Question...`,
    or the same keys from a platform's start form (which win over typed ones): the options of START_OPTIONS."""
    words = args.split()
    typed: dict[str, Any] = {}
    while words and (m := _OPTION.match(words[0])):
        typed[m.group(1).lower()] = m.group(2)
        words.pop(0)
    given = {**typed, **{k: v for k, v in form.items() if v not in (None, "", [])}}
    question = str(given.pop("question", " ".join(words))).strip()
    if is_blank(question):
        raise CommandError("start_no_question")
    if len(question) > QUESTION_MAX:
        raise CommandError("start_question_too_long", length=len(question), limit=QUESTION_MAX)
    req = StartRequest(question=question)
    updates: dict[str, Any] = {}
    for key, value in given.items():
        option = BY_KEY.get(key)
        if option is None:
            raise CommandError("start_unknown_option", option=_quoted(key),
                               options=", ".join(o.key for o in START_OPTIONS))
        if option.kind == "structure":
            req.structure = str(value).lower()
        elif option.kind == "person":
            req.convenor = _person(str(value))
        elif option.kind == "people":
            items = value if isinstance(value, list) else str(value).split(",")
            req.cofacilitators = [_person(v) for v in items if str(v).strip()]
        elif option.field is not None:
            updates[option.field] = _value(option, value)
    req.option_updates = updates
    req.minutes_from_form = "minutes" in form and "minutes" not in typed
    return req


def build_options(base: Options, updates: dict[str, Any], structure: Structure, lenient: bool = False) -> Options:
    try:
        options = Options.model_validate({**base.model_dump(), **updates})
    except ValidationError as exc:  # only settings can get here: every typed value was checked above
        first = exc.errors()[0]
        raise CommandError("start_invalid", option=".".join(map(str, first["loc"])), problem=first["msg"]) from None
    if options.dots < 1 or options.dots_per_proposal < 1 or options.picks_per_pair < 1 or options.ideas_per_person < 0:
        raise CommandError("start_counts_too_low")
    if not 0 <= options.groups <= 50 or not (options.group_size == 0 or 2 <= options.group_size <= 100):
        raise CommandError("start_groups_range")
    if options.groups > 1 and options.group_size:
        raise CommandError("start_groups_and_size")
    unknown = set(options.minutes) - {p.kind for p in structure.phases}
    if unknown and lenient:
        options.minutes = {k: v for k, v in options.minutes.items() if k not in unknown}
    elif unknown:
        raise CommandError("start_no_such_phase", structure=structure.name, phase=_quoted(sorted(unknown)[0]))
    return options
