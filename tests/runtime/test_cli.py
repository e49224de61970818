"""The command line as a newcomer uses it: simulate, demo, structures."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.cli import main
from facilitation.note import RoundUpNote

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "council.toml"


def _note(folder: Path, ext: str) -> str:
    """The note simulate wrote, named as on every platform: round-up- and the question."""
    [path] = folder.glob(f"round-up-*.{ext}")
    return path.read_text(encoding="utf-8")


def test_simulate_writes_a_note_a_json_note_and_a_transcript(tmp_path: Path) -> None:
    assert main(["simulate", str(SCENARIO), "--out", str(tmp_path)]) == 0
    note = _note(tmp_path, "md")
    data = RoundUpNote.model_validate_json(_note(tmp_path, "json"))
    transcript = (tmp_path / "transcript.txt").read_text(encoding="utf-8")

    for heading in ("Summary of key points", "Discussion by theme", "Ranking", "Who isn't here", "Participation"):
        assert heading in note
    assert "Publish decisions in plain English" in note and "plain Englsh" not in note.split("Edited")[0]
    assert "An idea I will take back" not in note, "a withdrawn idea stays out of the note"
    assert "Meet in the evenings so carers can come" in note, "list items became ideas of their own"
    assert "Young people leaving care" in note and "Who would pay, and from which budget?" in note
    assert data.ranking is not None and data.ranking.method == "borda"
    assert [p.text for p in sorted(data.proposals, key=lambda p: p.rank or 0)][0].startswith("Seats on the scrutiny")
    assert all(i.theme for i in data.ideas), "every idea is traced to a theme"
    assert len(data.ideas) == 6
    assert not any(name in note for name in ("Amara", "Chloe", "Dev", "Erin")), "unattributed by default"
    assert "Extended by 2 min" in transcript and "Cara" in transcript


def test_simulate_is_repeatable(tmp_path: Path) -> None:
    main(["simulate", str(SCENARIO), "--out", str(tmp_path / "a")])
    main(["simulate", str(SCENARIO), "--out", str(tmp_path / "b")])
    a = json.loads(_note(tmp_path / "a", "json"))
    b = json.loads(_note(tmp_path / "b", "json"))
    a.pop("date"), b.pop("date")
    assert a == b


def test_a_broken_scenario_names_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('question = "Q?"\n[[steps]]\nphase = "own"\nwho = "Ana"\npick = "nothing like this"\n')
    assert main(["simulate", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert "step 1" in capsys.readouterr().err


def test_the_fast_demo_prints_a_complete_note(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--fast"]) == 0
    out = capsys.readouterr().out
    for heading in ("Summary of key points", "Discussion by theme", "Who isn't here", "Next steps"):
        assert heading in out
    assert "posted to the channel" in out


def test_structures_lists_opera(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["structures"]) == 0
    assert "opera" in capsys.readouterr().out


BREAKOUTS = Path(__file__).resolve().parents[1] / "scenarios" / "breakouts.toml"


def test_simulate_three_breakout_groups_into_one_combined_note(tmp_path: Path) -> None:
    assert main(["simulate", str(BREAKOUTS), "--out", str(tmp_path)]) == 0
    data = RoundUpNote.model_validate_json(_note(tmp_path, "json"))
    note = _note(tmp_path, "md")
    transcript = (tmp_path / "transcript.txt").read_text(encoding="utf-8")

    assert [g.name for g in data.groups] == ["Group 1", "Group 2", "Group 3"]
    assert [g.participation.people for g in data.groups] == [5, 5, 5]
    quiet = data.groups[2]
    assert quiet.proposal_ids == [] and quiet.participation.ideas == 5, "a group that picked nothing loses nothing"
    assert len(data.ideas) == 15 and all(i.theme for i in data.ideas)
    assert "Shared data on outcomes" in note, "Jia's pick stands though Ivo, of the same trio, left"
    assert data.ranking is not None and data.key_points[0] == "Childcare at events", "the plenary ballot leads"
    assert note.index("Summary of key points") < note.index("Discussion by theme") < note.index("Breakout groups")
    assert "Young people in care" in note and "Disabled people who can't join online" in note
    assert transcript.count("From the facilitator, to every group") == 3
    assert not any(name in note for name in ("Amara", "Kofi", "Jia")), "still unattributed"


def test_structures_reports_a_broken_file_by_name_and_lists_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from bot.settings import CONFIG_DIR

    shutil.copytree(CONFIG_DIR, tmp_path / "config")
    (tmp_path / "config" / "structures" / "broken.toml").write_text('name = "B"\n[[phases]\n')
    monkeypatch.setenv("FACILITATOR_CONFIG_DIR", str(tmp_path / "config"))
    assert main(["structures"]) == 2
    out = capsys.readouterr().out
    assert "broken.toml" in out and "line 2" in out
    assert "1-2-4-all" in out and "25-10" in out and "opera" in out


def test_the_console_explains_how_to_type_a_multi_line_reply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # Ctrl-D straight away
    assert main(["console", "--db", str(tmp_path / "console.sqlite3")]) == 0
    intro = capsys.readouterr().out
    assert r'(type \n for a new line: "Ben: - one\n- two")' in intro  # shown as typed, not as a line break


def test_facilitator_alone_explains_itself_and_version_says_which(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "usage: facilitator" in out and "demo" in out and "discord-invite" in out and "error" not in out
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("facilitator 0.")


@pytest.mark.parametrize(("command", "says"), [
    ("run", ["SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "DISCORD_TOKEN", "(default: 3000)"]),
    ("simulate", ["a scenario file", "Replay a scenario"]),
    ("discord-invite", ["Application ID", "permissions"]),
    ("console", ["Ctrl-C"]),
])
def test_each_command_describes_itself_and_its_arguments(
    command: str, says: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([command, "-h"])
    out = " ".join(capsys.readouterr().out.split())
    for text in says:
        assert text in out


def test_discord_invite_refuses_what_is_not_an_application_id(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["discord-invite", "abc"])
    assert done.value.code == 2 and "'abc' is not an application id" in capsys.readouterr().err
    assert main(["discord-invite", "1300000000000000001"]) == 0
    assert "client_id=1300000000000000001" in capsys.readouterr().out


def _manifest(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    yaml = pytest.importorskip("yaml")  # only to read the result as Slack would; the bot does not need it
    assert main(["slack-manifest", *args]) == 0
    return yaml.safe_load(capsys.readouterr().out)


def test_slack_manifest_for_socket_mode_is_ready_to_paste(capsys: pytest.CaptureFixture[str]) -> None:
    m = _manifest(capsys, "--socket")
    assert m["settings"]["socket_mode_enabled"] is True
    assert "YOUR-HOST" not in str(m) and "request_url" not in str(m)
    assert m["features"]["slash_commands"][0]["command"] == "/opera"
    assert "files:write" in m["oauth_config"]["scopes"]["bot"]


def test_slack_manifest_for_a_public_address_points_everything_at_it(capsys: pytest.CaptureFixture[str]) -> None:
    m = _manifest(capsys, "--url", "https://opera.example.org/")
    events = "https://opera.example.org/slack/events"
    assert m["settings"]["socket_mode_enabled"] is False
    assert m["settings"]["event_subscriptions"]["request_url"] == events
    assert m["settings"]["interactivity"]["request_url"] == events
    assert m["features"]["slash_commands"][0]["url"] == events
    assert main(["slack-manifest", "--url", "http://opera.example.org"]) == 2
    assert "https://" in capsys.readouterr().err
