"""The start options are defined once (facilitation/start_options.py): every platform offers the same values
within the same bounds, each labelled from config/messages in the bot's language, and the parser accepts
exactly what is offered."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.discord.adapter import DiscordAdapter
from adapters.discord.app import START_FIELDS
from adapters.slack.app import StartDefaults, start_options, start_view
from adapters.words import menu, speaker
from bot.commands import CommandError, build_options, parse_start
from bot.configuration import default_options, list_structures, load_messages, load_structure
from bot.settings import Settings
from facilitation.start_options import START_OPTIONS, form_answers, start_form

CHOICES = {o.key: list(o.values) for o in START_OPTIONS if o.kind == "choice"}
NUMBERS = {o.key: (o.low, o.high) for o in START_OPTIONS if o.kind == "whole"}


def _slash_start(adapter: DiscordAdapter) -> Any:
    [group] = adapter.client.tree.get_commands()
    return group.get_command("start")  # type: ignore[union-attr]


def test_slack_discord_and_the_parser_offer_the_same_values_within_the_same_bounds() -> None:
    settings = Settings()
    view = start_view(StartDefaults(), "C1", speaker())
    slack = {b["block_id"]: b["element"] for b in view["blocks"]}
    slash = {p.name: p for p in _slash_start(DiscordAdapter("token", structures=list_structures(settings))).parameters}
    form = {f.id: f for f in start_form(menu(), START_FIELDS, {}, {}).fields}
    for key, values in CHOICES.items():
        offered = [[o["value"] for o in slack[key]["options"]], [c.value for c in slash[key].choices]]
        if key in form:
            offered.append([c.value for c in form[key].choices])
        assert all(v == values for v in offered), key
        for value in values:  # each is accepted typed, and lands in the session's options
            req = parse_start(f"{key}={value} Q?", {})
            opera = load_structure(settings, "opera")
            build_options(default_options(settings, opera), req.option_updates, opera)
    for key in ("dots", "groups"):
        low, high = NUMBERS[key]
        assert (float(slack[key]["min_value"]), float(slack[key]["max_value"])) == (low, high)
        assert (slash[key].min_value, slash[key].max_value) == (low, high)
        parse_start(f"{key}={high:g} Q?", {})
        with pytest.raises(CommandError):
            parse_start(f"{key}={high + 1:g} Q?", {})


def test_a_value_no_platform_offers_is_refused_naming_the_ones_it_takes() -> None:
    say = speaker()
    with pytest.raises(CommandError) as caught:
        parse_start("voting=score Q?", {})
    assert caught.value.text(say) == "voting must be dots, borda or approval."
    with pytest.raises(CommandError) as caught:
        parse_start("assign=alphabetical Q?", {})
    assert caught.value.text(say) == "assign must be mixed, random or choice."


def test_the_start_forms_and_the_slash_command_speak_the_bots_language() -> None:
    welsh = load_messages(Settings(), "cy")
    view = start_view(StartDefaults(), "C1", speaker(welsh))
    assert view["title"]["text"] == welsh["start_form_title"] and view["close"]["text"] == welsh["form_cancel"]
    voting = next(b for b in view["blocks"] if b["block_id"] == "voting")
    assert voting["label"]["text"] == welsh["start_voting"]
    assert [o["text"]["text"] for o in voting["element"]["options"]][0] == welsh["start_voting_dots"]
    slash = _slash_start(DiscordAdapter("token", messages=welsh))
    assert slash.description == welsh["command_about_start"]
    own = next(p for p in slash.parameters if p.name == "own")
    assert [c.name for c in own.choices] == [welsh["start_own_private"], welsh["start_own_open"]]


def test_a_submitted_start_form_reads_as_the_typed_options() -> None:
    """What a person ticks and types in either platform's form starts the session a typed command would."""
    state = {"question": {"v": {"type": "plain_text_input", "value": "Where next?"}},
             "groups": {"v": {"type": "number_input", "value": "3"}},
             "plenary": {"v": {"type": "checkboxes", "selected_options": [{"value": "on"}]}},
             "attribution": {"v": {"type": "checkboxes", "selected_options": []}},
             "cofacilitators": {"v": {"type": "multi_users_select", "selected_users": ["U2", "U3"]}},
             "minutes_own": {"v": {"type": "number_input", "value": "2.5"}}}
    slack = parse_start("", start_options(state))
    typed = parse_start("groups=3 plenary=on attribution=off cofacilitators=@U2,@U3 minutes=own:2.5 Where next?", {})
    assert slack.option_updates == typed.option_updates
    assert (slack.question, slack.cofacilitators) == (typed.question, typed.cofacilitators)
    discord = parse_start("", form_answers({"question": "Q?", "voting": ["borda"], "minutes": "own:3, pair:4"}))
    assert discord.option_updates == {"voting": "borda", "minutes": {"own": 3.0, "pair": 4.0}}
