"""The documentation states what the code does."""

from __future__ import annotations

import json
from pathlib import Path

from facilitation.note import RoundUpNote

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_documented_note_schema_is_the_one_the_bot_writes() -> None:
    documented = json.loads((DOCS / "note.schema.json").read_text(encoding="utf-8"))
    assert documented == RoundUpNote.model_json_schema()
