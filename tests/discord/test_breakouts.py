"""Breakout groups on Discord: a real discord.py client and the real runtime against the loopback fake.

Two groups, chosen with the group buttons; each group's Own, pairs, proposals and ballot in its own
thread; then the report back, a plenary ballot and Arrange in the channel, and one combined note."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from facilitation.note import note_file_stem
from tests.contract.discord_harness import DiscordHarness, discord_world
from tests.contract.harness import BREAKOUT_NOTE_SECTIONS
from tests.discord.fake_discord import EPHEMERAL, FakeDiscord

QUESTION = "How can our network share power with the people who use services?"
STEM = note_file_stem(f"Round-up: {QUESTION}")  # one naming on every platform
PUBLIC_THREAD, PRIVATE_THREAD = 11, 12
NO_PARSE = {"parse": []}

# Two ideas each: the first through the Own post's button (in the group thread), the second by DM.
IDEAS = {
    "Amara": ["Pay for lived expertise", "Evening meetings"],
    "Ben": ["Publish what changed", "Plain English letters"],
    "Chloe": ["Peer researchers", "Childcare at events"],
    "Dev": ["Youth seats on boards", "Community budget pots"],
    "Erin": ["Train staff to listen", "Shared data on outcomes"],
    "Farid": ["Translate key documents", "Open board meetings"],
    "Grace": ["Co-design from the start", "Fund local anchors"],
}
GROUP_OF = {"Amara": 1, "Ben": 1, "Chloe": 1, "Dev": 2, "Erin": 2, "Farid": 2, "Grace": 2}


def public(fake: FakeDiscord) -> list[dict[str, Any]]:
    """Bot messages everyone in the channel can read (not ephemeral, not DMs, not private pair threads)."""
    return [
        m
        for m in fake.bot_messages()
        if not m["flags"] & EPHEMERAL and fake.channels[m["channel_id"]]["type"] in (0, PUBLIC_THREAD)
    ]


def in_channel(fake: FakeDiscord, channel: str, start: str) -> list[dict[str, Any]]:
    return [m for m in public(fake) if m["channel_id"] == channel and m["content"].startswith(start)]


def last_modal(fake: FakeDiscord, person: str, title: str) -> dict[str, Any]:
    """The last form (modal) the bot opened for `person` with this title."""
    opened = [
        ix.responses[0]["data"]
        for ix in fake.interactions.values()
        if ix.user_id == person
        and ix.responses
        and ix.responses[0]["type"] == 9
        and ix.responses[0]["data"]["title"].startswith(title)
    ]
    assert opened, f"no {title!r} form was opened for {person}"
    return opened[-1]


def field_labels(modal: dict[str, Any]) -> list[str]:
    return [row["label"] for row in modal["components"]]


def proposals(text: str) -> dict[int, str]:
    """`**Proposal 3:** text` (Explain) or `**Group 2, proposal 3:** text` (Report back) -> {3: text}."""
    return {int(n): body for n, body in re.findall(r"roposal (\d+):\*\* (.+)", text)}


async def test_two_breakout_groups_from_the_group_buttons_to_the_plenary_and_one_combined_note(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    async with discord_world(tmp_path, fake) as h:
        await run_session(h, fake)


async def run_session(h: DiscordHarness, fake: FakeDiscord) -> None:
    channel = fake.channel_id
    by_name = {name: uid for uid, name in h.names.items()}
    person_group = {by_name[name]: g for name, g in GROUP_OF.items()}
    idea_group = {idea: GROUP_OF[name] for name, ideas in IDEAS.items() for idea in ideas}
    grace = by_name["Grace"]
    # Participant text that Discord would turn into pings if the bot let it.
    reason = f"Cheap to try, says <@{h.facilitator}> @here"

    assert (
        await h.command(h.facilitator, f"start groups=2 assign=choice plenary=on picks=2 convenor=@Grace {QUESTION}")
        is None
    )
    [question] = in_channel(fake, channel, "**Breakout session")
    assert question["content"].startswith(f"**Breakout session: {QUESTION}**")  # the typed options are not in it
    anchors = {g: in_channel(fake, channel, f"**Group {g}**") for g in (1, 2)}
    assert all(len(a) == 1 for a in anchors.values())
    posts = {g: a[0] for g, a in anchors.items()}
    assert [[b["label"] for row in p["components"] for b in row["components"]] for p in posts.values()] == [
        ["Join Group 1"],
        ["Join Group 2"],
    ]
    # Each group's space is the public thread on its post (a thread started from a message has the message's id).
    threads = {g: p["id"] for g, p in posts.items()}
    assert all(
        fake.channels[t]["type"] == PUBLIC_THREAD and fake.channels[t]["parent_id"] == channel for t in threads.values()
    )
    own = {g: in_channel(fake, threads[g], "**Own**") for g in (1, 2)}
    assert all(len(o) == 1 for o in own.values()) and not in_channel(fake, channel, "**Own**")

    # --- everyone chooses a group with its button, then writes two private ideas -------------------------------
    for name, g in GROUP_OF.items():
        await h.click(by_name[name], posts[g]["id"], f"Join Group {g}")
        ack = [
            m
            for m in fake.bot_messages()
            if m.get("interaction_user") == by_name[name] and f"You're in **Group {g}**" in m["content"]
        ]
        assert ack and ack[-1]["flags"] & EPHEMERAL
    for name, (first, second) in IDEAS.items():
        uid = by_name[name]
        await h.click(uid, own[GROUP_OF[name]][0]["id"], "Add an idea", {"idea": first})
        await h.direct_message(uid, second)
    saved = [m for m in fake.bot_messages() if m["content"].startswith("Saved")]
    assert len(saved) == 14
    assert not any(idea in m["content"] for m in public(fake) for ideas in IDEAS.values() for idea in ideas)

    # --- Pair: private threads within each group; a broadcast reaches both group threads -----------------------
    await h.command(h.facilitator, "next")
    spaces = [t for t, c in fake.channels.items() if c["type"] == PRIVATE_THREAD]
    members = {t: fake.thread_members[t] - {fake.bot["id"]} for t in spaces}
    assert sorted(len(m) for m in members.values()) == [2, 2, 3]  # group 1: a trio; group 2: two pairs
    for t, people in members.items():
        assert len({person_group[p] for p in people}) == 1, f"pair thread {t} mixes two groups"
    assert set().union(*members.values()) == set(person_group)

    await h.command(h.facilitator, "broadcast Two minutes left @everyone")
    broadcast = [m for m in fake.bot_messages() if "From the facilitator, to every group" in m["content"]]
    assert sorted(m["channel_id"] for m in broadcast) == sorted(threads.values())
    assert all("@everyone" not in m["content"] and m["allowed_mentions"] == NO_PARSE for m in broadcast)

    for t, people in members.items():
        intro = next(m for m in fake.bot_messages() if m["channel_id"] == t and "Your pair" in m["content"])
        shown = re.findall(r"^#(\d+) (.+)$", intro["content"], re.M)
        assert len(shown) == 2 * len(people)
        assert {idea_group[text] for _, text in shown} == {person_group[next(iter(people))]}
        picker = sorted(people)[-1]
        await h.click(picker, intro["id"], "Pick", {"ideas": [f"i{n}" for n, _ in shown[:2]], "reason": reason})
        assert any(m["channel_id"] == t and "picked for the pair" in m["content"] for m in fake.bot_messages())

    # --- Explain: each group hears its own proposals, in its own thread ----------------------------------------
    await h.command(h.facilitator, "next")
    explained: dict[int, dict[int, str]] = {}
    for g, thread in threads.items():
        explained[g] = {
            n: text for m in in_channel(fake, thread, "**Proposal") for n, text in proposals(m["content"]).items()
        }
        assert all(idea_group[text] == g for text in explained[g].values())
    assert [len(explained[1]), len(explained[2])] == [2, 4]  # picks=2: a trio in group 1, two pairs in group 2
    assert not in_channel(fake, channel, "**Proposal")
    group2 = sorted(explained[2])
    await h.reply_to(by_name["Ben"], in_channel(fake, threads[1], "**Proposal")[0]["id"], "Who holds the budget?")
    await h.say_in(by_name["Erin"], threads[2], f"{group2[1]}: Could the venue provide it?")

    # --- Rank: one ballot per group, in its thread, offering only that group's proposals -----------------------
    await h.command(h.facilitator, "next")
    ballots = {g: in_channel(fake, threads[g], "**Rank**") for g in (1, 2)}
    assert all(len(b) == 1 for b in ballots.values()) and not in_channel(fake, channel, "**Rank**")
    first_two = {1: sorted(explained[1]), 2: [group2[3], group2[2]]}  # group 2 prefers its last two
    for name, g in GROUP_OF.items():
        top, second = first_two[g]
        await h.click(by_name[name], ballots[g][0]["id"], "Vote", {f"P{top}": "2", f"P{second}": "1"})
        labels = field_labels(last_modal(fake, by_name[name], "Your ballot"))
        assert sorted(labels) == sorted(f"{n}. {text}" for n, text in explained[g].items())
    assert len([m for m in fake.bot_messages() if "Your ballot is saved" in m["content"]]) == 7

    # --- Report back: each group's top two, in the channel ------------------------------------------------------
    await h.command(h.facilitator, "next")
    for g, thread in threads.items():
        [results] = in_channel(fake, thread, "**Results**")
        assert f"({len([p for p in person_group.values() if p == g])} ballots)" in results["content"]
    assert len(in_channel(fake, channel, "**Report back**")) == 1
    reported: dict[int, str] = {}
    for g in (1, 2):
        for m in in_channel(fake, channel, f"**Group {g}, proposal"):
            reported.update(proposals(m["content"]))
    assert sorted(reported) == sorted(first_two[1] + first_two[2])
    assert all(reported[n] == explained[g][n] for g in (1, 2) for n in first_two[g])

    # --- the plenary ballot in the channel, over the reported proposals -----------------------------------------
    await h.command(h.facilitator, "next")
    [plenary] = in_channel(fake, channel, "**Rank**")
    favourite, runner_up = first_two[2][1], first_two[1][0]
    for uid in person_group:
        await h.click(uid, plenary["id"], "Vote", {f"P{favourite}": "2", f"P{runner_up}": "1"})
        labels = field_labels(last_modal(fake, uid, "Your ballot"))
        assert sorted(labels) == sorted(f"{n}. {text}" for n, text in reported.items())

    # --- Arrange: everything, themed, in the channel --------------------------------------------------------------
    await h.command(h.facilitator, "next")
    [plenary_results] = in_channel(fake, channel, "**Results**")
    assert "(7 ballots)" in plenary_results["content"]
    assert plenary_results["content"].splitlines()[1].startswith(f"1. {reported[favourite]}")
    [arrange] = in_channel(fake, channel, "**Arrange**")
    assert all(idea in arrange["content"] for ideas in IDEAS.values() for idea in ideas)
    chair = in_channel(fake, channel, "**The empty chair:**")[-1]
    await h.reply_to(by_name["Chloe"], chair["id"], "Young people in care")

    # --- the end: one combined note, by DM to the convenor; Approve posts it once ------------------------------
    await h.command(h.facilitator, "next")
    [note] = h.notes()
    assert note.where == f"private:{grace}"
    assert [f.rsplit(".", 1) for f in sorted(note.files)] == [[STEM, "json"], [STEM, "md"]]
    sections = re.findall(r"^## \d+\. (.+)$", note.text, re.M)
    assert sections == BREAKOUT_NOTE_SECTIONS
    groups_section = note.text.split("## 3. Breakout groups", 1)[1].split("## 4.", 1)[0]
    assert re.findall(r"^### (.+)$", groups_section, re.M) == ["Group 1", "Group 2"]
    assert "reported to the plenary" in groups_section
    summary = note.text.split("## 1. Summary of key points", 1)[1].split("## 2.", 1)[0]
    assert summary.strip().startswith(f"1. {reported[favourite]}")
    for comment in ("Who holds the budget?", "Could the venue provide it?", "Young people in care"):
        assert comment in note.text
    await h.click(grace, note.ref, "Approve")
    await h.click(grace, note.ref, "Approve")  # a second press posts nothing more
    [published] = h.published()
    assert published.where == "channel" and "Breakout groups" in published.text
    assert len([m for m in public(fake) if m["content"].startswith("# Round-up")]) == 1

    # --- no participant text pinged anyone, in the groups or anywhere else -------------------------------------
    repeated = [m for m in fake.bot_messages() if "Cheap to try" in m["content"]]
    in_groups = [m for m in repeated if m["channel_id"] in threads.values()]
    assert in_groups and all(m["allowed_mentions"] == NO_PARSE for m in in_groups)
    assert all(f"<@{h.facilitator}>" not in m["content"] and "@here" not in m["content"] for m in repeated)
    payloads = [c.body for c in fake.message_calls() if c.body is not None and c.body.get("content")]
    assert payloads and all(p.get("allowed_mentions") == NO_PARSE for p in payloads)
    assert not any(s.pings for s in h.seen())
    assert all(len(m["content"]) <= 2000 for m in fake.bot_messages())


async def test_the_start_command_takes_breakout_options(fake: FakeDiscord, tmp_path: Path) -> None:
    async with discord_world(tmp_path, fake) as h:
        [group] = fake.commands
        start = next(o for o in group["options"] if o["name"] == "start")
        assert {"groups", "group_size", "assign", "plenary"} <= {o["name"] for o in start["options"]}
        structure = next(o for o in start["options"] if o["name"] == "structure")
        assert sorted(c["value"] for c in structure["choices"]) == ["1-2-4-all", "25-10", "opera"]
        ix = await fake.slash(
            h.facilitator,
            fake.channel_id,
            "start",
            {"question": QUESTION, "groups": 3, "assign": "random", "plenary": True},
        )
        await h._answered(ix)
        await h.settle()
        posts = [in_channel(fake, fake.channel_id, f"**Group {g}**") for g in (1, 2, 3)]
        assert all(len(p) == 1 for p in posts)
        # assign=random: people are placed as they join, so the group posts offer no Join Group buttons
        assert not any(
            b["label"].startswith("Join Group") for [p] in posts for row in p["components"] for b in row["components"]
        )


async def test_the_start_form_offers_the_installed_structures(fake: FakeDiscord, tmp_path: Path) -> None:
    async with discord_world(tmp_path, fake) as h:
        ix = await fake.slash(h.facilitator, fake.channel_id, "start", {})
        await h._answered(ix)
        form = last_modal(fake, h.facilitator, "Start")
        structure = next(row for row in form["components"] if "Structure" in str(row))
        assert "1-2-4-all" in str(structure) and "25-10" in str(structure)
