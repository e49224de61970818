"""The store's contract, run on both stores: SQLite (a file) and PostgreSQL (a real server the tests start).
Whatever the runtime relies on (events in order, snapshots, the outbox, de-duplication, migrations, retention)
behaves the same on each."""

from __future__ import annotations

import asyncio
import io
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from adapters.base import UserMessage
from adapters.console import ConsoleAdapter
from bot import pgstore
from bot.assembly import assembled
from bot.configuration import default_options, engine_config, load_structure
from bot.migrations import SchemaTooNew
from bot.outcomes import FAILED, Made
from bot.settings import Settings
from bot.storage import EventStore, StoreError, is_postgres, open_store
from facilitation import engine
from facilitation.events import ReplyPosted, SessionStarted, TimerFired
from facilitation.models import Session
from tests.pg import PgServer
from tests.runtime.two_ideas import start_with_two_ideas


def _reply(text: str, person: str = "ana", at: datetime | None = None) -> ReplyPosted:
    return ReplyPosted(at=at or datetime.now(UTC), person=person, name=person.title(), text=text,
                       message_ref=f"m-{text}", private=True)


def _session() -> Session:
    settings = Settings()
    structure = load_structure(settings, "opera")
    state, _ = engine.apply(None, SessionStarted(
        at=datetime.now(UTC), session_id="s1", channel="#c", question="What next?", facilitator="fay",
        facilitator_name="Fay", structure=structure, options=default_options(settings, structure), seed=1),
        engine_config(settings))
    assert state is not None
    return state


def _sql(database: Path | str, statement: str, postgres: PgServer | None) -> None:
    """A statement straight into the database, past the store (what an operator or older release could do)."""
    if is_postgres(database):
        assert postgres is not None
        postgres.psql(statement, database=str(database).rsplit("/", 1)[1])
    else:
        with sqlite3.connect(database) as con:
            con.execute(statement)


@pytest.fixture
async def store(database: Path | str):
    s = await open_store(database)
    yield s
    await s.close()


async def test_events_come_back_in_order_and_from_a_given_number(store: EventStore) -> None:
    await store.create_session("s1", "#c")
    for text in ("one", "two", "three"):
        await store.append("s1", _reply(text))
    await store.append("s2", _reply("elsewhere"))
    assert [(n, e.text) for n, e in await store.events("s1")] == [(1, "one"), (2, "two"), (3, "three")]
    assert [n for n, _ in await store.events("s1", after=2)] == [3]
    assert await store.open_sessions() == ["s1"]
    await store.write(store.close_ops("s1"))
    assert await store.open_sessions() == []


async def test_events_sent_together_all_get_numbers_of_their_own(store: EventStore) -> None:
    texts = [f"idea {n}" for n in range(50)]
    await asyncio.gather(*(store.append("s1", _reply(t)) for t in texts))
    events = await store.events("s1")
    assert sorted(e.text for _, e in events) == sorted(texts)
    assert [n for n, _ in events] == list(range(1, 51))


async def test_a_commit_that_fails_stores_nothing_of_it_and_says_so(store: EventStore) -> None:
    await store.append("s1", _reply("kept"))
    # Number 1 is taken: the batch fails as a whole, the other event in it too.
    bad = store.write([store.event_op("s1", 5, _reply("lost with it")), store.event_op("s1", 1, _reply("clash"))])
    with pytest.raises(StoreError):
        await bad
    assert [e.text for _, e in await store.events("s1")] == ["kept"]
    await store.append("s1", _reply("after"))  # and the store goes on
    assert [e.text for _, e in await store.events("s1")] == ["kept", "after"]


async def test_a_snapshot_comes_back_and_one_from_other_engine_code_is_ignored(
        store: EventStore, database: Path | str, request: pytest.FixtureRequest) -> None:
    session = _session()
    await store.write([store.snapshot_op("s1", 7, session.model_dump_json())])
    found = await store.snapshot("s1")
    assert found is not None and found[0] == 7 and found[1].question == "What next?"
    _sql(database, "UPDATE snapshots SET version = 'older-code'", _server(request, database))
    assert await store.snapshot("s1") is None


