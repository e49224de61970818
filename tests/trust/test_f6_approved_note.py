"""Finding 6: the note posted is exactly the draft the convenor approved; what arrives after a draft makes a new
draft the convenor approves again (and is told why); after posting, nothing changes it."""

from __future__ import annotations

from tests.contract.console_harness import ConsoleHarness
from tests.contract.harness import Harness
from tests.trust.helpers import last_with, told

BANNER = "_Draft for the convenor: check it, then approve it to post it to the channel._"


async def test_the_posted_note_is_the_approved_draft_and_later_arrivals_need_a_new_approval(h: Harness) -> None:
    fac, author, commenter = h.facilitator, h.people[0], h.people[1]
    await h.command(fac, "start own=open What should the trust change?")
    await h.command(author, "join")
    await h.command(commenter, "join")
    await h.reply_in_thread(author, "Publish every complaint and its answer")
    for step in ("skip", "next"):  # no Pair: the idea is the proposal in Explain
        await h.command(fac, step)
    proposal = last_with(h, "Proposal 1")
    comment = await h.reply_to(commenter, proposal.ref, "Who checks the answers?")
    await h.command(fac, "end")
    await h.settle()
    [first] = h.notes()
    assert "Who checks the answers?" in first.text

    # After the draft: the comment is edited and a late idea comes by DM. Approving the first draft posts nothing.
    await h.edit(commenter, comment, "Who checks the answers, and how often?")
    await h.direct_message(author, "Name a trustee for complaints")
    await h.settle()
    await h.click(fac, first.ref, "Approve")
    await h.settle()
    assert h.published() == []
    assert "only post what you have seen" in told(h, fac)
    second = h.notes()[-1]
    assert len(h.notes()) == 2
    assert "Who checks the answers, and how often?" in second.text and "Name a trustee" in second.text
    await h.click(fac, first.ref, "Approve")  # the replaced draft's button posts nothing either
    await h.settle()
    assert h.published() == [] and "replaced by a newer one" in told(h, fac)

    await h.click(fac, second.ref, "Approve")
    await h.settle()
    [published] = h.published()
    assert "Who checks the answers, and how often?" in published.text and "Name a trustee" in published.text
    if isinstance(h, ConsoleHarness):  # the console shows the Markdown as it is: the very same text
        assert published.text == second.text.replace(BANNER + "\n\n", "")

    # Once posted, nothing changes it: a later DM is not taken, and its author is told so.
    await h.direct_message(author, "One more thing after the note")
    await h.settle()
    assert len(h.published()) == 1 and len(h.notes()) == 2
    assert "wasn't added" in told(h, author)
