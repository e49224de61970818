"""`facilitator doctor` against the loopback fakes of Slack and Discord: one line per check, the fix when not ok."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.cli import main
from tests.contract.slack_harness import TOKEN
from tests.discord.fake_discord import FakeDiscord
from tests.slack.fake_slack import FakeSlack

CREATE_PRIVATE_THREADS = 1 << 36


@pytest.fixture(autouse=True)
def _local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACILITATOR_DATABASE", str(tmp_path / "bot.sqlite3"))
    monkeypatch.setenv("FACILITATOR_GROUPING", "lexical")  # the model has its own test below


async def _doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, str]]:
    code = await asyncio.to_thread(main, ["doctor", *args])  # its own event loop; the fakes serve on this one
    lines = [line for line in capsys.readouterr().out.splitlines() if ": " in line]
    return code, {line[5:].split(": ", 1)[0]: line for line in lines}


@pytest.fixture
async def slack(monkeypatch: pytest.MonkeyPatch) -> FakeSlack:
    fake = FakeSlack()
    await fake.start()
    monkeypatch.setenv("SLACK_API_URL", fake.api_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-fake")
    yield fake
    await fake.stop()


@pytest.fixture
async def discord_fake(monkeypatch: pytest.MonkeyPatch) -> FakeDiscord:
    fake = FakeDiscord()
    await fake.start()
    monkeypatch.setenv("DISCORD_TOKEN", "fake-token")
    monkeypatch.setenv("DISCORD_API_URL", fake.api_url)
    yield fake
    await fake.stop()


async def test_a_ready_slack_app_passes_every_check(slack: FakeSlack, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = await _doctor(capsys)
    assert code == 0
    for name in ("Wording", "Structures", "Database", "Slack bot token", "Slack scopes", "Slack Socket Mode token"):
        assert lines[name].startswith("ok "), lines[name]
    assert lines["Discord"].startswith("-- ") and "DISCORD_TOKEN not set" in lines["Discord"]


async def test_a_missing_slack_scope_is_named_with_the_fix(
    slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    slack.scopes.remove("files:write")
    code, lines = await _doctor(capsys)
    assert code == 1
    assert lines["Slack scopes"].startswith("FAIL") and "missing files:write" in lines["Slack scopes"]
    assert "reinstall the app" in lines["Slack scopes"]


async def test_a_refused_slack_token_says_where_to_get_the_right_one(
    slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    slack.bot_token = "xoxb-the-real-one"
    code, lines = await _doctor(capsys)
    assert code == 1
    assert lines["Slack bot token"].startswith("FAIL") and "invalid_auth" in lines["Slack bot token"]
    assert "OAuth & Permissions" in lines["Slack bot token"]


async def test_discord_token_intent_and_permissions_in_a_channel(
    discord_fake: FakeDiscord, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = await _doctor(capsys, "--discord-channel", discord_fake.channel_id)
    assert code == 0, lines
    assert lines["Discord token"].startswith("ok ")
    assert lines["Discord message-content intent"].startswith("ok ")
    assert lines["Discord permissions"].startswith("ok ") and "#breakout" in lines["Discord permissions"]


async def test_a_missing_discord_permission_is_named_with_the_fix(
    discord_fake: FakeDiscord, capsys: pytest.CaptureFixture[str]
) -> None:
    channel = discord_fake.channels[discord_fake.channel_id]
    channel["permission_overwrites"] = [{"id": discord_fake.bot["id"], "type": 1, "allow": "0",
                                         "deny": str(CREATE_PRIVATE_THREADS)}]
    code, lines = await _doctor(capsys, "--discord-channel", discord_fake.channel_id)
    assert code == 1
    assert lines["Discord permissions"].startswith("FAIL")
    assert "Create Private Threads" in lines["Discord permissions"] and "discord-invite" in lines["Discord permissions"]


async def test_the_message_content_intent_turned_off_is_caught(
    discord_fake: FakeDiscord, capsys: pytest.CaptureFixture[str]
) -> None:
    discord_fake.app_flags = 0
    code, lines = await _doctor(capsys)
    assert code == 1
    assert "Privileged Gateway Intents" in lines["Discord message-content intent"]
    assert lines["Discord permissions"].startswith("-- ") and "--discord-channel" in lines["Discord permissions"]


async def test_the_discord_shards_are_set_beside_the_count_discord_recommends(
    discord_fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, lines = await _doctor(capsys)
    assert lines["Discord shards"].startswith("ok ") and "recommends 1 and this process is unsharded" in lines[
        "Discord shards"]
    discord_fake.recommended_shards = 4  # GET /gateway/bot: the bot is in more servers now
    _, lines = await _doctor(capsys)
    shards = lines["Discord shards"]
    assert shards.startswith("note") and "recommends 4 shards" in shards and "FACILITATOR_DISCORD_SHARDS" in shards
    monkeypatch.setenv("FACILITATOR_DISCORD_SHARDS", "1,3/4")
    _, lines = await _doctor(capsys)
    assert lines["Discord shards"].startswith("ok ") and "runs shard 1,3 of 4" in lines["Discord shards"]


async def test_a_database_that_cannot_be_written_and_a_broken_structure_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from bot.settings import CONFIG_DIR

    shutil.copytree(CONFIG_DIR, tmp_path / "config")
    (tmp_path / "config" / "structures" / "broken.toml").write_text('name = "B"\n[[phases]\n')
    monkeypatch.setenv("FACILITATOR_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("FACILITATOR_DATABASE", str(tmp_path))  # a folder, not a file
    code, lines = await _doctor(capsys)
    assert code == 1
    assert lines["Database"].startswith("FAIL") and "FACILITATOR_DATABASE" in lines["Database"]
    assert lines["Structure broken"].startswith("FAIL") and "broken.toml" in lines["Structure broken"]


async def test_the_model_line_says_whether_themes_group_by_meaning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FACILITATOR_GROUPING", "auto")
    _, lines = await _doctor(capsys)
    assert lines["Themes model"].startswith("ok ") and "by meaning" in lines["Themes model"]
