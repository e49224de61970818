"""The bot's typed command (`/opera ...` on every platform): splitting it and reading `start` options."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from facilitation.models import Options, Structure
from facilitation.numbers import decimal, whole
from facilitation.text import is_blank, one_line

QUESTION_MAX = 500
# Bounds of the numeric start options (build_options checks how they fit together).
_COUNTS = {"dots": (1, 100), "dots_per_proposal": (1, 100), "picks": (1, 20), "ideas": (0, 1000),
           "groups": (0, 50), "group_size": (0, 100)}
_OPTION = re.compile(r"^(\w+)=(\S+)$")
_PERSON = re.compile(r"<@!?([A-Za-z0-9]+)(?:\|[^>]*)?>|^@?([\w.\-]+)$")


class CommandError(ValueError):
    """A command the user must correct; the message says how."""


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
        raise CommandError(f"'{_quoted(value)}' is not a person: mention them, like @name.")
    return m.group(1) or m.group(2)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("on", "yes", "true", "1"):
        return True
    if str(value).lower() in ("off", "no", "false", "0"):
        return False
    raise CommandError(f"'{_quoted(value)}' should be on or off.")


def _minutes(value: Any) -> dict[str, float]:
    if isinstance(value, dict):
        pairs = [(str(k), v) for k, v in value.items()]
    else:
        pairs = [tuple(part.split(":", 1)) if ":" in part else (part, "") for part in str(value).split(",") if part]
    out: dict[str, float] = {}
    for kind, minutes in pairs:
        kind = _quoted(kind)
        if not minutes:
            raise CommandError(f"give minutes for {kind} after a colon, like minutes=own:3,pair:5.")
        m = decimal(minutes, 0.01, 240)
        if m is None:
            raise CommandError(f"minutes for {kind} must be a number from 0.01 to 240, like own:3.")
        out[kind.strip().lower()] = m
    return out


def _quoted(text: object) -> str:
    """Something the user typed, shortened and neutralised to quote back in an error."""
    return one_line(str(text), 40)


def _whole(key: str, value: Any, low: int, high: int) -> int:
    n = whole(value, low, high)
    if n is None:
        raise CommandError(f"{key} must be a whole number from {low} to {high}.")
    return n


def parse_start(args: str, form: dict[str, Any]) -> StartRequest:
    """`start [voting=borda] [own=open] [dots=5] [convenor=@x] [minutes=own:3,pair:5] Question...`,
    or the same keys from a platform's start form (which win over typed ones)."""
    words = args.split()
    typed: dict[str, Any] = {}
    while words and (m := _OPTION.match(words[0])):
        typed[m.group(1).lower()] = m.group(2)
        words.pop(0)
    given = {**typed, **{k: v for k, v in form.items() if v not in (None, "", [])}}
    question = str(given.pop("question", " ".join(words))).strip()
    if is_blank(question):
        raise CommandError("Give the question: start What should the council learn from people who use its services?")
    if len(question) > QUESTION_MAX:
        raise CommandError(f"The question is {len(question)} characters; keep it under {QUESTION_MAX}.")
    req = StartRequest(question=question)
    updates: dict[str, Any] = {}
    for key, value in given.items():
        if key == "structure":
            req.structure = str(value).lower()
        elif key == "convenor":
            req.convenor = _person(str(value))
        elif key in ("cofacilitators", "cofacilitator"):
            items = value if isinstance(value, list) else str(value).split(",")
            req.cofacilitators = [_person(v) for v in items if str(v).strip()]
        elif key == "own":
            if str(value).lower() not in ("private", "open"):
                raise CommandError("own must be private or open.")
            updates["own_private"] = str(value).lower() == "private"
        elif key == "voting":
            updates["voting"] = str(value).lower()
        elif key in _COUNTS:
            field = {"picks": "picks_per_pair", "ideas": "ideas_per_person"}.get(key, key)
            updates[field] = _whole(key, value, *_COUNTS[key])
        elif key == "attribution":
            updates["attribution"] = _bool(value)
        elif key == "assign":
            if str(value).lower() not in ("mixed", "random", "choice"):
                raise CommandError("assign must be mixed, random or choice.")
            updates["assign"] = str(value).lower()
        elif key == "plenary":
            updates["plenary_ballot"] = _bool(value)
        elif key == "closing":
            updates["closing_round"] = _bool(value)
        elif key == "minutes":
            updates["minutes"] = _minutes(value)
        elif key == "language":
            updates["language"] = str(value).lower()
        else:
            raise CommandError(
                f"Unknown option '{_quoted(key)}'. Options: structure, voting, dots, picks, ideas, own, attribution, "
                "convenor, cofacilitators, minutes, groups, group_size, assign, plenary, closing, language."
            )
    req.option_updates = updates
    req.minutes_from_form = "minutes" in form and "minutes" not in typed
    return req


def build_options(base: Options, updates: dict[str, Any], structure: Structure, lenient: bool = False) -> Options:
    try:
        options = Options.model_validate({**base.model_dump(), **updates})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CommandError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    if options.dots < 1 or options.dots_per_proposal < 1 or options.picks_per_pair < 1 or options.ideas_per_person < 0:
        raise CommandError("dots, dots per proposal and picks must be at least 1; ideas at least 0.")
    if not 0 <= options.groups <= 50 or not (options.group_size == 0 or 2 <= options.group_size <= 100):
        raise CommandError("groups must be from 0 to 50, and group_size 0 (off) or from 2 to 100.")
    if options.groups > 1 and options.group_size:
        raise CommandError("Give either the number of groups or a group size, not both.")
    unknown = set(options.minutes) - {p.kind for p in structure.phases}
    if unknown and lenient:
        options.minutes = {k: v for k, v in options.minutes.items() if k not in unknown}
    elif unknown:
        raise CommandError(f"{structure.name} has no phase called {_quoted(sorted(unknown)[0])}.")
    return options
