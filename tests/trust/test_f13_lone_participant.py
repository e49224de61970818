"""Finding 13: someone with nobody to pair with is told so, and that their own pick goes forward."""

from __future__ import annotations

from tests.contract.harness import Harness


async def test_a_lone_participant_is_told_they_have_no_partner_and_their_pick_goes_forward(h: Harness) -> None:
    await h.command(h.facilitator, "start What would you change first?")
    alone = h.people[0]
    await h.command(alone, "join")
    await h.direct_message(alone, "Publish what changed after feedback")
    await h.settle()
    await h.command(h.facilitator, "next")  # Pair, with one person
    await h.settle()
    intro = next(m for m in h.seen() if "Pick" in m.buttons and "Publish what changed" in m.text)
    assert "No partner this time" in intro.text and "your own pick goes forward" in intro.text
    assert "Your pair:" not in intro.text and "Either of you" not in intro.text
    await h.click(alone, intro.ref, "Pick", {"ideas": ["i1"], "reason": "It shows we listened"})
    await h.settle()
    picked = [m for m in h.seen() if "It shows we listened" in m.text][-1]
    assert "Your pick goes forward" in picked.text and "Either of you" not in picked.text
