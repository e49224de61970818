"""Breakout groups over Slack: two groups, each with its own thread (under its "Group N" post), its own pairs,
proposals and ballot; then the plenary report back, plenary ballot and Arrange in the channel; one combined note.

Pairing is seeded at random per session, so the test reads who is paired with whom from Slack itself."""

from __future__ import annotations

import re
from typing import Any

from tests.contract.harness import BREAKOUT_NOTE_SECTIONS, Seen
from tests.contract.slack_harness import SlackHarness

QUESTION = "How can our network share power with the people who use services?"
HOSTILE = "<!channel> <!here> <@UFAY> <https://evil.example|click me> @everyone"


def group_posts(h: SlackHarness) -> dict[str, Seen]:
    """The groups' top-level posts in the channel, by group name."""
    posts = {}
    for s in h.seen():
        joins = [b for b in s.buttons if b.startswith("Join Group")]
        if s.where == "channel" and joins:
            posts[joins[0].removeprefix("Join ")] = s
    return posts


def thread_of(h: SlackHarness, s: Seen) -> str | None:
    return h.fake.message(s.ref).thread_ts


def top_level(h: SlackHarness, s: Seen) -> bool:
    m = h.fake.message(s.ref)
    return m.channel == h.channel and m.thread_ts is None and m.ephemeral_to is None


async def click_form(
    h: SlackHarness, person: str, ref: str, label: str, values: dict[str, str | list[str]]
) -> dict[str, Any]:
    """Press a form button and submit its modal; return the modal as the bot opened it."""
    before = len(h.fake.views)
    await h.click(person, ref, label, values)
    opened = list(h.fake.views.values())[before:]
    assert len(opened) == 1, f"{label} opened {len(opened)} modals"
    return opened[0]


def labels(view: dict[str, Any]) -> list[str]:
    return [b["label"]["text"] for b in view["blocks"] if b.get("type") == "input"]


def options(view: dict[str, Any]) -> list[str]:
    return [
        o["text"]["text"] for b in view["blocks"] if b.get("type") == "input" for o in b["element"].get("options", [])
    ]