async def test_an_event_set_aside_is_listed(store: EventStore) -> None:
    await store.set_aside("s1", 4, "ValueError('bad')")
    assert await store.set_aside_seqs("s1") == {4}
    assert await store.set_aside_seqs("s2") == set()


async def test_a_platform_retry_is_recognised_even_after_a_restart(database: Path | str) -> None:
    first = await open_store(database)
    assert await first.claim_delivery("Ev1") is True
    assert await first.claim_delivery("Ev1") is False
    await first.close()
    second = await open_store(database)
    try:
        assert await second.claim_delivery("Ev1") is False
        assert await second.claim_delivery("Ev2") is True
    finally:
        await second.close()


async def test_a_burst_of_deliveries_with_retries_among_them_admits_each_delivery_once(store: EventStore) -> None:
    ids = [f"Ev{n % 10}" for n in range(40)]  # each delivery and three retries of it, all at once
    random.Random(5).shuffle(ids)
    claimed = await asyncio.gather(*(store.claim_delivery(event_id) for event_id in ids))
    assert sorted(i for i, first in zip(ids, claimed, strict=True) if first) == sorted({*ids})
    assert not any(await asyncio.gather(*(store.claim_delivery(f"Ev{n}") for n in range(10))))


async def test_retries_reaching_two_processes_at_once_are_admitted_by_one_of_them(pg_url: str) -> None:
    first, second = await open_store(pg_url), await open_store(pg_url)
    try:
        ids = [f"Ev{n}" for n in range(30)]
        claimed = await asyncio.gather(*(store.claim_delivery(i) for i in ids for store in (first, second)))
        assert [a + b for a, b in zip(claimed[::2], claimed[1::2], strict=True)] == [1] * 30
    finally:
        await first.close()
        await second.close()


async def test_the_outbox_keeps_commit_order_and_a_delivered_entry_becomes_a_ref(store: EventStore) -> None:
    await store.write([store.outbox_op("s1", key, f'{{"k": "{key}"}}', None) for key in ("b", "a", "c")])
    await store.write([store.outbox_op("s1", "d", '{"k": "d"}', "a")])
    assert [row[0] for row in await store.outbox("s1")] == ["b", "a", "c", "d"]
    await store.write([store.trying_op("s1", "a", 123.5), store.failed_op("s1", "c", "no permission")])
    rows = {row[0]: row for row in await store.outbox("s1")}
    assert rows["a"][3:] == ("sending", 123.5)
    assert rows["c"][3] == "failed"
    assert rows["d"][2] == "a"
    await store.write(store.delivered_ops("s1", "a", Made("ts-1")))
    await store.write(store.delivered_ops("s1", "b", FAILED))
    assert [row[0] for row in await store.outbox("s1")] == ["c", "d"]
    assert await store.refs("s1") == {"a": Made("ts-1"), "b": FAILED}


HOSTILE = ["it's", "'); DROP TABLE events; --", "back\\slash\\'", "$$ $1 $tag$", "a;b", "\\x27",
           "@everyone 'quoted' \"double\"", "emoji 🎉 and ŵ", "", "\u202eright-to-left", "x" * 30_000]


async def test_any_text_is_stored_as_it_is(store: EventStore) -> None:
    await store.create_session("s1", "#c")
    await store.write([store.event_op("s1", n, _reply(text, person=text or "nobody"))
                       for n, text in enumerate(HOSTILE, start=1)])
    await store.write([store.outbox_op("s1", f"k{n}", text, text or None) for n, text in enumerate(HOSTILE)])
    await store.write([store.message_op(text, "s1") for text in HOSTILE if text])
    assert [(e.text, e.person) for _, e in await store.events("s1")] == [(t, t or "nobody") for t in HOSTILE]
    assert [(row[1], row[2]) for row in await store.outbox("s1")] == [(t, t or None) for t in HOSTILE]
    assert [await store.session_for_message(text) for text in HOSTILE if text] == ["s1"] * (len(HOSTILE) - 1)


