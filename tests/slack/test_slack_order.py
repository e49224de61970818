"""Inbound order on Slack: a thread reply's event can reach the bot after the facilitator's `next` typed just after
it. The reply counts in the phase it was sent in (by its ts), not in the one it arrived in."""

from __future__ import annotations

from pathlib import Path

from adapters.slack.render import escape
from tests.contract.slack_harness import make_slack_harness


async def test_an_idea_sent_before_next_but_delivered_after_it_is_on_time(tmp_path: Path) -> None:
    async with make_slack_harness(tmp_path) as h:
        fac, (ann, ben, cat, dev) = h.facilitator, h.people[:4]
        await h.command(fac, "start own=open What should the network change first?")
        for person in (ann, ben):
            await h.reply_in_thread(person, f"An idea from {h.name(person)}")
        thread = h.session_thread()
        in_time = h.fake.add_user_message(h.channel, cat, escape("A shared calendar"), thread)  # sent now...
        await h.command(fac, "next")  # ...Pair begins...
        await h.deliver_message(in_time)  # ...and only then does Slack deliver Cat's reply
        await h.reply_in_thread(dev, "A newsletter")  # sent after `next`: late, as before

        late_notices = [s for s in h.seen() if "late" in s.text]
        assert [s.where for s in late_notices if "your reply is kept (marked late)" in s.text] == [f"private:{dev}"]
        assert not any("A shared calendar" in s.text for s in late_notices)
        await h.command(fac, "end")
        note = h.notes()[-1].text
        assert "A shared calendar" in note and "A newsletter" in note
        assert "Ideas: 4 (1 late)" in note, "only the idea sent after `next` is late"
        assert not any("A shared calendar" in line and "(late)" in line for line in note.splitlines())