async def test_two_breakout_groups_end_to_end(slack: SlackHarness) -> None:
    h, fake = slack, slack.fake
    fake.users["UHANA"] = "Hana"
    fac = h.facilitator
    people = [*h.people[:7], "UHANA"]
    assert await h.command(fac, f"start groups=2 assign=choice plenary=on {QUESTION}") is None

    # Two group posts, top-level in the channel, each with its Join button; their threads are the groups' spaces.
    posts = group_posts(h)
    assert sorted(posts) == ["Group 1", "Group 2"]
    assert all(top_level(h, p) and p.text.startswith(f"**{name}**") for name, p in posts.items())
    thread = {name: h.fake.message(p.ref).ts for name, p in posts.items()}
    members = {"Group 1": people[:4], "Group 2": people[4:]}
    group_of = {person: name for name, ps in members.items() for person in ps}
    for person in people:
        await h.click(person, posts[group_of[person]].ref, f"Join {group_of[person]}")
    for person in people:
        told = [s for s in h.seen() if s.where == f"private:{person}" and s.text.startswith("You're in **Group")]
        assert [s.text for s in told] == [
            f"You're in **{group_of[person]}**: reply in its thread (under its message in the channel)."
        ]

    # Own (private), prompted in every group's thread; ideas through each group's Add an idea modal, one by DM.
    own = {thread_of(h, s): s for s in h.seen() if s.text.startswith("**Own**")}
    assert set(own) == set(thread.values()) and all(s.where == "thread" for s in own.values())
    idea_of = {
        person: f"Idea from {h.name(person)}: {word}"
        for person, word in zip(
            people,
            [
                "pay for lived expertise",
                "publish what changed",
                "evening meetings",
                "peer researchers",
                "plain English letters",
                "youth seats on boards",
                "childcare at events",
                "community budgets",
            ],
            strict=True,
        )
    }
    idea_of[people[5]] += " " + HOSTILE  # typed into a modal: Slack hands it over raw
    for person in people[:-1]:
        await h.click(person, own[thread[group_of[person]]].ref, "Add an idea", {"idea": idea_of[person]})
    await h.direct_message(people[-1], idea_of[people[-1]])
    for person, idea in idea_of.items():
        shown = [s for s in h.seen() if idea[:30] in s.text]
        assert shown and all(s.where == f"private:{person}" for s in shown), "Own ideas stay private"

    # The facilitator's broadcast reaches every group thread (and pings no one).
    await h.command(fac, "broadcast Two minutes left <!channel> @here")
    told = [s for s in h.seen() if s.text.startswith("**From the facilitator, to every group:**")]
    assert sorted(thread_of(h, s) for s in told) == sorted(thread.values())
    assert all(s.where == "thread" and "Two minutes left" in s.text and not s.pings for s in told)

    # Pair: pairs form within groups, each in a group DM that never mixes members of two groups.
    await h.command(fac, "next")
    spaces = [c.params["users"].split(",") for c in fake.calls_to("conversations.open") if "," in c.params["users"]]
    assert sorted(len(s) for s in spaces) == [2, 2, 2, 2]
    for space in spaces:
        assert len({group_of[m] for m in space}) == 1, f"a group DM mixes two groups: {space}"
    intros = [s for s in h.seen() if s.where.startswith("pair:") and "Pick" in s.buttons]
    assert len(intros) == 4
    picked_idea: dict[str, str] = {}  # group name -> a picked idea's text
    for intro in intros:
        space = intro.where.removeprefix("pair:")
        member = fake.conversations[space][0]
        first = re.search(r"#(\d+) ", intro.text)
        assert first
        view = await click_form(h, member, intro.ref, "Pick", {"ideas": f"i{first.group(1)}", "reason": "Concrete"})
        offered = options(view)
        assert len(offered) == 2 and all(
            any(idea_of[m][:30] in o for o in offered) for m in fake.conversations[space]
        ), offered
    assert len([s for s in h.seen() if "picked for the pair" in s.text and s.where.startswith("pair:")]) == 4

    # Explain: each group's proposals appear in its own thread, and in no other.
    await h.command(fac, "next")
    proposals = [s for s in h.seen() if s.text.startswith("**Proposal")]
    assert len(proposals) == 4 and {s.where for s in proposals} == {"thread"}
    number_in: dict[str, list[str]] = {"Group 1": [], "Group 2": []}
    for s in proposals:
        group = next(name for name, ts in thread.items() if thread_of(h, s) == ts)
        author = next(p for p, idea in idea_of.items() if idea[:30] in s.text)
        assert group_of[author] == group, f"{h.name(author)}'s proposal went to {group}'s thread"
        number = re.match(r"\*\*Proposal (\d+):\*\*", s.text)
        assert number
        number_in[group].append(number.group(1))
        picked_idea[group] = idea_of[author][:30]
    for group, ts in thread.items():
        elsewhere = [
            s for s in h.seen() if picked_idea[group] in s.text and s.where == "thread" and thread_of(h, s) != ts
        ]
        assert not elsewhere, f"{group}'s proposal appears in another group's thread"
    # A numbered reply in a group's thread is a comment on that proposal; hostile text in it pings no one.
    await h.reply_to(people[1], posts["Group 1"].ref, f"{number_in['Group 1'][0]}: who would run it?")
    await h.reply_to(people[6], posts["Group 2"].ref, f"{number_in['Group 2'][0]}: {HOSTILE}")

    # Rank: one ballot per group, in its thread; each voter's Vote form lists only their group's proposals.
    await h.command(fac, "next")
    ballots = {thread_of(h, s): s for s in h.seen() if s.text.startswith("**Rank**") and "Vote" in s.buttons}
    assert set(ballots) == set(thread.values())
    for person in people:
        group = group_of[person]
        first, second = number_in[group]
        view = await click_form(h, person, ballots[thread[group]].ref, "Vote", {f"P{first}": "2", f"P{second}": "1"})
        assert sorted(label.split(".")[0] for label in labels(view)) == sorted(number_in[group])
    saved = [s for s in h.seen() if s.text.startswith("Your ballot is saved")]
    assert len(saved) == 8 and all(s.where.startswith("private:") for s in saved)
    # Pressing the other group's Vote button opens that group's form, but the ballot is refused.
    outsider = people[0]
    other = number_in["Group 2"][0]
    await click_form(h, outsider, ballots[thread["Group 2"]].ref, "Vote", {f"P{other}": "1"})
    refused = [s for s in h.seen() if s.where == f"private:{outsider}"][-1]
    assert refused.text == f"There's no proposal {other}. Use the numbers shown in the ballot."

    # Report back: each group's results in its thread, then its top 2 proposals top-level in the channel.
    await h.command(fac, "next")
    results = [s for s in h.seen() if s.text.startswith("**Results** (4 ballots)")]
    assert sorted(thread_of(h, s) for s in results) == sorted(thread.values())
    reported = [s for s in h.seen() if re.match(r"\*\*Group \d, proposal \d+:\*\*", s.text)]
    assert len(reported) == 4 and all(top_level(h, s) for s in reported)
    for group in ("Group 1", "Group 2"):
        assert sorted(re.findall(rf"\*\*{group}, proposal (\d+):", " ".join(s.text for s in reported))) == sorted(
            number_in[group]
        )
    # Replying to a reported proposal (its own thread in the channel) comments on it.
    await h.reply_to(people[2], reported[-1].ref, "Group 1 would add: fund local anchors")

    # The plenary ballot: top-level in the channel, over every reported proposal, open to everyone.
    await h.command(fac, "next")
    plenary = [s for s in h.seen() if s.text.startswith("**Rank**") and "Vote" in s.buttons][-1]
    assert top_level(h, plenary)
    favourite = number_in["Group 2"][1]
    for person in people:
        view = await click_form(
            h, person, plenary.ref, "Vote", {f"P{favourite}": "2", f"P{number_in['Group 1'][0]}": "1"}
        )
        assert sorted(label.split(".")[0] for label in labels(view)) == sorted(
            number_in["Group 1"] + number_in["Group 2"]
        )
    assert len([s for s in h.seen() if s.text.startswith("Your ballot is saved")]) == 16

    # Arrange in the channel; confirming the themes ends the session and sends the note.
    await h.command(fac, "next")
    overall = [s for s in h.seen() if s.text.startswith("**Results** (8 ballots)")]
    assert len(overall) == 1 and top_level(h, overall[0])
    arrange = [s for s in h.seen() if s.text.startswith("**Arrange**")][-1]
    assert top_level(h, arrange)
    await h.click(fac, arrange.ref, "Confirm themes")

    # One combined note, DM'd to the convenor, with a Breakout groups section naming both groups.
    notes = h.notes()
    assert len(notes) == 1 and notes[0].where == f"private:{fac}"
    assert sorted(f.rsplit(".", 1)[1] for f in notes[0].files) == ["html", "json", "md"]
    markdown = next(u["data"] for u in fake.uploads.values() if u["filename"].endswith(".md")).decode()
    headings = re.findall(r"^## \d+\. (.+)$", markdown, re.M)
    assert headings == BREAKOUT_NOTE_SECTIONS
    groups_section = markdown.split("## 3. Breakout groups", 1)[1].split("## 4.", 1)[0]
    assert re.findall(r"^### (.+)$", groups_section, re.M) == ["Group 1", "Group 2"]
    assert groups_section.count("_(reported to the plenary)_") == 4
    assert "who would run it?" in markdown and "fund local anchors" in markdown
    shown = notes[0].text  # the DM itself (Slack has no headings: they are bold lines)
    assert "**3. Breakout groups**" in shown and "**Group 1**" in shown and "**Group 2**" in shown
    await h.click(fac, notes[0].ref, "Approve and post to the channel")
    await h.click(fac, notes[0].ref, "Approve and post to the channel")  # a second press posts nothing more
    published = h.published()
    assert len(published) == 1 and top_level(h, published[0]) and "**Group 2**" in published[0].text

    # Hostile text (an idea typed into a modal, a comment in a group thread) never became live syntax or pinged.
    assert any("evil.example" in s.text for s in h.seen())
    for m in fake.bot_messages():
        raw = m.text + str(m.blocks)
        assert "<!" not in raw and "<@" not in raw and "<http" not in raw, raw
    assert not any(s.pings for s in h.seen())