async def test_a_nul_which_postgresql_cannot_hold_fails_its_commit_and_the_store_goes_on(pg_url: str) -> None:
    store = await open_store(pg_url)
    try:
        with pytest.raises(StoreError):
            await store.write([store.message_op("nul\x00byte", "s1"), store.event_op("s1", 1, _reply("with it"))])
        await store.append("s1", _reply("after"))
        assert [(n, e.text) for n, e in await store.events("s1")] == [(1, "after")]
    finally:
        await store.close()


async def test_a_posts_ref_riding_on_a_commit_that_fails_is_written_after_all(store: EventStore) -> None:
    """A post was made (its ref waits for the next commit) and the next event's commit fails: the event is
    refused, but the ref is kept, so the post is neither sent again after a restart nor lost to later edits."""
    await store.create_session("s1", "#c")
    await store.append("s1", _reply("first"))
    await store.write([store.outbox_op("s1", "ballot", "{}", None)])
    posted = store.write(store.delivered_ops("s1", "ballot", Made("m-ballot")), lazy=True)
    with pytest.raises(StoreError):  # number 1 is taken: this commit fails whole
        await store.write([store.event_op("s1", 1, _reply("again"))])
    await posted
    assert await store.refs("s1") == {"ballot": Made("m-ballot")}
    assert await store.outbox("s1") == []
    assert [e.text for _, e in await store.events("s1")] == ["first"]


async def test_a_bad_value_in_a_posts_ref_does_not_sink_the_next_events(store: EventStore) -> None:
    await store.create_session("s1", "#c")
    await store.append("s1", _reply("first"))
    posted = store.write([store.event_op("s1", 1, _reply("bookkeeping that cannot be written"))], lazy=True)
    with pytest.raises(StoreError):
        await store.write([store.event_op("s1", 2, _reply("second"))])
    with pytest.raises(StoreError):
        await posted
    await store.append("s1", _reply("second, sent again"))
    assert [(n, e.text) for n, e in await store.events("s1")] == [(1, "first"), (2, "second, sent again")]


async def test_messages_pairs_and_message_numbers(store: EventStore) -> None:
    await store.write([store.message_op("u7", "s1"), store.message_op("u12", "s1"), store.message_op("x99", "s2"),
                       *store.delivered_ops("s1", "question", Made("b30")),
                       store.pair_op("#c", "s1", ["ana", "ben"])])
    assert await store.session_for_message("u12") == "s1"
    assert await store.session_for_message("nope") is None
    assert await store.highest_message_number("u") == 12
    assert await store.highest_message_number("b") == 30
    assert await store.past_pairs("#c") == [["ana", "ben"]]
    assert await store.past_pairs("#other") == []


async def test_retention_removes_the_content_of_approved_sessions_and_keeps_counts(store: EventStore) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=40)
    await store.create_session("old", "#c")
    await store.create_session("new", "#c")
    for sid, at in (("old", long_ago), ("new", datetime.now(UTC))):
        await store.append(sid, _reply("private words", at=at))
        await store.append(sid, _reply("more words", person="ben", at=at))
        await store.write(store.close_ops(sid))
    sessions, events = await store.purge_closed(datetime.now(UTC) - timedelta(days=30))
    assert (sessions, events) == (1, 2)
    assert await store.events("old") == []
    assert len(await store.events("new")) == 2


async def test_migrations_are_recorded_applied_once_and_a_newer_database_is_refused(
        database: Path | str, request: pytest.FixtureRequest) -> None:
    for _ in range(2):  # the second open finds everything applied
        store = await open_store(database)
        await store.append("s1", _reply("kept across opens"))
        await store.close()
    _sql(database, "INSERT INTO schema_migrations VALUES (999, 'a later release')", _server(request, database))
    with pytest.raises(SchemaTooNew, match="999"):
        await open_store(database)


