"""The Discord gateway split into shards: each process runs the shards it is given (FACILITATOR_DISCORD_SHARDS or
`facilitator run discord --shards`), with discord.py's own sharding, against the loopback fake, which routes as
Discord does: a server's events to the shard (guild_id >> 22) % count, DMs to shard 0, a bad shard refused.

Here two clients run in one test process; tests/discord/test_shard_processes.py runs two real bot processes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest

from adapters.base import Inbound, Reply, StartRefused
from adapters.discord.adapter import DiscordAdapter
from bot.cli import main
from bot.settings import DiscordShards, Settings
from tests.discord.fake_discord import FakeDiscord


def _adapter(fake: FakeDiscord, caller: str, tmp_path: Path, shards: DiscordShards | None) -> DiscordAdapter:
    return DiscordAdapter("fake-token", api_url=fake.api_url_for(caller), gateway_url=fake.gateway_url_for(caller),
                          forms_path=tmp_path / f"{caller}-forms.sqlite3", sync_commands=False,
                          shard_ids=list(shards.ids) if shards else None, shard_count=shards.count if shards else None)


@contextlib.asynccontextmanager
async def _started(*adapters: DiscordAdapter, ready_timeout: float = 10) -> AsyncIterator[None]:
    try:
        for adapter in adapters:
            await adapter.start(ready_timeout=ready_timeout)
        yield
    finally:
        for adapter in adapters:
            await adapter.close()


async def _quiet(fake: FakeDiscord) -> None:
    """Until the fake has had no REST call for 100 ms (what the clients do with an event is done)."""
    count, quiet = -1, 0
    while quiet < 5:
        await asyncio.sleep(0.02)
        quiet = quiet + 1 if len(fake.calls) == count else 0
        count = len(fake.calls)


async def test_each_process_gets_the_events_of_its_own_shard_and_answers_its_interactions(tmp_path: Path) -> None:
    fake = FakeDiscord()
    fay, ben = fake.add_user("Fay"), fake.add_user("Ben")
    on_one = fake.add_guild("Served by shard 1", shard=(1, 2))
    on_zero = fake.add_guild("Served by shard 0", shard=(0, 2))
    await fake.start()
    heard: dict[str, list[Inbound]] = {"p0": [], "p1": []}
    adapters = {caller: _adapter(fake, caller, tmp_path, DiscordShards((n,), 2)) for n, caller in enumerate(heard)}
    for caller, adapter in adapters.items():
        async def sink(inbound: Inbound, caller: str = caller) -> Reply | None:
            heard[caller].append(inbound)
            return None
        adapter.bind(sink)
    try:
        async with _started(*adapters.values()):
            # discord.py's AutoShardedClient, identified as its shard: READY brought only that shard's servers.
            assert [c.shard for c in fake.connections] == [(0, 2), (1, 2)]
            guilds = {caller: {str(g.id) for g in a.client.guilds} for caller, a in adapters.items()}
            for n, caller in enumerate(heard):  # Discord's formula: (guild_id >> 22) % count
                assert guilds[caller] == {g for g in fake.guild_names if (int(g) >> 22) % 2 == n}
            assert fake.guild_of(on_one) in guilds["p1"] and fake.guild_of(on_zero) in guilds["p0"]

            # A slash command in the server on shard 1 reaches only shard 1's process, which answers it.
            ix = await fake.slash(fay, on_one, "status")
            await asyncio.wait_for(ix.answered.wait(), 5)
            await _quiet(fake)
            assert ix.delivered_to == ["p1 shard 1/2"]
            assert fake.answered_by(ix) == {"p1"}
            ix = await fake.slash(fay, on_zero, "status")
            await asyncio.wait_for(ix.answered.wait(), 5)
            await _quiet(fake)
            assert ix.delivered_to == ["p0 shard 0/2"] and fake.answered_by(ix) == {"p0"}

            # A message in a server goes to its shard; a DM (no server) only to shard 0.
            await fake.user_says(ben, on_one, "in the channel on shard 1")
            await fake.user_says(ben, fake.dm_channel(ben), "a private idea")
            await _quiet(fake)
    finally:
        await fake.stop()
    texts = {caller: [getattr(i, "text", "") for i in inbound] for caller, inbound in heard.items()}
    assert texts["p1"] == ["status", "in the channel on shard 1"]
    assert texts["p0"] == ["status", "a private idea"]
    assert [getattr(i, "private", False) for i in heard["p0"]] == [False, True]


async def test_one_process_can_run_several_shards_including_shard_0s_dms(tmp_path: Path) -> None:
    fake = FakeDiscord()
    ben = fake.add_user("Ben")
    for shard in range(3):
        fake.add_guild(f"On shard {shard}", shard=(shard, 3))
    await fake.start()
    low, high = _adapter(fake, "p01", tmp_path, DiscordShards((0, 1), 3)), _adapter(fake, "p2", tmp_path,
                                                                                   DiscordShards((2,), 3))
    heard: list[Inbound] = []

    async def sink(inbound: Inbound) -> Reply | None:
        heard.append(inbound)
        return None

    low.bind(sink)
    try:
        # discord.py identifies the second shard 5 s after the first: the start waits for both, even when the
        # time it is given for one (3 s) is shorter.
        async with _started(low, high, ready_timeout=3):
            assert sorted(c.name for c in fake.connections) == ["p01 shard 0/3", "p01 shard 1/3", "p2 shard 2/3"]
            assert {str(g.id) for g in low.client.guilds} == {g for g in fake.guild_names if (int(g) >> 22) % 3 < 2}
            await fake.user_says(ben, fake.dm_channel(ben), "a private idea")
            await _quiet(fake)
    finally:
        await fake.stop()
    assert [getattr(i, "text", "") for i in heard] == ["a private idea"]


async def test_unsharded_a_process_gets_every_server_and_sends_no_shard(tmp_path: Path) -> None:
    fake = FakeDiscord()
    fake.add_guild("One", shard=(0, 2))
    fake.add_guild("Two", shard=(1, 2))
    await fake.start()
    adapter = _adapter(fake, "p", tmp_path, None)
    try:
        async with _started(adapter):
            assert "shard" not in fake.identify
            assert {str(g.id) for g in adapter.client.guilds} == set(fake.guild_names)
    finally:
        await fake.stop()


@pytest.mark.parametrize(("shard", "multiple"), [(2, 1), (0, 4)])  # no shard 2 of 2; 2 shards, not a multiple of 4
async def test_a_shard_discord_refuses_stops_the_start_with_what_to_fix(
        tmp_path: Path, shard: int, multiple: int) -> None:
    fake = FakeDiscord()
    fake.shard_multiple = multiple  # large bot sharding: Discord gave the bot a number its count must be a multiple of
    await fake.start()
    adapter = DiscordAdapter("fake-token", api_url=fake.api_url, gateway_url=fake.gateway_url,
                             forms_path=tmp_path / "forms.sqlite3", sync_commands=False, shard_ids=[shard],
                             shard_count=2)
    try:
        with pytest.raises(StartRefused, match=r"refused shard \d of 2 \(close code 4010, invalid shard\).*"
                                               r"FACILITATOR_DISCORD_SHARDS"):
            await adapter.start(ready_timeout=10)
    finally:
        await adapter.close()
        await fake.stop()


async def test_a_bot_discord_requires_to_shard_is_told_so_and_runs_once_sharded(tmp_path: Path) -> None:
    fake = FakeDiscord()
    fake.add_guild("Another", shard=(0, 2))
    fake.add_guild("A third", shard=(1, 2))  # and the fake's own first server, on one shard or the other
    fake.guilds_per_connection = 2  # Discord's is 2,500
    await fake.start()
    try:
        unsharded = _adapter(fake, "p", tmp_path, None)
        with pytest.raises(StartRefused, match="requires this bot to be sharded.*4011.*FACILITATOR_DISCORD_SHARDS"):
            async with _started(unsharded):
                pass
        halves = [_adapter(fake, f"p{n}", tmp_path, DiscordShards((n,), 2)) for n in range(2)]
        async with _started(*halves):
            assert sorted(len(a.client.guilds) for a in halves) == [1, 2]
    finally:
        await fake.stop()


# --- the setting ------------------------------------------------------------------------------------------------

def test_the_shard_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().discord_shards is None  # unsharded unless set
    monkeypatch.setenv("FACILITATOR_DISCORD_SHARDS", "1/2")
    assert Settings().discord_shards == DiscordShards((1,), 2)
    monkeypatch.setenv("FACILITATOR_DISCORD_SHARDS", "3, 2/8")
    assert Settings().discord_shards == DiscordShards((2, 3), 8)


@pytest.mark.parametrize(("value", "said"), [
    ("2/2", "there is no shard 2 of 2: shard ids run from 0 to 1"),
    ("0/0", "the shard count after the / must be at least 1"),
    ("half", "'half' is not a shard setting: write ID/COUNT, e.g. 1/4"),
    ("1,1/4", "a shard is named twice"),
])
def test_a_bad_shard_setting_stops_the_start_with_a_clear_message(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str, said: str) -> None:
    monkeypatch.setenv("FACILITATOR_DISCORD_SHARDS", value)
    assert main(["run", "discord"]) == 2
    err = capsys.readouterr().err
    assert f"facilitator: FACILITATOR_DISCORD_SHARDS: {value!r}" in err and said in err and "Traceback" not in err
    monkeypatch.delenv("FACILITATOR_DISCORD_SHARDS")
    with pytest.raises(SystemExit) as stopped:
        main(["run", "discord", "--shards", value])
    assert stopped.value.code == 2 and said in capsys.readouterr().err


def test_shards_are_refused_for_slack(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "slack", "--shards", "0/2"]) == 2
    assert "--shards is for Discord" in capsys.readouterr().err


def test_the_adapter_is_built_with_discord_py_sharding_from_the_setting() -> None:
    from bot.assembly import discord_adapter

    settings = Settings(DISCORD_TOKEN="fake-token", discord_shards="0,2/4")  # type: ignore[call-arg]
    client = discord_adapter(settings).client
    assert isinstance(client, discord.AutoShardedClient)
    assert (client.shard_ids, client.shard_count) == ([0, 2], 4)
    plain = discord_adapter(Settings(DISCORD_TOKEN="fake-token")).client  # type: ignore[call-arg]
    assert not isinstance(plain, discord.AutoShardedClient) and plain.shard_count is None
