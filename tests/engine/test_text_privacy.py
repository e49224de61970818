"""Participant text: unusual scripts, huge replies, mentions the bot must not repeat raw; private mode."""

from __future__ import annotations

import re

import pytest

from facilitation.effects import Post
from tests.engine.driver import FACILITATOR, Driver, audited_text, pid

RAW_MENTION = re.compile(r"@(everyone|here|channel)\b|<!channel>|<!here>|<@U123>|<@!456>|<#C99\|general>", re.I)
UNUSUAL = [
    "\U0001f4a1 More \U0001f469\u200d\U0001f469\u200d\U0001f467 family events \U0001f30d",
    "\u0627\u0633\u062a\u0645\u0639\u0648\u0627 \u0625\u0644\u0649 \u0627\u0644\u0633\u0643\u0627\u0646",  # Arabic
    "\u05e9\u05de\u05e2\u05d5 \u05d0\u05ea \u05d4\u05ea\u05d5\u05e9\u05d1\u05d9\u05dd \u200fmixed with English",
    "zero\u200bwidth\u200cinside\u2060words",
]


def run_through(d: Driver) -> None:
    """Pairs pick their first idea, everyone votes for proposal 1, the comment and empty chair carry text."""
    d.fac("next")
    for pair in d.s.pairs:
        ideas = [i for m in pair.members for i in d.ideas_of(m)]
        if ideas:
            d.pick(pair.members[0], ideas[0], reason=d.s.idea(ideas[0]).text[:50])
    d.fac("next")
    for p in d.s.present():
        if d.s.proposals:
            d.vote(p.id, 1)
    d.fac("next")
    d.fac("next")
    d.fac("next")


def test_emoji_right_to_left_and_zero_width_text_survive(session):
    d = session(4)
    for n, text in enumerate(UNUSUAL, start=1):
        d.idea(pid(n), text)
        assert any(text.split()[0] in t for t in d.private(pid(n), d.last))
    run_through(d)
    note = d.note()
    assert sorted(i.text for i in note.ideas) == sorted(UNUSUAL)
    md = d.note_md()
    for text in UNUSUAL:
        assert " ".join(text.split()) in md


def test_a_twenty_thousand_character_reply_is_kept_whole_with_a_clear_message(session, cfg):
    d = session(2)
    huge = "Start of a very long reply. " + "word " * 4000 + "The very end."
    assert len(huge) > 20_000
    d.idea(pid(1), huge)
    assert d.told(pid(1), "idea_too_long")
    assert str(cfg.limits.idea_chars) in "\n".join(d.private(pid(1), d.last))
    assert not any(len(p.text) > 4000 for p in d.posts(d.last))
    d.idea(pid(2), "A short one")
    run_through(d)
    assert all(len(p.text) < 8000 for p in d.posts()), "posts show a preview, not 20,000 characters"
    assert huge.strip() in [i.text for i in d.note().ideas]
    assert "The very end." in d.note_md()


MENTIONS = "Ask @everyone and @here, tell <!channel> <!here> and <@U123> <@!456> <#C99|general> @Channel"


def test_mentions_are_never_repeated_raw(session):
    d = session(3, question=f"What next? {MENTIONS}")
    d.idea(pid(1), MENTIONS)
    d.idea(pid(2), f"- list item {MENTIONS}\n- second @everyone")
    d.reply(pid(3), f"thread reply {MENTIONS}")
    d.fac("next")
    d.reply(pid(3), f"late one {MENTIONS}")  # late: the facilitator is told
    for pair in d.s.pairs:
        ideas = [i for m in pair.members for i in d.ideas_of(m)]
        d.pick(pair.members[0], ideas[0], reason=f"because {MENTIONS}")
    d.fac("next")
    d.comment(pid(2), "P1", f"comment {MENTIONS}")
    d.reply(pid(1), f"empty chair {MENTIONS}", reply_to="empty-chair:end:own")
    d.fac("next")
    d.vote(pid(1), 1)
    d.fac("next")
    d.fac("status")
    d.cmd(pid(1), f"theme rename 1 {MENTIONS}")
    d.fac("theme", f"rename 1 {MENTIONS}")
    d.cmd(pid(1), "mine")
    d.cmd(pid(1), f"@everyone{MENTIONS}")
    d.fac("next")
    d.act(FACILITATOR, "approve_note")
    posts = d.posts()
    assert any("everyone" in p.text for p in posts), "the text is repeated, only defused"
    for p in posts:
        assert not RAW_MENTION.search(audited_text(p)), p.text
    [draft], [published] = d.delivered(), d.published()
    for md in (draft.markdown, published.markdown, draft.title, published.title):
        assert not RAW_MENTION.search(md), md
    assert "everyone" in draft.markdown
    assert MENTIONS in [i.text for i in d.note().ideas], "the JSON keeps the text as written"


@pytest.mark.parametrize("n", [2, 3, 5])
def test_private_mode_nobody_else_sees_ideas_before_explain(session, n):
    d = session(n, seed=n)
    secrets = {}
    for i in range(1, n + 1):
        d.idea(pid(i), f"- Secret plan {i} alpha\n- Secret plan {i} beta")
        secrets[f"Secret plan {i} alpha"] = pid(i)
        secrets[f"Secret plan {i} beta"] = pid(i)
    d.reply(pid(1), "Secret plan 1 gamma", reply_to="question")  # a thread reply: its author's own doing
    secrets["Secret plan 1 gamma"] = pid(1)
    d.cmd(pid(1), "mine")
    d.fac("status")
    d.advance((d.s.deadline - d.clock).total_seconds() - 30)  # reminder and nudges
    d.fac("next")
    d.idea(pid(2), "Secret plan 2 late")  # a late private idea during Pair
    secrets["Secret plan 2 late"] = pid(2)
    d.fac("status")
    pair = d.s.pairs[0]
    d.pick(pair.members[0], d.ideas_of(pair.members[0])[0], reason="Secret reason of the pair")
    d.advance((d.s.deadline - d.clock).total_seconds() - 30)
    d.fac("next")
    assert d.phase == "explain"
    checked = 0
    for post, explained in zip(d.log, d.explained, strict=True):
        if explained or not isinstance(post, Post):
            continue
        shown = audited_text(post)
        for text, author in secrets.items():
            if text not in shown:
                continue
            checked += 1
            a = post.audience
            mine = a.kind == "private" and a.person == author
            own_pair = a.kind == "pair" and author in next(p.members for p in d.s.pairs if p.id == a.pair_id)
            assert mine or own_pair, f"{text!r} shown to {a}"
        if "Secret reason" in shown:
            assert post.audience.kind == "pair" and post.audience.pair_id == pair.id
    assert checked >= 2 * n, "ideas were repeated to their authors and pairs"
    picked = d.s.idea(d.s.proposals[0].idea_id).text
    assert any(picked in t for t in d.thread(d.last)), "from Explain on, the pick is shown to everyone"
