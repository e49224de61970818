"""One error tree (facilitation/errors.py): a mistake a person can fix carries a message key, so the bot tells it in
its own words and language; everything the bot raises on purpose has one root."""

from __future__ import annotations

import io
from pathlib import Path

from adapters.base import CommandIssued, DeliveryError
from adapters.console import ConsoleAdapter
from bot.assembly import assembled
from bot.commands import CommandError
from bot.configuration import ConfigError, load_messages
from bot.settings import Settings
from bot.simulate import ScenarioError
from bot.slack_manifest import ManifestError
from facilitation.errors import BallotError, FacilitatorError, Fixable, SetupError, ThemeEditError

WELSH = Settings(language="cy", grouping="lexical")


async def test_a_welsh_bot_explains_a_start_mistake_in_welsh(tmp_path: Path) -> None:
    cy = load_messages(WELSH)
    adapter = ConsoleAdapter(out=io.StringIO())
    async with assembled(adapter, WELSH, database=tmp_path / "f.sqlite3"):
        fay = adapter.person("Fay")
        for typed, says in [("start own=maybe Beth nesaf?", "rhaid i own fod yn private neu open."),
                            ("start dots=500 Beth nesaf?", "rhaid i dots fod yn rhif cyfan o 1 i 100."),
                            ("start structure=nope Beth nesaf?", "does dim strwythur o'r enw 'nope'"),
                            ("start", cy["start_no_question"])]:
            reply = await adapter.send(CommandIssued(channel=adapter.channel, person=fay, text=typed))
            assert reply is not None and reply.text.startswith("Wnaeth y sesiwn ddim dechrau: ") and says in reply.text


class RefusesTheChart(ConsoleAdapter):
    async def post_image(self, channel: str, target: object, filename: str, data: bytes, title: str, alt: str,
                         session_id: str) -> str:
        raise DeliveryError("Gwrthododd y platfform y llun.")


async def test_a_welsh_bot_names_what_it_could_not_deliver_in_welsh(tmp_path: Path) -> None:
    adapter = RefusesTheChart(out=io.StringIO())
    async with assembled(adapter, WELSH, database=tmp_path / "f.sqlite3") as runtime:
        fay = adapter.person("Fay")
        await adapter.send(CommandIssued(channel=adapter.channel, person=fay, text="start own=open Beth nesaf?"))
        for name in ("Ana", "Ben"):
            await adapter.user_line(f"{name}: Syniad gan {name}")
        for step in ("skip", "next", "next", "next"):  # past Pair to Explain, Rank, then close Rank: the chart
            await adapter.send(CommandIssued(channel=adapter.channel, person=fay, text=step))
        await runtime.settled(next(iter(runtime.sessions)))
        told = [m.text for m in adapter.messages if m.where == "private:fay" and "llun" in m.text]
        assert told and "y siart trefn" in told[-1] and "ranking chart" not in told[-1]


def test_every_error_the_bot_raises_on_purpose_has_one_root() -> None:
    for fixable in (BallotError, ThemeEditError, CommandError):
        assert issubclass(fixable, Fixable)
    for setup in (ConfigError, ScenarioError, ManifestError):
        assert issubclass(setup, SetupError)
    assert all(issubclass(e, FacilitatorError) for e in (Fixable, SetupError, DeliveryError))
    mistake = BallotError("vote_too_many_dots", dots=3, given=5)
    assert mistake.text(lambda key, **v: f"{key}:{v['given']}>{v['dots']}") == "vote_too_many_dots:5>3"
