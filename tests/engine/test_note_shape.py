"""The note in the shape of the human notes: sentences per theme, every point in full, each proposal in full once,
final reflections from a closing round, the next meeting, the empty chair's time after `end`, and wording that fits
the numbers."""

from __future__ import annotations

import re

from facilitation.note import RoundUpNote
from tests.engine.driver import FACILITATOR, Driver, pid

LONG = [  # long enough that a summary quote (the opening words) is not the whole text
    "Pay people with lived experience for their time, travel and expertise at every council meeting they attend",
    "Pay carers a fee for their time at meetings and cover their travel costs and childcare too",
    "Publish every decision in plain English on the council website within a week of the meeting",
    "Write council letters in plain English and test them with residents before sending them out",
]


def ended_with_proposals(session, ideas: list[str] = LONG, **opts) -> Driver:
    """Four people, one idea each, two proposals ranked, and the session ended after Arrange."""
    d = session(4, seed=6, **opts)
    for n, text in enumerate(ideas, start=1):
        d.idea(pid(n), text)
    d.fac("next")
    for pair in d.s.pairs:
        d.pick(pair.members[0], d.ideas_of(pair.members[0])[0], reason="because it matters")
    d.fac("next")
    d.fac("next")
    for n in range(1, 5):
        d.vote(pid(n), 1, 1, 2)
    d.next_to("arrange")
    d.fac("next")
    return d


