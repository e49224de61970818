"""Numbers people type or send in forms, read one strict way everywhere.

ASCII digits only: `²`, `①` and `٣` pass `str.isdigit()` (and some pass `int()`), so a parser that trusts
either can crash or read something nobody meant. At most MAX_DIGITS digits, so no count is ever big enough to
overflow a list or a Slack field. Every parser answers a None with a message; nothing here raises.
"""

from __future__ import annotations

import re

MAX_DIGITS = 6
_WHOLE = re.compile(rf"-?[0-9]{{1,{MAX_DIGITS}}}")
_DECIMAL = re.compile(rf"[0-9]{{1,{MAX_DIGITS}}}(?:\.[0-9]{{1,3}})?")
# One item of a typed list of numbers: "2", "#2" or "P2" (as the bot shows proposals); separators are spaces or commas.
_ITEM = re.compile(rf"(?:#|[Pp])?([0-9]{{1,{MAX_DIGITS}}})")
_SEPARATORS = re.compile(r"[\s,]+")


def whole(text: object, low: int, high: int) -> int | None:
    """`text` as a whole number from `low` to `high`, or None if it is anything else."""
    raw = str(text).strip()
    if not _WHOLE.fullmatch(raw):
        return None
    n = int(raw)
    return n if low <= n <= high else None


def decimal(text: object, low: float, high: float) -> float | None:
    """`text` as a number with an optional decimal point (`2.5`), from `low` to `high`, or None."""
    raw = str(text).strip()
    if not _DECIMAL.fullmatch(raw):
        return None
    n = float(raw)
    return n if low <= n <= high else None


def number_list(text: str) -> list[int] | None:
    """`"2 2 5"`, `"#2, #5"` or `"P3 P1"` as numbers; None if any item is not one (`-1`, `²`, `two`)."""
    items = [w for w in _SEPARATORS.split(text.strip()) if w]
    found = [_ITEM.fullmatch(w) for w in items]
    if not all(found):
        return None
    return [int(m.group(1)) for m in found if m]


def first_bad(text: str) -> str:
    """The first item of a typed list that is not a number, to quote back (shortened)."""
    bad = next((w for w in _SEPARATORS.split(text.strip()) if w and not _ITEM.fullmatch(w)), "")
    return bad if len(bad) <= 20 else bad[:19] + "\u2026"
