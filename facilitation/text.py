"""Participant text: splitting replies into ideas, limits, and neutralising what the bot repeats.

Platform-specific escaping (Slack's `&<>`, Discord's allowed mentions) stays in the adapters;
this is the part every platform shares.
"""

from __future__ import annotations

import re
import unicodedata

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
# The item must start with a non-space right after the bullet's spaces, so a bullet followed by thousands of
# spaces fails at once instead of trying every split of them (`\s+(.*\S)` took seconds); trailing spaces are
# stripped after the match.
_LIST_ITEM = re.compile(r"^\s*(?:[-*\u2022\u2023\u25e6\u2043\u2219]|\(?[0-9]{1,3}[.)]|\(?[a-zA-Z][.)])\s+(\S.*)$")
_MASS_MENTION = re.compile(r"@(everyone|here|channel)\b", re.IGNORECASE)
# Slack control syntax (<!channel>, <@U123>, <#C1|x>, <!subteam^S1>) and Discord's (<@123>, <@&123>, <#123>).
_CONTROL = re.compile(r"<([!@#][^<>\s]*)>")
_FENCE = re.compile(r"`{3,}")
_ZWS = "\u200b"
# Bidi controls that open a scope (embeddings, overrides such as U+202E, isolates) and those that close one.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_EMBEDS, _PDF = "\u202a\u202b\u202d\u202e", "\u202c"
_ISOLATES, _PDI = "\u2066\u2067\u2068", "\u2069"


def visible(text: str) -> str:
    """The text with zero-width and soft-hyphen characters removed and whitespace trimmed."""
    return text.translate(_ZERO_WIDTH).strip()


def is_blank(text: str) -> bool:
    return not any(not unicodedata.category(ch).startswith(("Z", "C")) for ch in visible(text))


def split_ideas(text: str) -> list[str]:
    """One idea per reply, or one per item when the reply is written as a bulleted or numbered list."""
    lines = [ln for ln in text.splitlines() if not is_blank(ln)]
    matches = [_LIST_ITEM.match(ln) for ln in lines]
    if len(lines) >= 2 and all(matches[1:]) and (matches[0] or lines[0].rstrip().endswith(":")):
        items = [m.group(1).strip() for m in matches if m]
        return [i for i in items if not is_blank(i)]
    if len(lines) == 1 and matches[0] and not is_blank(matches[0].group(1)):
        return [matches[0].group(1).strip()]  # a one-item list is one idea, without its bullet
    return [] if is_blank(text) else [text.strip()]


def neutralise(text: str) -> str:
    """Participant text as it can be repeated safely: no mass mentions, no mention syntax, no code fences, and
    no bidi override left open to reverse the words the bot puts after it."""
    text = _MASS_MENTION.sub(lambda m: "@" + _ZWS + m.group(1), text)
    text = _CONTROL.sub(lambda m: m.group(1)[0] + _ZWS + m.group(1)[1:], text)
    return close_bidi(_FENCE.sub(lambda m: "'" * len(m.group(0)), text))


def close_bidi(text: str) -> str:
    """`text` with every bidi embedding, override (U+202E) or isolate it opens closed at its end."""
    open_: list[str] = []
    for m in _BIDI.finditer(text):
        ch = m.group(0)
        if ch in _EMBEDS or ch in _ISOLATES:
            open_.append(ch)
        elif ch == _PDF and open_ and open_[-1] in _EMBEDS:
            open_.pop()
        elif ch == _PDI and any(c in _ISOLATES for c in open_):
            while open_.pop() not in _ISOLATES:  # a PDI also closes the embeddings opened inside the isolate
                pass
    return text + "".join(_PDF if c in _EMBEDS else _PDI for c in reversed(open_))


def one_line(text: str, limit: int) -> str:
    """Neutralised, on one line, and shortened to `limit` characters with an ellipsis."""
    flat = " ".join(neutralise(text).split())
    return flat if len(flat) <= limit else close_bidi(flat[: max(limit - 1, 1)].rstrip() + "\u2026")
