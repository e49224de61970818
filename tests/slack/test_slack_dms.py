"""Private posts on Slack go to the person's user id, which Slack delivers in the app's DM with them: no
conversations.open per person (Tier 3, about 50 a minute, so 60 people joining at once used to meet 429s)."""

from __future__ import annotations

from pathlib import Path

from tests.contract.slack_harness import make_slack_harness


async def test_joining_and_private_answers_open_no_dm_and_land_in_each_persons_dm(tmp_path: Path) -> None:
    async with make_slack_harness(tmp_path) as h:
        fac, people = h.facilitator, h.people
        await h.command(fac, "start own=private What should the network change first?")
        for person in people:
            await h.command(person, "join")
        for person in people:
            await h.direct_message(person, f"An idea from {h.name(person)}")

        opened = [c.params["users"] for c in h.fake.calls_to("conversations.open")]
        assert [u for u in opened if "," not in u] == [], "no DM is opened to post to one person"
        for person in [fac, *people]:
            mine = [m for m in h.fake.bot_messages() if m.channel == h.fake.im_of(person)]
            assert mine, f"{person} heard nothing in their DM"
        for person in people:
            texts = [s.text for s in h.seen() if s.where == f"private:{person}"]
            assert any("You're in" in t for t in texts) and any("Saved" in t for t in texts)
        to_users = [c for c in h.fake.calls_to("chat.postMessage") if str(c.params["channel"]).startswith("U")]
        assert len(to_users) == len(people) + 1, "each person's first post goes to their id; later ones to the DM"
