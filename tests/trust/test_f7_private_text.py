"""Finding 7: private text reaches nobody else before Explain: late DMs in 1-2-4-All's fours and 25/10's Score,
small breakout groups in an unattributed note, and pair intros on Discord without private threads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.contract.discord_harness import discord_world
from tests.contract.harness import Harness
from tests.contract.slack_harness import SlackHarness
from tests.discord.fake_discord import FakeDiscord

LATE = "Nobody reads the complaints we send"


async def _join_with_ideas(h: Harness, people: list[str]) -> None:
    for n, person in enumerate(people, start=1):
        await h.command(person, "join")
        await h.direct_message(person, f"Idea {n} from a participant")
    await h.settle()


@pytest.mark.parametrize(("structure", "steps"), [("1-2-4-all", 2), ("25-10", 1)])
async def test_a_late_dm_before_explain_is_not_forwarded_with_its_text(h: Harness, structure: str,
                                                                      steps: int) -> None:
    await h.command(h.facilitator, f"start structure={structure} What should change?")
    await _join_with_ideas(h, h.people[:4])
    await h.command(h.people[4], "join")  # joined, but wrote nothing in time
    for _ in range(steps):  # to the fours (1-2-4-All) or to Score (25/10)
        await h.command(h.facilitator, "next")
    await h.direct_message(h.people[4], LATE)
    await h.settle()
    holders = {m.where for m in h.seen() if LATE in m.text}
    assert holders <= {f"private:{h.people[4]}"}, holders
    told = [m.text for m in h.seen() if m.where == f"private:{h.facilitator}" and "late reply" in m.text]
    assert told and "stays private until Explain" in told[-1]


async def test_an_unattributed_note_withholds_the_detail_of_a_group_too_small_to_hide_anyone(h: Harness) -> None:
    await h.command(h.facilitator, "start groups=2 What should change?")
    await _join_with_ideas(h, h.people[:5])  # a group of three and a group of two
    await h.command(h.facilitator, "end")
    await h.settle()
    [note] = h.notes()
    assert "Fewer than 3 people took part in this group" in note.text
    assert note.text.count("People: 3.") == 1 and "People: 2." not in note.text
    if isinstance(h, SlackHarness):
        data = json.loads(next(u["data"] for u in h.fake.uploads.values() if u["filename"].endswith(".json")))
        sizes = {g["name"]: g for g in data["groups"]}
        small = next(g for g in sizes.values() if g["withheld"])
        assert small["participation"] is None and small["proposal_ids"] == []
        assert small["name"] not in {i["group"] for i in data["ideas"]}, "an idea names the group of two"


async def test_discord_without_private_threads_the_pair_intro_goes_by_dm_never_to_a_public_thread(
        tmp_path: Path) -> None:
    fake = FakeDiscord()
    from tests.contract.discord_harness import NAMES
    for name in NAMES:
        fake.add_user(name)
    fake.deny_private_threads = True
    await fake.start()
    try:
        async with discord_world(tmp_path, fake) as h:
            await h.command(h.facilitator, "start What should change?")
            await _join_with_ideas(h, h.people[:2])
            await h.command(h.facilitator, "next")
            threads = [c for c in fake.channels.values() if c["type"] in (11, 12)]
            assert all(t["id"] in fake.messages for t in threads), "only the session thread is a thread"
            intros = [m for m in h.seen() if "Your pair" in m.text]
            assert sorted(m.where for m in intros) == sorted(f"private:{p}" for p in h.people[:2])
            assert all("Idea 1 from" in m.text and "Idea 2 from" in m.text for m in intros)
            warning = [m for m in h.seen() if "Create Private Threads" in m.text]
            assert warning and all(m.where == f"private:{h.facilitator}" for m in warning)
            await h.direct_message(h.people[0], "pick #2 because it is cheaper")
            assert [m for m in h.seen() if "picked for the pair" in m.text]
    finally:
        await fake.stop()