async def test_hostile_replies_in_a_group_thread_ping_no_one(slack: SlackHarness) -> None:
    """With open Own, replies in a group's thread are that group's ideas; Slack's control syntax in them is
    defused wherever they are repeated (the pair spaces, the group's thread)."""
    h = slack
    await h.command(h.facilitator, "start groups=2 assign=choice own=open Where next?")
    posts = group_posts(h)
    for n, person in enumerate(h.people[:4]):
        group = "Group 1" if n < 2 else "Group 2"
        await h.click(person, posts[group].ref, f"Join {group}")
        escaped = (
            "<!channel> <!here> <!everyone> <@UFAY|fay> <!subteam^S01|@team> <https://evil.example|click> "
            "&lt;!here&gt; @channel **loud**"
        )
        target = h.fake.message(posts[group].ref)
        msg = h.fake.add_user_message(h.channel, person, f"{escaped} idea {n}", target.ts)
        await h.deliver(
            {
                "type": "message",
                "channel": h.channel,
                "user": person,
                "text": msg.text,
                "ts": msg.ts,
                "thread_ts": target.ts,
                "channel_type": "channel",
            }
        )
    await h.command(h.facilitator, "next")
    intros = [s for s in h.seen() if s.where.startswith("pair:") and "Pick" in s.buttons]
    assert len(intros) == 2 and all("evil.example" in s.text for s in intros)
    for s in intros:  # each pair sees its own group's two ideas, and only those
        shown = sorted(re.findall(r"idea (\d)", s.text))
        assert shown in (["0", "1"], ["2", "3"])
    for m in h.fake.bot_messages():
        raw = m.text + str(m.blocks)
        assert "<!" not in raw and "<@" not in raw and "<http" not in raw, raw
    assert not any(s.pings for s in h.seen())


