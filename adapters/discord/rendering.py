"""Text and ids as Discord needs them: safe content, the 2000-character limit, and stable custom ids.

The engine already neutralised participant text generically; what is left here is Discord's own
syntax (masked links) and its limits. Mentions are stopped for good by AllowedMentions.none() on
every send, so even text that slips past the escaping pings nobody.
"""

from __future__ import annotations

import re

import discord

from adapters.ids import fitted

MESSAGE_LIMIT = 2000
CUSTOM_ID_LIMIT = 100
BUTTON_LABEL_LIMIT = 80
PREFIX = "op"

NO_PINGS = discord.AllowedMentions.none()

# `[text](https://…)` renders as a link whose target is hidden: participant text must not phish.
_MASKED_LINK = re.compile(r"\]\(")


def discord_text(text: str) -> str:
    """The engine's light Markdown is Discord's own (**bold**, _italic_, > quote); only defuse masked links."""
    return _MASKED_LINK.sub("]\u200b(", text)


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut at line ends where possible, never losing a character."""
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:  # a single over-long line: cut it hard
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            pieces.append(current)
            current = ""
        current += line
    if current or not pieces:
        pieces.append(current)
    return [p.rstrip("\n") or "\u200b" for p in pieces]


def encode_custom_id(session_id: str, action_id: str, value: str) -> str:
    """`op|{session}|{action}|{value}`: everything a click needs, so buttons outlive a restart."""
    custom_id = f"{PREFIX}|{session_id}|{action_id}|{value}"
    if "|" in session_id or "|" in action_id:
        raise ValueError(f"session and action ids cannot hold '|': {custom_id!r}")
    return fitted(custom_id, CUSTOM_ID_LIMIT, "Discord custom_id")


CUSTOM_ID_PATTERN = rf"{PREFIX}\|(?P<session>[^|]+)\|(?P<action>[^|]+)\|(?P<value>.*)"


def button_label(label: str) -> str:
    return label if len(label) <= BUTTON_LABEL_LIMIT else label[: BUTTON_LABEL_LIMIT - 1] + "\u2026"


def thread_name(text: str) -> str:
    """A thread title from the first line of the post it hangs under (Discord allows 100 characters)."""
    first = next((ln for ln in text.splitlines() if ln.strip()), "OPERA session")
    plain = re.sub(r"[*_>`~|]", "", first).strip() or "OPERA session"
    return plain if len(plain) <= 100 else plain[:99] + "\u2026"
