"""The adapter contract: what every platform must let a facilitator, participants and a convenor do.

Runs once per harness in tests/contract/harnesses.py, each driving the real runtime and adapter.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from facilitation.note import note_file_stem
from tests.contract.harness import Harness, Seen
from tests.contract.harnesses import HARNESSES

QUESTION = "How could our network share power with people who use services?"


@pytest.fixture(params=sorted(HARNESSES))
async def h(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async with HARNESSES[request.param](tmp_path) as harness:
        yield harness


def _where(h: Harness, prefix: str) -> list[Seen]:
    return [m for m in h.seen() if m.where.startswith(prefix)]


def _last_with(h: Harness, text: str) -> Seen:
    found = [m for m in h.seen() if text in m.text]
    assert found, f"no bot message contains {text!r}"
    return found[-1]


async def _start(h: Harness, options: str = "") -> None:
    reply = await h.command(h.facilitator, f"start {options} {QUESTION}".replace("  ", " "))
    await h.settle()
    assert reply is None, reply


async def _status(h: Harness) -> str:
    await h.command(h.facilitator, "status")
    await h.settle()
    return _last_with(h, "People:").text


async def test_start_posts_the_question_with_a_join_button_and_opens_own(h: Harness) -> None:
    await _start(h)
    question = [m for m in _where(h, "channel") if QUESTION in m.text]
    assert question and "Join" in question[0].buttons
    own = _last_with(h, "**Own**")
    assert own.where == "thread" and "Add an idea" in own.buttons


async def test_a_second_session_in_the_same_channel_is_refused_with_a_reason(h: Harness) -> None:
    await _start(h)
    reply = await h.command(h.people[0], "start Another question?")
    assert reply and "already running" in reply


async def test_private_ideas_reach_nobody_else_before_explain(h: Harness) -> None:
    await _start(h)
    secret = "Ring-fence a budget for community-led research"
    await h.command(h.people[0], "join")
    await h.direct_message(h.people[0], secret)
    await h.settle()
    holders = [m.where for m in h.seen() if secret in m.text]
    assert holders and set(holders) == {f"private:{h.people[0]}"}
    assert "Ideas: 1" in await _status(h)


async def test_a_retried_delivery_does_not_duplicate_an_idea(h: Harness) -> None:
    await _start(h, "own=open")
    await h.reply_in_thread(h.people[0], "Open every board meeting to the public", event_id="Ev-1")
    await h.reply_in_thread(h.people[0], "Open every board meeting to the public", event_id="Ev-1")
    await h.settle()
    assert "Ideas: 1" in await _status(h)


async def test_edits_and_deletions_of_thread_replies_are_followed(h: Harness) -> None:
    await _start(h, "own=open")
    first = await h.reply_in_thread(h.people[0], "Pay people for their tme")
    second = await h.reply_in_thread(h.people[1], "Something I regret writing")
    await h.settle()
    await h.edit(h.people[0], first, "Pay people for their time")
    await h.delete(h.people[1], second)
    await h.settle()
    await h.command(h.people[0], "mine")
    await h.settle()
    assert "Pay people for their time" in _last_with(h, "Your ideas").text
    assert "Ideas: 1" in await _status(h)


async def test_only_the_facilitator_can_move_the_session_on(h: Harness) -> None:
    await _start(h)
    await h.command(h.people[0], "next")
    await h.settle()
    refusal = _last_with(h, "Only the facilitator")
    assert refusal.where == f"private:{h.people[0]}"
    assert not any("**Pair**" in m.text for m in h.seen())


async def test_each_pair_space_shows_only_its_members_ideas(h: Harness) -> None:
    await _start(h)
    ideas = {p: f"Idea number {n} from a participant" for n, p in enumerate(h.people[:3], start=1)}
    for person, text in ideas.items():
        await h.command(person, "join")
        await h.direct_message(person, text)
    await h.settle()
    await h.command(h.facilitator, "next")
    await h.settle()
    spaces = {m.where for m in _where(h, "pair:")}
    assert len(spaces) == 1, "three people make one trio"
    intro = next(m for m in _where(h, "pair:") if "Pick" in m.buttons)
    assert all(text in intro.text for text in ideas.values())


async def test_hostile_text_is_repeated_without_pinging_anyone(h: Harness) -> None:
    await _start(h, "own=open")
    hostile = "@everyone <!channel> <!here> <@U0123ABC> @here look **at** ```me```"
    await h.reply_in_thread(h.people[0], hostile)
    await h.reply_in_thread(h.people[1], "A calm idea")
    await h.settle()
    await h.command(h.facilitator, "next")
    await h.settle()
    repeated = [m for m in h.seen() if "look" in m.text]
    assert repeated, "the pair space repeats the idea"
    assert not any(m.pings for m in h.seen())


async def test_a_whole_session_ends_with_a_note_the_convenor_approves(h: Harness) -> None:
    await _start(h)
    people = h.people[:3]
    texts = ["Share budgets with community groups", "Pay for lived experience", "Plain English in all letters"]
    for person, text in zip(people, texts, strict=True):
        await h.command(person, "join")
        await h.direct_message(person, text)
    await h.settle()
    await h.command(h.facilitator, "next")  # Pair
    await h.settle()
    intro = next(m for m in _where(h, "pair:") if "Pick" in m.buttons)
    chosen = re.search(r"#(\d+) Pay for lived experience", intro.text)
    assert chosen
    await h.click(people[1], intro.ref, "Pick", {"ideas": [f"i{chosen.group(1)}"], "reason": "It is fair"})
    await h.settle()
    await h.command(h.facilitator, "next")  # Explain
    await h.settle()
    proposal = _last_with(h, "Proposal 1")
    await h.reply_to(people[2], proposal.ref, "Who pays, the council or funders?")
    await h.command(h.facilitator, "next")  # Rank
    await h.settle()
    ballot = _last_with(h, "**Rank**")
    for person in people:
        await h.click(person, ballot.ref, "Vote", {"P1": "2"})
    await h.settle()
    await h.command(h.facilitator, "next")  # Arrange
    await h.settle()
    results = _last_with(h, "**Results**")
    charts = [m for m in h.seen() if "ranking.png" in m.files]
    assert len(charts) == 1 and charts[0].where == results.where, "the ranking chart is posted beside the results"
    chair = _last_with(h, "empty chair")
    await h.reply_to(people[0], chair.ref, "Young carers")
    await h.command(h.facilitator, "next")  # the end
    await h.settle()

    notes = h.notes()
    assert len(notes) == 1 and notes[0].where == f"private:{h.facilitator}"
    stem = note_file_stem(f"Round-up: {QUESTION}")
    assert sorted(notes[0].files) == [f"{stem}.html", f"{stem}.json", f"{stem}.md"], "the same names everywhere"
    for expected in texts + ["It is fair", "Who pays, the council or funders?", "Young carers"]:
        assert expected in notes[0].text
    await h.click(h.facilitator, notes[0].ref, "Approve")
    await h.click(h.facilitator, notes[0].ref, "Approve")
    await h.settle()
    assert len(h.published()) == 1
    assert "Share budgets with community groups" in h.published()[0].text


async def test_the_convenor_edits_the_note_in_a_form_or_by_command_and_the_edit_is_posted(h: Harness) -> None:
    await _start(h)
    await h.direct_message(h.people[0], "Meet in libraries")
    await h.settle()
    await h.command(h.facilitator, "end")
    await h.settle()
    [draft] = h.notes()
    await h.click(h.facilitator, draft.ref, "Edit", {
        "summary": "We agreed to meet where people already are.", "next_steps": "Ask the libraries\nWrite to carers"})
    await h.settle()
    await h.command(h.facilitator, "note meeting 3 March 2027: budgets")
    await h.settle()
    latest = h.notes()[-1]
    assert len(h.notes()) == 3 and "We agreed to meet where people already are." in latest.text
    await h.click(h.facilitator, latest.ref, "Approve")
    await h.settle()
    [published] = h.published()
    for edited in ("We agreed to meet where people already are.", "Ask the libraries", "Write to carers",
                   "3 March 2027: budgets"):
        assert edited in published.text
    assert "The sentences are the bot's" not in published.text


async def test_one_two_four_all_runs_pairs_then_fours_then_the_whole_group(h: Harness) -> None:
    await _start(h, "structure=1-2-4-all")
    people = h.people[:7]  # three pairs, one of them a trio
    idea_of = {
        p: f"Idea {n}: {word}"
        for n, (p, word) in enumerate(
            zip(people, ["budgets", "wages", "letters", "evenings", "youth", "childcare", "venues"], strict=True),
            start=1,
        )
    }
    for person, text in idea_of.items():
        await h.command(person, "join")
        await h.direct_message(person, text)
    await h.settle()

    await h.command(h.facilitator, "next")  # 2: pairs
    await h.settle()
    pair_intros = [m for m in _where(h, "pair:") if "Pick" in m.buttons]
    assert len(pair_intros) == len(people) // 2
    picked: list[str] = []
    for intro in pair_intros:
        first = re.search(r"#(\d+) (Idea \d+: \w+)", intro.text)
        assert first
        member = next(p for p in people if idea_of[p] == first.group(2))
        await h.click(member, intro.ref, "Pick", {"ideas": [f"i{first.group(1)}"], "reason": "Our favourite"})
        picked.append(first.group(2))
    await h.settle()

    await h.command(h.facilitator, "next")  # 4: pairs join up; each group sees its pairs' picks
    await h.settle()
    four_intros = [m for m in _where(h, "pair:") if m.text.startswith("**Your group:")]
    assert 1 <= len(four_intros) < len(pair_intros)
    carried: list[str] = []
    chosen: list[str] = []
    for intro in four_intros:
        shown = re.findall(r"#(\d+) (Idea \d+: \w+)", intro.text)
        carried += [text for _, text in shown]
        member = next(p for p in people if idea_of[p] == shown[-1][1])
        await h.click(member, intro.ref, "Pick", {"ideas": [f"i{shown[-1][0]}"], "reason": "The group agreed"})
        chosen.append(shown[-1][1])
    assert sorted(carried) == sorted(picked), "each four sees exactly its pairs' picks"
    await h.settle()

    await h.command(h.facilitator, "next")  # All: share, only the fours' choices become proposals
    await h.settle()
    proposals = [m for m in h.seen() if re.match(r"\*\*Proposal \d+:", m.text)]
    assert sorted(re.search(r"Idea \d+: \w+", m.text).group(0) for m in proposals) == sorted(chosen)  # type: ignore[union-attr]

    await h.command(h.facilitator, "next")  # All: rank (approval)
    await h.settle()
    ballot = _last_with(h, "**Rank**")
    for person in people:
        await h.click(person, ballot.ref, "Vote", {"approve": ["P1"]})
    await h.command(h.facilitator, "next")  # All: themes
    await h.command(h.facilitator, "next")  # the end
    await h.settle()
    [note] = h.notes()
    assert all(text in note.text for text in idea_of.values()), "no idea is lost on the way to the note"
    assert "The group agreed" in note.text


async def test_a_pick_typed_in_the_pair_space_counts(h: Harness) -> None:
    await _start(h)
    for person, text in zip(h.people[:2], ["Open the books to residents", "Meet in the evenings"], strict=True):
        await h.command(person, "join")
        await h.direct_message(person, text)
    await h.settle()
    await h.command(h.facilitator, "next")
    await h.settle()
    intro = next(m for m in _where(h, "pair:") if "Pick" in m.buttons)
    number = re.search(r"#(\d+) Meet in the evenings", intro.text)
    assert number
    await h.say_in_pair(h.people[0], f"pick #{number.group(1)} because more people can come")
    await h.say_in_pair(h.people[1], "Picking that one suits me")  # talk, not a pick
    await h.settle()
    picked = [m for m in _where(h, "pair:") if "picked for the pair" in m.text]
    assert len(picked) == 1 and "Meet in the evenings" in picked[0].text and "more people can come" in picked[0].text


async def test_the_same_two_people_paired_again_in_a_later_session_are_still_heard(h: Harness) -> None:
    # On Slack the same members always get the same group DM back, so the second session's pair space
    # is the first one's too: what they type there must reach the session that is running now.
    for round_no, idea in enumerate(["Open the books to residents", "Meet in the evenings"], start=1):
        await _start(h)
        for person in h.people[:2]:
            await h.command(person, "join")
            await h.direct_message(person, f"{idea}, says {person}")
        await h.settle()
        await h.command(h.facilitator, "next")
        await h.settle()
        intro = [m for m in _where(h, "pair:") if "Pick" in m.buttons][-1]
        number = re.search(rf"#(\d+) {idea}", intro.text)
        assert number, intro.text
        await h.say_in_pair(h.people[0], f"pick #{number.group(1)} because round {round_no}")
        await h.settle()
        picked = [m for m in _where(h, "pair:") if "picked for the pair" in m.text]
        assert len(picked) == round_no and f"round {round_no}" in picked[-1].text
        await h.command(h.facilitator, "end")
        await h.settle()


async def test_help_lists_what_this_person_can_do_now(h: Harness) -> None:
    before = await h.command(h.people[0], "help")
    assert before and "start" in before and "groups=" in before, "no session yet: how to start one"
    await _start(h, "groups=2")
    await h.command(h.people[0], "help")
    await h.settle()
    mine = _last_with(h, "What you can do now")
    assert mine.where == f"private:{h.people[0]}"
    assert "join" in mine.text and "next (" not in mine.text and "broadcast" not in mine.text
    await h.command(h.facilitator, "help")
    await h.settle()
    theirs = _last_with(h, "What you can do now")
    assert theirs.where == f"private:{h.facilitator}"
    assert "next (" in theirs.text and "add @person" in theirs.text and "broadcast" in theirs.text


async def test_a_welsh_session_speaks_welsh_with_its_help_and_buttons(h: Harness) -> None:
    await _start(h, "language=cy")
    question = [m for m in _where(h, "channel") if QUESTION in m.text]
    assert question and "Ymuno" in question[0].buttons and "Sesiwn grŵp bach" in question[0].text
    await h.command(h.people[0], "help")
    await h.settle()
    help_text = _last_with(h, "Beth gallwch chi ei wneud nawr")
    assert help_text.where == f"private:{h.people[0]}" and "join: cymryd rhan" in help_text.text
