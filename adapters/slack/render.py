"""Slack rendering: mrkdwn escaping, Block Kit messages and modals, and reading modal state back.

Everything here is pure (no I/O) so it can be tested on its own. The engine's text is light Markdown
with participant text already neutralised generically; Slack's own control syntax (`<!channel>`,
`<@U1>`, `<https://x|label>`) is defused here by escaping `&`, `<`, `>` in every text object.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from typing import Any

from adapters.ids import fitted
from facilitation.effects import Action, Form, FormField

ACTION_PREFIX = "op"
FORM_CALLBACK = "op_form"
START_CALLBACK = "op_start"
INPUT_ACTION = "v"  # action_id of the single element inside each modal input block

# Block Kit limits (slack_sdk validators and the Block Kit reference).
SECTION_CHARS = 3000
BUTTON_CHARS = 75
OPTION_CHARS = 75
LABEL_CHARS = 2000
TITLE_CHARS = 24
ACTION_ID_CHARS = 255
BUTTON_VALUE_CHARS = 2000
MAX_BUTTONS_PER_BLOCK = 25
MAX_OPTIONS = 100
MAX_MESSAGE_BLOCKS = 50
# The blocks' text in one message: Slack refuses much more (msg_blocks_too_long, near 13,000) though the Block Kit
# reference documents only the 3,000 per section and 50 blocks.
MESSAGE_TEXT_CHARS = 12_000
PART_PREFIX = "part"  # block ids of a message holding several posts: part<n>.<k>, so each part is told apart
FALLBACK_CHARS = 3000
UNPACKED_CHARS = 64_000  # what a packed button value may inflate to (forms of 100 choices are about 20,000)

_BOLD = re.compile(r"\*\*(.+?)\*\*", re.S)
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BULLET = re.compile(r"^(\s*)[-*]\s+(.*)$")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}")
_MD_ESCAPE = re.compile(r"\\([\\<>\[\]])")  # the note's Markdown escapes (facilitation/note.py)


def escape(text: str) -> str:
    """Slack's three control characters as entities: no mention, link or channel syntax survives."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Slack sends user text with the same three entities; the engine wants the plain characters."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def mrkdwn(text: str) -> str:
    """The engine's light Markdown as Slack mrkdwn. `> quote` survives escaping: Slack reads a
    line-leading `&gt;` as a quote (it stores users' own quotes that way)."""
    return _BOLD.sub(r"*\1*", escape(text))


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(escape(text), limit) or " ", "emoji": True}


def note_mrkdwn(markdown: str) -> str:
    """The round-up note (full Markdown) for a Slack message: headings as bold lines, bullets as dots,
    tables kept aligned in a preformatted block (Slack has no tables)."""
    out: list[str] = []
    table: list[str] = []

    def flush() -> None:
        if table:
            out.append("```" + escape("\n".join(table)) + "```")
            table.clear()

    for line in markdown.splitlines():
        line = _MD_ESCAPE.sub(r"\1", line)  # Slack has no backslash escapes; escape() below defuses these
        if line.lstrip().startswith("|"):
            if not _TABLE_RULE.match(line.strip()):
                table.append(line.strip())
            continue
        flush()
        if m := _HEADING.match(line):
            out.append(f"*{mrkdwn(m.group(2)).replace('*', '')}*")
        elif m := _BULLET.match(line):
            out.append(f"{m.group(1)}\u2022 {mrkdwn(m.group(2))}")
        else:
            out.append(mrkdwn(line))
    flush()
    return "\n".join(out)


def chunks(text: str, limit: int = SECTION_CHARS) -> list[str]:
    """Split at line ends into pieces a section block accepts; a single over-long line is cut."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current or not pieces:
        pieces.append(current)
    return pieces


# --- action ids: session, action and value travel in the button so clicks survive a restart ---


def encode_action_id(session_id: str, action: Action, index: int) -> str:
    """`op|<session>|<action>|<value>`; the index keeps ids unique in a block if an action repeats."""
    raw = f"{ACTION_PREFIX}|{session_id}|{action.id}|{action.value}"
    if index:
        raw += f"|{index}"
    return fitted(raw, ACTION_ID_CHARS, "Slack action_id")


def decode_action_id(action_id: str) -> tuple[str, str, str] | None:
    parts = action_id.split("|")
    if len(parts) < 4 or parts[0] != ACTION_PREFIX:
        return None
    return parts[1], parts[2], parts[3]


def pack_button_value(action: Action) -> str:
    """The action's value and, when it fits, its form (compressed): a form button still opens its
    modal after a restart. Forms too big for Slack's 2000 characters are kept in memory instead."""
    payload: dict[str, Any] = {"v": action.value}
    if action.form is not None:
        payload["f"] = action.form.model_dump(exclude_defaults=True)
    packed = "z:" + base64.urlsafe_b64encode(zlib.compress(json.dumps(payload).encode(), 9)).decode()
    if len(packed) <= BUTTON_VALUE_CHARS:
        return packed
    bare = "z:" + base64.urlsafe_b64encode(zlib.compress(json.dumps({"v": action.value}).encode())).decode()
    return fitted(bare, BUTTON_VALUE_CHARS, "Slack button value")