async def test_timers_fired_by_an_event_are_not_left_behind(store: EventStore) -> None:
    """Whatever a store keeps of timers (PostgreSQL: rows), a fired timer's is gone with its event."""
    ops = store.timer_ops("s1", TimerFired(at=datetime.now(UTC), timer_id="t1"), [])
    await store.write([store.event_op("s1", 1, TimerFired(at=datetime.now(UTC), timer_id="t1")), *ops])
    assert [e.type for _, e in await store.events("s1")] == ["timer_fired"]


def _server(request: pytest.FixtureRequest, database: Path | str) -> PgServer | None:
    return request.getfixturevalue("postgres") if is_postgres(database) else None


async def test_two_writers_on_postgresql_never_share_or_lose_an_event_number(pg_url: str) -> None:
    """Two stores (as two processes would have) appending to one session at once: no number taken twice, no
    event lost (MAX(seq)+1 would hand both the same number and one commit would fail)."""
    one, two = await open_store(pg_url), await open_store(pg_url)
    try:
        await asyncio.gather(*(one.append("s1", _reply(f"one {n}")) for n in range(60)),
                             *(two.append("s1", _reply(f"two {n}")) for n in range(60)))
        events = await one.events("s1")
        assert len({n for n, _ in events}) == 120
        assert sorted(e.text for _, e in events) == sorted([f"one {n}" for n in range(60)] +
                                                           [f"two {n}" for n in range(60)])
    finally:
        await one.close()
        await two.close()


async def _event(store: EventStore, text: str) -> None:
    """An event as the runtime writes it: numbered and queued under the session's lock, its commit awaited after
    the lock is left."""
    async with store.session_lock("s1"):
        committed = store.write([store.event_op("s1", await store.next_seq("s1"), _reply(text))])
    await committed