def section(md: str, title: str) -> str:
    return md.split(f". {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_summary_is_a_sentence_or_two_per_theme_quoting_participants(session, cfg):
    d = ended_with_proposals(session)
    note, md = d.note(), d.note_md()
    summary = section(md, cfg.say("note_h_summary"))
    assert cfg.say("note_summary_key") in summary, "the note says whose words are whose"
    bullets = [ln for ln in summary.splitlines() if ln.startswith("- ")]
    assert len(bullets) == len(note.summary) >= 1
    theme_of = {i.id: i.theme_id for i in note.ideas}
    for point, line in zip(note.summary, bullets, strict=True):
        assert line.startswith(f"- **{point.label}.** ")
        for quoted, idea_id in zip(point.quotes, point.idea_ids, strict=True):
            assert f"“{quoted}”" in line
            idea = next(i for i in note.ideas if i.id == idea_id)
            assert idea.text.startswith(quoted.rstrip("\u2026")), "a quote is the participant's own words"
            assert theme_of[idea_id] == point.theme_id
    best = min(note.proposals, key=lambda p: p.rank or 99)
    assert f"Proposal {best.number}, ranked 1 of" in bullets[0], "the best-ranked proposal's theme leads"


def test_each_proposal_stands_in_full_once_and_is_referred_to_elsewhere(session, cfg):
    d = ended_with_proposals(session)
    note, md = d.note(), d.note_md()
    assert note.proposals
    for p in note.proposals:
        assert md.count(p.text) == 1, p.text
        assert re.search(rf"\| {p.rank} \| Proposal {p.number} \(under “", md), "the ranking refers to it"
    steps = section(md, cfg.say("note_h_next"))
    assert all(p.text not in steps for p in note.proposals)
    assert re.search(r"Take forward proposal \d+ \(under “.+”\)\.", steps)


def test_a_closing_round_feeds_final_reflections(session, cfg):
    d = session(2, closing_round=True)
    d.idea(pid(1), "Meet in libraries")
    d.next_to("reflect")
    d.reply(pid(1), "One thing I take away: ask carers first")
    d.reply(pid(2), "Plain English costs nothing", reply_to=None, private=True)
    assert d.told(pid(2), "reflect_saved")
    d.fac("next")
    note, md = d.note(), d.note_md()
    assert note.reflections == ["One thing I take away: ask carers first", "Plain English costs nothing"]
    assert "- Plain English costs nothing" in section(md, cfg.say("note_h_reflections"))
    assert [i.text for i in note.ideas] == ["Meet in libraries"], "reflections are not ideas"


def test_without_closing_on_there_is_no_closing_round(session, cfg):
    d = session(2)
    kinds = []
    while d.s.status != "ended":
        kinds.append(d.phase)
        d.fac("next")
    assert "reflect" not in kinds
    assert cfg.say("note_no_reflections") in section(d.note_md(), cfg.say("note_h_reflections"))


def test_next_meeting_feeds_its_section_and_can_be_set_after_the_end(session, cfg):
    d = session(2)
    d.cmd(pid(1), "next", "meeting Friday: nothing")
    assert d.told(pid(1), "not_facilitator") and d.s.next_meeting is None
    d.fac("next", "meeting")
    assert d.told(FACILITATOR, "next_meeting_usage")
    d.fac("next", "meeting 15 January 2027, 3:00pm: What job roles could look like")
    assert d.told(FACILITATOR, "next_meeting_set") and d.phase == "own", "it does not move the phase on"
    d.fac("end")
    meeting = section(d.note_md(), cfg.say("note_h_next_meeting"))
    assert meeting.strip() == "15 January 2027, 3:00pm. Topic: What job roles could look like"
    d.fac("next", "meeting 2027-02-01 Who isn't here yet")
    redraft = d.delivered()[-1]
    assert len(d.delivered()) == 2 and redraft.key != d.delivered()[0].key
    assert "2027-02-01. Topic: Who isn't here yet" in redraft.markdown


def test_wording_fits_the_numbers(session, cfg):
    d = session(1)
    d.idea(pid(1), "Only idea")
    d.fac("status")
    assert any(": 1 idea" in t and "1 ideas" not in t for t in d.private(FACILITATOR, d.last))
    d.fac("end")
    md = d.note_md()
    assert cfg.say("note_balance_alone") in md and "(1 of 1 people)" not in md and "100%" not in md
    d = ended_with_proposals(session)
    ranking = section(d.note_md(), cfg.say("note_h_ranking"))
    tied = bool(d.note().ranking.tie_breaks)
    assert ("Ties were broken by" in ranking) == tied
    assert (cfg.say("note_no_ties") in ranking) == (not tied)


def test_end_gives_the_empty_chair_its_time_before_the_note(session, cfg):
    d = session(3, empty_chair_seconds=60)
    d.idea(pid(1), "Meet in libraries")
    d.fac("end")
    assert d.delivered() == [] and d.s.status == "running", "no note in the same breath as the question"
    assert d.said("empty_chair", d.public(d.last)) and d.said("end_empty_chair_wait", d.public(d.last))
    d.reply(pid(2), "Young carers", reply_to="empty-chair:end:own")
    d.fac("status")
    assert d.told(FACILITATOR, "status")
    assert "the round-up note goes out in 60 s" in d.private(FACILITATOR, d.last)[0]
    d.advance(30)
    assert d.delivered() == []
    d.advance(31)
    assert d.s.status == "ended" and d.note().empty_chair == ["Young carers"]
    d = session(2, empty_chair_seconds=60)
    d.fac("end")
    d.fac("end")  # the facilitator does not want to wait
    assert len(d.delivered()) == 1


def test_the_convenor_edits_the_summary_steps_and_meeting_and_that_is_what_is_posted(session, cfg):
    d = session(2, convenor="U2")
    d.idea(pid(1), "Meet in libraries")
    d.fac("end")
    [draft] = d.delivered()
    [edit] = [a for a in draft.actions if a.id == "edit_note"]
    assert edit.only_for == ["U2"] and [f.id for f in edit.form.fields] == ["summary", "next_steps", "next_meeting"]
    assert "Meet in libraries" in (edit.form.fields[0].initial or ""), "the form starts from the draft"
    d.act(pid(1), "edit_note", values={"summary": "Not mine to change"})
    assert d.told(pid(1), "not_convenor_edit") and len(d.delivered()) == 1
    d.act(pid(2), "edit_note", values={"summary": "We agreed to meet where people already are.",
                                       "next_steps": "- Ask the libraries\n- Write to carers", "next_meeting": ""})
    assert d.told(pid(2), "note_edited")
    redraft = d.delivered()[-1].markdown
    assert "We agreed to meet where people already are." in redraft
    assert cfg.say("note_summary_key") not in redraft, "the convenor's summary replaces the bot's"
    d.cmd(pid(2), "note", "meeting 3 March 2027: budgets | in person")
    d.cmd(pid(2), "note", "colour blue")
    assert d.told(pid(2), "note_edit_usage")
    d.act(pid(2), "approve_note")
    [published] = d.published()
    steps = section(published.markdown, cfg.say("note_h_next"))
    assert steps.strip().splitlines() == ["- Ask the libraries", "- Write to carers"]
    assert "We agreed to meet where people already are." in published.markdown
    assert "3 March 2027: budgets in person" in section(published.markdown, cfg.say("note_h_next_meeting"))
    edited = RoundUpNote.model_validate_json(d.delivered()[-1].json_text)
    assert edited.edited_by_convenor == ["summary", "next_steps", "next_meeting"]
    assert edited.summary_text == "We agreed to meet where people already are." and edited.summary, \
        "the JSON keeps both the convenor's summary and the bot's"
    d.act(pid(2), "edit_note", values={"summary": "Too late"})
    assert d.told(pid(2), "note_already_posted")