async def test_the_start_modal_runs_a_session_in_breakout_groups(slack: SlackHarness) -> None:
    h = slack
    assert await h.command(h.facilitator, "start") is None
    view = next(iter(h.fake.views.values()))
    assert {"groups", "assign", "plenary"} <= {b["block_id"] for b in view["blocks"]}
    await h.submit(h.facilitator, view, {"question": "Where next?", "groups": "3", "assign": "choice", "plenary": True})
    assert h.runtime is not None
    session = next(iter(h.runtime.sessions.values()))
    assert [g.name for g in session.groups] == ["Group 1", "Group 2", "Group 3"]
    assert session.options.assign == "choice" and session.options.plenary_ballot
    assert sorted(group_posts(h)) == ["Group 1", "Group 2", "Group 3"]


async def test_a_start_form_with_nonsense_numbers_gets_a_clear_answer(slack: SlackHarness) -> None:
    """Slack checks number fields in its own client, but a crafted submission can carry anything."""
    h = slack
    await h.command(h.facilitator, "start")
    view = next(iter(h.fake.views.values()))
    await h.submit(h.facilitator, view, {"question": "Where next?", "groups": "three", "minutes_own": "soon"})
    told = [s.text for s in h.seen() if s.where == f"private:{h.facilitator}"]
    assert told and "The session didn't start" in told[-1] and "must be a" in told[-1]
    assert h.session_thread() is None
