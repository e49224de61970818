"""The full-settings form behind `/opera start` without a question, and its values as start options."""

from __future__ import annotations

from typing import Any

from adapters.discord.forms import Values
from facilitation.effects import Choice, Form, FormField


def structure_label(key: str, description: str) -> str:
    """How a structure is offered in the start command and the start form."""
    return f"{key}: {description}" if description else key


def start_form(structures: dict[str, str] | None = None) -> Form:
    return Form(
        title="Start a breakout session",
        submit_label="Start",
        fields=[
            FormField(id="question", label="The question", kind="long_text"),
            FormField(id="voting", label="Ranking method", kind="select", required=False,
                      choices=[Choice(value="dots", label="Dot voting"),
                               Choice(value="borda", label="Full ranking (Borda)"),
                               Choice(value="approval", label="Approval")]),
            FormField(id="own", label="Own phase", kind="select", required=False,
                      choices=[Choice(value="private", label="Private: ideas hidden until Explain"),
                               Choice(value="open", label="Open: replies in the thread")]),
            FormField(id="minutes", label="Minutes per phase, e.g. own:5,pair:8,rank:4", kind="text",
                      required=False),
            FormField(id="structure", label="Structure (default: opera)", kind="select", required=False,
                      choices=[Choice(value=key, label=structure_label(key, text))
                               for key, text in sorted(structures.items())])
            if structures else FormField(id="structure", label="Structure (default: opera)", kind="text",
                                         required=False),
        ],
    )


def start_options(values: Values) -> dict[str, Any]:
    """The form's answers under the runtime's option keys; empty answers are left out (defaults apply)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        text = " ".join(value) if isinstance(value, list) else value
        if text.strip():
            out[key] = text.strip()
    minutes = out.get("minutes")
    if minutes:
        pairs = [part.split(":", 1) for part in minutes.replace(" ", "").split(",") if part]
        if all(len(p) == 2 for p in pairs):
            out["minutes"] = {kind.lower(): value for kind, value in pairs}  # numbers are checked by the runtime
    return out
