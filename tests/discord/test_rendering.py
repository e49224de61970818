"""Discord's limits and syntax, without a client: splitting, custom ids, long forms, the invite link."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import discord
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.discord import invite_url
from adapters.discord.forms import expand, merge, steps
from adapters.discord.rendering import discord_text, encode_custom_id, split_message, thread_name
from facilitation.effects import Choice, Form, FormField


@given(st.text(alphabet=st.characters(codec="utf-8") | st.just("\n"), max_size=7000))
def test_split_messages_fit_the_limit_and_lose_nothing_but_line_breaks_at_cuts(text: str) -> None:
    pieces = split_message(text)
    assert all(1 <= len(p) <= 2000 for p in pieces)
    assert "".join(pieces).replace("\n", "").replace("\u200b", "") == text.replace("\n", "").replace("\u200b", "")


def test_a_long_note_is_cut_at_line_ends() -> None:
    lines = [f"- point {n} " + "x" * 80 for n in range(60)]
    pieces = split_message("\n".join(lines))
    assert len(pieces) == 3 and all(p.startswith("- point") for p in pieces)


def test_custom_ids_carry_session_action_and_value_within_100_characters() -> None:
    assert encode_custom_id("5d59aed9", "control:extend", "5") == "op|5d59aed9|control:extend|5"
    with pytest.raises(ValueError):
        encode_custom_id("s", "a", "v" * 100)


def test_masked_links_are_defused_and_thread_names_are_plain() -> None:
    assert discord_text("[prize](https://evil.example)") == "[prize]\u200b(https://evil.example)"
    assert thread_name("**Breakout session: What next?**\nmore") == "Breakout session: What next?"
    assert len(thread_name("q" * 300)) == 100


def test_long_choice_lists_and_long_forms_are_split_and_merged_back() -> None:
    ideas = [Choice(value=f"i{n}", label=f"Idea {n}") for n in range(1, 61)]
    form = Form(title="Pick", fields=[
        FormField(id="ideas", label="Best ideas", kind="multi_select", choices=ideas, max_selected=2),
        *[FormField(id=f"rank_{n}", label=f"Choice {n}", kind="select", choices=ideas[:3]) for n in range(1, 5)],
    ])
    parts = expand(form.fields)
    assert [p.id for p in parts[:3]] == ["ideas#1", "ideas#2", "ideas#3"]
    assert all(len(p.choices) <= 25 for p in parts)
    pages = steps(form)
    assert [len(p) for p in pages] == [5, 2]
    values = merge(form, {"ideas#1": ["i3"], "ideas#2": [], "ideas#3": ["i55"], "rank_1": "i2", "rank_2": ""})
    assert values == {"ideas": ["i3", "i55"], "rank_1": "i2", "rank_2": ""}


def test_the_invite_asks_for_exactly_the_scopes_and_permissions_needed() -> None:
    query = parse_qs(urlparse(invite_url("123456")).query)
    assert query["client_id"] == ["123456"]
    assert query["scope"] == ["bot applications.commands"]
    granted = discord.Permissions(int(query["permissions"][0]))
    wanted = {"read_messages", "send_messages", "send_messages_in_threads", "create_public_threads",
              "create_private_threads", "read_message_history", "attach_files"}  # read_messages = View Channel
    assert {name for name, on in granted if on} == wanted
