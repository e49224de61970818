"""What became of an effect the runtime carried out, as types rather than markers inside ref strings.

Only the store spells them as text (the `refs` table's one column); everything else matches on the type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Made:
    """The platform made it: `ref` routes replies to it and anchors what goes under it."""

    ref: str


@dataclass(frozen=True)
class ReachedPrivately:
    """No pair space could be made: the pair's members are reached one by one, privately."""

    members: tuple[str, ...]


class _Marker:
    """An outcome that carries nothing but its name (in the style of h11's sentinels)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


# The platform refused it for good: held for `retry`; what anchors on it goes to the channel instead.
FAILED: Final = _Marker("FAILED")
# It waits on an effect that failed (what follows the note), and is held with it.
BLOCKED: Final = _Marker("BLOCKED")
# The platform cannot deliver it and the facilitator was already told why (a person who refuses direct
# messages): not retried, not reported again.
SKIPPED: Final = _Marker("SKIPPED")

Outcome = Made | ReachedPrivately | _Marker


def platform_ref(outcome: Outcome | None) -> str | None:
    """The ref of what the platform made, or None when nothing was made."""
    return outcome.ref if isinstance(outcome, Made) else None


# --- the store's spelling --------------------------------------------------------------------------------------

_MARKERS = {"!failed": FAILED, "!blocked": BLOCKED, "!undeliverable": SKIPPED}
_SPELLING = {marker: text for text, marker in _MARKERS.items()}
_MEMBERS = "members:"


def to_text(outcome: Outcome) -> str:
    if isinstance(outcome, Made):
        return outcome.ref
    if isinstance(outcome, ReachedPrivately):
        return _MEMBERS + ",".join(outcome.members)
    return _SPELLING[outcome]


def from_text(text: str) -> Outcome:
    """Read back what `to_text` wrote (and what releases before typed outcomes wrote: the same spellings)."""
    if text in _MARKERS:
        return _MARKERS[text]
    if text.startswith(_MEMBERS):
        return ReachedPrivately(tuple(p for p in text[len(_MEMBERS):].split(",") if p))
    return Made(text)
