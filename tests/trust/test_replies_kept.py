"""Finding 8: replies silently discarded. The console numbered messages from u1 again after a restart, and the
engine dropped any reply whose ref matched an existing idea, even another person's with other text. Now the
console's refs stay unique across restarts, a duplicate is only the same author's same message, and nobody's
reply is dropped without telling them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.cli import _console
from bot.settings import Settings
from facilitation.events import ReplyPosted
from tests.engine.conftest import new_session
from tests.engine.driver import pid
from tests.trust.platforms import platform, start_with_ideas, told


def test_another_persons_reply_with_the_same_ref_is_kept() -> None:
    d = new_session(2)
    d.reply(pid(1), "Ana's idea", ref="u3", reply_to=None, private=True)
    d.reply(pid(2), "Ben's different idea", ref="u3", reply_to=None, private=True)
    assert [i.text for i in d.s.live_ideas()] == ["Ana's idea", "Ben's different idea"]


def test_the_same_message_twice_is_kept_once_and_its_author_is_told() -> None:
    d = new_session(1)
    d.reply(pid(1), "Only once", ref="m1", reply_to=None, private=True)
    d.reply(pid(1), "Only once", ref="m1", reply_to=None, private=True)
    assert [i.text for i in d.s.live_ideas()] == ["Only once"]
    assert d.told(pid(1), "idea_already_saved")


def test_a_late_reply_with_a_reused_ref_is_kept_as_late() -> None:
    d = new_session(2)
    d.reply(pid(1), "Early idea", ref="u1", reply_to=None, private=True)
    d.fac("next")
    d.send(ReplyPosted(at=d.clock, person=pid(2), name="Ben", text="Late, from someone else", message_ref="u1"))
    assert any(i.text == "Late, from someone else" and i.late for i in d.s.ideas)


async def test_console_replies_after_a_restart_reach_the_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "console.sqlite3"
    before = ["Fay /start What should we change first?", "Chloe /join", "Dev /join",
              "Amara dm: Before the restart one", "Ben dm: Before the restart two"]
    after = ["Chloe dm: After the restart one", "Dev: After the restart two", "Fay /end"]
    for lines in (before, after):
        monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
        assert await _console(Settings(), db) == 0
    out = capsys.readouterr().out
    note = out[out.rindex("DM to Fay, files "):]  # the note's files: named after its title
    for idea in ("Before the restart one", "Before the restart two", "After the restart one",
                 "After the restart two"):
        assert idea in note
    assert "(u3)" in out and "(u1): After" not in out  # numbering went on from u3


async def test_slack_redelivery_of_a_reply_under_a_new_event_id_is_told(tmp_path: Path) -> None:
    async with platform("slack", tmp_path) as h:
        await start_with_ideas(h, [])
        person = h.people[0]
        ref = await h.reply_in_thread(person, "Said once, delivered twice")
        msg = h.fake.message(ref)
        event = {"type": "message", "channel": msg.channel, "user": person, "text": msg.text, "ts": msg.ts,
                 "event_ts": msg.ts, "thread_ts": msg.thread_ts, "channel_type": "channel", "team": "T0"}
        await h.deliver(event, "EvRedelivered")
        assert told(h, person, "wasn't added twice")
        ideas = [i for s in h.runtime.sessions.values() for i in s.ideas if i.text == "Said once, delivered twice"]
        assert len(ideas) == 1