async def test_a_lock_changes_hands_only_once_what_was_applied_under_it_is_committed(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Process A's event 1 is slow to commit when B asks for the lock; A's event 2 comes
    while A is letting go. B must get the lock only once event 2 is committed too, and number its event 3
    (before, B took it after event 1, numbered its event 2 as well, and one of the two was refused)."""
    monkeypatch.setattr(pgstore, "HANDOFF_SECONDS", 2.0)  # room for A's second event after B asks
    a, b = await open_store(pg_url), await open_store(pg_url)
    blockers = [await asyncpg.connect(pg_url) for _ in range(2)]
    try:
        # A row with each of A's numbers, not yet committed (one per connection): A's commits wait for them
        holds = [blocker.transaction() for blocker in blockers]
        for n, (blocker, hold) in enumerate(zip(blockers, holds, strict=True), start=1):
            await hold.start()
            await blocker.execute(f"INSERT INTO events VALUES ('s1', {n}, 'x', '{{}}')")

        first = asyncio.create_task(_event(a, "a1"))
        await asyncio.sleep(0.3)
        other = asyncio.create_task(_event(b, "b"))  # B asks; A lets go once what it applied is committed
        await asyncio.sleep(0.3)
        second = asyncio.create_task(_event(a, "a2"))  # within the hand-over's grace
        await asyncio.sleep(0.3)
        await holds[0].rollback()  # event 1 is committed; event 2 still waits
        await asyncio.sleep(0.3)
        await holds[1].rollback()
        await asyncio.wait_for(asyncio.gather(first, second, other), 30)
        assert [(n, e.text) for n, e in await a.events("s1")] == [(1, "a1"), (2, "a2"), (3, "b")]
    finally:
        for blocker in blockers:
            await blocker.close()
        await a.close()
        await b.close()


async def test_a_process_queued_for_a_lock_while_it_changed_hands_is_not_left_waiting(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """B asks for the session's lock while it is between holders (here a third connection has it and A waits
    first), so no process hears B ask. A takes the lock, applies its event and would keep the lock idle for
    as long as it lingers: B is seen queued and gets in all the same."""
    monkeypatch.setattr(pgstore, "LINGER_SECONDS", 600.0)
    a, b = await open_store(pg_url), await open_store(pg_url)
    between = await asyncpg.connect(pg_url)
    try:
        await between.execute("SELECT pg_advisory_lock($1)", pgstore.lock_key("s1"))
        first = asyncio.create_task(_event(a, "a"))
        await asyncio.sleep(0.3)
        second = asyncio.create_task(_event(b, "b"))
        await asyncio.sleep(0.3)
        await between.execute("SELECT pg_advisory_unlock($1)", pgstore.lock_key("s1"))
        await asyncio.wait_for(asyncio.gather(first, second), 30)  # 600 s if B were not heard
        assert [(n, e.text) for n, e in await a.events("s1")] == [(1, "a"), (2, "b")]
    finally:
        await between.close()
        await a.close()
        await b.close()


async def test_a_steady_stream_in_one_process_does_not_keep_another_out_of_the_session(pg_url: str) -> None:
    """One process keeps a busy session's lock between its events; another that asks for it gets it while
    the first is still streaming (not once it pauses), and both go on: their events interleave."""
    one, two = await open_store(pg_url), await open_store(pg_url)
    stop = asyncio.Event()
    sent = 0

    async def stream() -> None:
        nonlocal sent
        while not stop.is_set():
            await one.append("s1", _reply(f"one {sent}"))
            sent += 1

    task = asyncio.create_task(stream())
    try:
        while sent < 20:
            await asyncio.sleep(0.01)
        await asyncio.wait_for(two.append("s1", _reply("two")), 60)  # only a guard against waiting for ever
        got_in = sent
        while sent < got_in + 20:  # the stream goes on after the other process's event
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await task
    texts = [e.text for _, e in await one.events("s1")]
    assert 20 <= texts.index("two") < len(texts) - 20
    assert [n for n, _ in await one.events("s1")] == list(range(1, len(texts) + 1))
    await one.close()
    await two.close()


async def test_a_session_restarted_on_either_store_comes_back_whole_and_posts_nothing_again(
        database: Path | str, tmp_path: Path) -> None:
    first = ConsoleAdapter(out=io.StringIO())
    async with assembled(first, database=database) as runtime:
        root = await start_with_two_ideas(first)
        before = next(iter(runtime.sessions.values())).model_dump()
    second = ConsoleAdapter(out=io.StringIO())
    async with assembled(second, database=database) as runtime:
        assert next(iter(runtime.sessions.values())).model_dump() == before
        assert second.messages == [], "a restart re-posted what was already posted"
        # A platform's retry of a message from before the restart is recognised; a new reply is taken.
        await second.send(UserMessage(channel=second.channel, person=second.person("P0"), text="Listen more",
                                      message_ref="m0", reply_to_ref=root, event_id="e0"))
        await second.send(UserMessage(channel=second.channel, person=second.person("P2"), text="Ask first",
                                      message_ref="m2", reply_to_ref=root, event_id="e2"))
        assert [i.text for i in next(iter(runtime.sessions.values())).ideas] == [
            "Listen more", "Pay people", "Ask first"]


async def test_the_database_setting_picks_the_store_a_path_sqlite_a_url_postgresql(
        pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACILITATOR_DATABASE", pg_url)
    settings = Settings()
    assert settings.database == pg_url, "the URL is kept whole (a path would fold its //)"
    store = await open_store(settings)
    try:
        assert store.shared and await store.claim_delivery("e1")
    finally:
        await store.close()
    monkeypatch.setenv("FACILITATOR_DATABASE", str(tmp_path / "bot.sqlite3"))
    settings = Settings()
    assert settings.database == tmp_path / "bot.sqlite3"
    store = await open_store(settings)
    try:
        assert not store.shared and (tmp_path / "bot.sqlite3").exists()
    finally:
        await store.close()


async def test_doctor_checks_a_postgresql_database(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.doctor import run_checks

    monkeypatch.setenv("FACILITATOR_DATABASE", pg_url.replace("/t", "/nope_t"))
    found = {c.name: c for c in await run_checks(Settings())}
    assert found["Database"].status == "fail" and "FACILITATOR_DATABASE" in found["Database"].detail
    monkeypatch.setenv("FACILITATOR_DATABASE", pg_url)
    found = {c.name: c for c in await run_checks(Settings())}
    assert found["Database"].status == "ok"