class ButtonOutOfDate(ValueError):
    """A button value or form payload that is not one this bot made (tampered with, or from another version)."""


def unpack_button_value(value: str | None) -> tuple[str | None, Form | None]:
    """The action's value and form packed by `pack_button_value`; a plain value as it is. Anything that does not
    decode to what `pack_button_value` makes raises ButtonOutOfDate (the clicker is told; nothing is acted on)."""
    if not value or not value.startswith("z:"):
        return value, None
    try:
        inflate = zlib.decompressobj()
        # Bounded: a 2,000-character value cannot unpack into megabytes.
        raw = inflate.decompress(base64.urlsafe_b64decode(value[2:]), UNPACKED_CHARS)
        if inflate.unconsumed_tail:
            raise ButtonOutOfDate("too big")
        payload = json.loads(raw)
        if not isinstance(payload, dict) or not isinstance(payload.get("v", ""), str):
            raise ButtonOutOfDate("not a packed action")
        form = Form.model_validate(payload["f"]) if payload.get("f") else None
    except (ValueError, zlib.error) as exc:  # ValidationError and JSON errors are ValueErrors
        raise ButtonOutOfDate(str(exc)) from None
    return payload.get("v", ""), form


def button(session_id: str, action: Action, index: int) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": plain(action.label, BUTTON_CHARS),
        "action_id": encode_action_id(session_id, action, index),
        "value": pack_button_value(action),
    }
    if action.style:
        element["style"] = action.style
    return element


def message_blocks(text: str, actions: list[Action], session_id: str) -> list[dict[str, Any]]:
    """Sections for the text (already mrkdwn), then the buttons in rows of at most 25."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": piece or " "}} for piece in chunks(text)
    ]
    for row in range(0, len(actions), MAX_BUTTONS_PER_BLOCK):
        elements = [button(session_id, a, row + n) for n, a in enumerate(actions[row : row + MAX_BUTTONS_PER_BLOCK])]
        blocks.append({"type": "actions", "block_id": f"actions{row // MAX_BUTTONS_PER_BLOCK}", "elements": elements})
    return blocks[:MAX_MESSAGE_BLOCKS]


def parts_blocks(parts: list[tuple[str, list[Action]]], session_id: str) -> list[dict[str, Any]]:
    """Several posts (text already mrkdwn, and buttons) as one message: each its own sections and buttons."""
    return [{**block, "block_id": f"{PART_PREFIX}{n}.{k}"}
            for n, (text, actions) in enumerate(parts)
            for k, block in enumerate(message_blocks(text, actions, session_id))][:MAX_MESSAGE_BLOCKS]


def parts_fit(parts: list[tuple[str, list[Action]]]) -> int:
    """How many of the leading parts (text already mrkdwn, and buttons) one message holds: at most 50 blocks and
    MESSAGE_TEXT_CHARS of text, and no button id twice (a form is found by the message and its button's id)."""
    blocks = chars = 0
    ids: set[str] = set()
    for n, (text, actions) in enumerate(parts):
        size = len(message_blocks(text, actions, ""))
        mine = {a.id for a in actions}
        if n and (blocks + size > MAX_MESSAGE_BLOCKS or chars + len(text) > MESSAGE_TEXT_CHARS or mine & ids):
            return n
        blocks, chars, ids = blocks + size, chars + len(text), ids | mine
    return len(parts)


def fallback_text(text: str) -> str:
    """The notification text Slack shows where blocks can't be (already mrkdwn)."""
    return clip(text, FALLBACK_CHARS)


# --- modals -----------------------------------------------------------------------------------------


def _option(value: str, label: str) -> dict[str, Any]:
    return {"text": plain(label, OPTION_CHARS), "value": value[:150]}


def _element(field: FormField) -> dict[str, Any]:
    if field.kind in ("text", "long_text"):
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": INPUT_ACTION,
                                   "multiline": field.kind == "long_text"}
        if field.initial:
            element["initial_value"] = field.initial
        return element
    if field.kind == "number":
        element = {"type": "number_input", "action_id": INPUT_ACTION, "is_decimal_allowed": False}
        if field.min_value is not None:
            element["min_value"] = str(field.min_value)
        if field.max_value is not None:
            element["max_value"] = str(field.max_value)
        if field.initial:
            element["initial_value"] = field.initial
        return element
    options = [_option(c.value, c.label) for c in field.choices[:MAX_OPTIONS]]
    if field.kind == "select":
        element = {"type": "static_select", "action_id": INPUT_ACTION, "options": options}
        initial = next((o for o in options if o["value"] == field.initial), None)
        if initial:
            element["initial_option"] = initial
        return element
    element = {"type": "multi_static_select", "action_id": INPUT_ACTION, "options": options}
    if field.max_selected:
        element["max_selected_items"] = field.max_selected
    return element


