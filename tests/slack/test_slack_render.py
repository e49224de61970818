"""Rendering for Slack: escaping, mrkdwn, Block Kit limits, button ids, modals and their state."""

from __future__ import annotations

import hashlib

from adapters.slack import render
from adapters.words import speaker
from facilitation.effects import Action, Choice, Form, FormField

HOSTILE = "<!channel> <!here> <!everyone> <@U123ABC> <!subteam^S1> <https://evil.example|click> & **bold** > q"


def test_hostile_text_cannot_ping_or_link() -> None:
    out = render.mrkdwn(HOSTILE)
    assert "<" not in out and ">" not in out
    assert "&lt;!channel&gt;" in out and "&lt;@U123ABC&gt;" in out and "&lt;!subteam^S1&gt;" in out
    assert "&amp;" in out and "*bold*" in out and "**" not in out


def test_quotes_keep_slacks_quote_syntax() -> None:
    assert render.mrkdwn("> the question") == "&gt; the question"


def test_unescape_reverses_slacks_entities_once() -> None:
    assert render.unescape("a &amp;lt; b &lt; c &gt; d") == "a &lt; b < c > d"


def test_note_tables_and_headings() -> None:
    md = "# Round-up\n\n## 1. Summary\n- point <@U1>\n| Rank | Proposal |\n|---|---|\n| 1 | x & y |\n\nend"
    out = render.note_mrkdwn(md)
    assert out.startswith("*Round-up*") and "*1. Summary*" in out
    assert "\u2022 point &lt;@U1&gt;" in out
    assert "```| Rank | Proposal |\n| 1 | x &amp; y |```" in out


def test_long_text_is_split_into_sections_within_limits() -> None:
    text = "\n".join(f"line {n} " + "x" * 200 for n in range(60))
    blocks = render.message_blocks(text, [], "s1")
    assert len(blocks) > 1 and all(len(b["text"]["text"]) <= render.SECTION_CHARS for b in blocks)
    assert "\n".join(b["text"]["text"] for b in blocks) == text


def test_buttons_carry_session_action_and_value() -> None:
    action = Action(id="control:extend", label="Extend 5 min", value="5", style="primary")
    blocks = render.message_blocks("hi", [action] * 30, "sess01")
    rows = [b for b in blocks if b["type"] == "actions"]
    assert [len(r["elements"]) for r in rows] == [25, 5]
    first = rows[0]["elements"][0]
    assert render.decode_action_id(first["action_id"]) == ("sess01", "control:extend", "5")
    assert render.unpack_button_value(first["value"]) == ("5", None)
    assert len({e["action_id"] for e in rows[0]["elements"]}) == 25


def test_a_form_travels_in_the_button_unless_too_big() -> None:
    small = Form(title="Add an idea", fields=[FormField(id="idea", label="Your idea", kind="long_text")])
    value = render.pack_button_value(Action(id="add_idea", label="Add", form=small))
    assert render.unpack_button_value(value) == ("", small)
    big = Form(title="Pick", fields=[FormField(id="ideas", label="x", kind="select", choices=[
        Choice(value=f"i{n}", label=hashlib.sha256(str(n).encode()).hexdigest()) for n in range(100)])])
    value = render.pack_button_value(Action(id="pick", label="Pick", form=big))
    assert len(value) <= render.BUTTON_VALUE_CHARS and render.unpack_button_value(value) == ("", None)


def test_form_view_elements_and_state_round_trip() -> None:
    form = Form(title="A very long modal title that Slack would reject", fields=[
        FormField(id="t", label="Text", kind="text"),
        FormField(id="n", label="Dots", kind="number", min_value=0, max_value=2, required=False),
        FormField(id="s", label="One", kind="select", choices=[Choice(value="a", label="<!here> A")]),
        FormField(id="m", label="Many", kind="multi_select", choices=[Choice(value="a", label="A")], max_selected=1),
    ])
    view = render.form_view(form, {"s": "x"}, speaker()("form_cancel"))
    assert len(view["title"]["text"]) <= render.TITLE_CHARS
    kinds = [b["element"]["type"] for b in view["blocks"]]
    assert kinds == ["plain_text_input", "number_input", "static_select", "multi_static_select"]
    assert view["blocks"][1]["optional"] and view["blocks"][1]["element"]["max_value"] == "2"
    assert view["blocks"][2]["element"]["options"][0]["text"]["text"] == "&lt;!here&gt; A"
    state = {
        "f_t": {"v": {"type": "plain_text_input", "value": "hello"}},
        "f_n": {"v": {"type": "number_input", "value": None}},
        "f_s": {"v": {"type": "static_select", "selected_option": {"value": "a"}}},
        "f_m": {"v": {"type": "multi_static_select", "selected_options": [{"value": "a"}]}},
    }
    assert render.form_values(state) == {"t": "hello", "n": "", "s": "a", "m": ["a"]}


def test_duplicate_ranks_are_reported_on_the_later_input() -> None:
    values: dict[str, str | list[str]] = {"rank_1": "P1", "rank_2": "P2", "rank_3": "P1", "rank_4": ""}
    errors = render.duplicate_rank_errors(values, speaker()("vote_rank_repeated_field"))
    assert errors == {"f_rank_3": "Already ranked above: choose a different proposal."}