def field_block_id(field_id: str) -> str:
    return f"f_{field_id}"


def form_view(form: Form, metadata: dict[str, Any]) -> dict[str, Any]:
    blocks = [
        {
            "type": "input",
            "block_id": field_block_id(f.id),
            "label": plain(f.label, LABEL_CHARS),
            "optional": not f.required,
            "element": _element(f),
        }
        for f in form.fields
        if f.kind not in ("select", "multi_select") or f.choices
    ]
    return {
        "type": "modal",
        "callback_id": FORM_CALLBACK,
        "title": plain(form.title, TITLE_CHARS),
        "submit": plain(form.submit_label, TITLE_CHARS),
        "close": plain("Cancel", TITLE_CHARS),
        "private_metadata": json.dumps(metadata),
        "blocks": blocks[:100],
    }


def state_value(element: dict[str, Any]) -> str | list[str] | bool:
    """One input element's submitted value, whatever its type."""
    kind = element.get("type")
    if kind in ("plain_text_input", "number_input"):
        return element.get("value") or ""
    if kind in ("static_select", "radio_buttons"):
        return (element.get("selected_option") or {}).get("value", "")
    if kind in ("multi_static_select", "checkboxes"):
        return [o["value"] for o in element.get("selected_options") or []]
    if kind == "users_select":
        return element.get("selected_user") or ""
    if kind == "multi_users_select":
        return list(element.get("selected_users") or [])
    return element.get("value") or ""


def form_values(state: dict[str, Any]) -> dict[str, str | list[str]]:
    """`view.state.values` as `{field id: value}`; a shape no modal of ours submits raises ButtonOutOfDate."""
    out: dict[str, str | list[str]] = {}
    try:
        for block_id, elements in state.items():
            if not block_id.startswith("f_"):
                continue
            value = state_value(next(iter(elements.values()), {}))
            if isinstance(value, list) and not all(isinstance(v, str) for v in value):
                raise ButtonOutOfDate("not a list of choices")
            if isinstance(value, bool):
                value = str(value).lower()
            out[block_id[2:]] = value if isinstance(value, list) else str(value)
    except (AttributeError, TypeError, KeyError) as exc:
        raise ButtonOutOfDate(str(exc)) from None
    return out


def form_metadata(view: dict[str, Any]) -> dict[str, Any]:
    """A modal's private metadata (what `form_view` put there); anything else raises ButtonOutOfDate."""
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError as exc:
        raise ButtonOutOfDate(str(exc)) from None
    if not isinstance(meta, dict) or not all(isinstance(meta.get(k) or "", str) for k in ("s", "a", "v", "c", "t")):
        raise ButtonOutOfDate("not our metadata")
    return meta


def duplicate_rank_errors(values: dict[str, str | list[str]]) -> dict[str, str]:
    """A ranking (`rank_1`, `rank_2`, ...) may name each proposal once: Slack shows these under the inputs."""
    ranks = sorted((k for k in values if re.fullmatch(r"rank_\d+", k)), key=lambda k: int(k[5:]))
    seen: set[str] = set()
    errors: dict[str, str] = {}
    for key in ranks:
        pick = values[key]
        if not pick:
            continue
        if pick in seen:
            errors[field_block_id(key)] = "Already ranked above: choose a different proposal."
        seen.add(str(pick))
    return errors
