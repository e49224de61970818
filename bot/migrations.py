"""Versioned schema migrations for both stores: numbered steps, each applied once, in order, and recorded in
`schema_migrations` in the same transaction as its changes. A database written by a newer release (a version this
code does not know) is refused, never half-understood.

Why not Alembic: the stores use SQL directly (aiosqlite, asyncpg), not SQLAlchemy, and Alembic's value is its
autogeneration from SQLAlchemy models and its revision graph. Two short lists of numbered statements, one per
dialect, do what the bot needs; a new step is a new entry at the end of each list (see docs/deploy.md).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from bot.configuration import ConfigError

# Step 1 is the schema as it was before migrations existed: CREATE ... IF NOT EXISTS, so a database from then is
# taken over as it is.
SQLITE: list[str] = [
    """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, channel TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    session_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE IF NOT EXISTS snapshots (
    session_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, version TEXT NOT NULL, payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS set_aside (
    session_id TEXT NOT NULL, seq INTEGER NOT NULL, error TEXT NOT NULL, PRIMARY KEY (session_id, seq)
);
CREATE TABLE IF NOT EXISTS refs (
    session_id TEXT NOT NULL, key TEXT NOT NULL, ref TEXT NOT NULL, PRIMARY KEY (session_id, key)
);
CREATE INDEX IF NOT EXISTS refs_by_ref ON refs (ref);
CREATE TABLE IF NOT EXISTS outbox (
    session_id TEXT NOT NULL, key TEXT NOT NULL, effect TEXT NOT NULL, after TEXT,
    state TEXT NOT NULL DEFAULT 'queued', first_try REAL, error TEXT,
    PRIMARY KEY (session_id, key)
);
CREATE TABLE IF NOT EXISTS deliveries (event_id TEXT PRIMARY KEY, seen_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (ref TEXT PRIMARY KEY, session_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pairs (channel TEXT NOT NULL, session_id TEXT NOT NULL, members TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS purged (
    session_id TEXT PRIMARY KEY, approved_at TEXT NOT NULL, purged_at TEXT NOT NULL, counts TEXT NOT NULL
);
""",
]

# PostgreSQL adds what several processes need: a counter per session for event numbers (taken under a row lock,
# never MAX(seq)+1), the live processes (a heartbeat), an owner on each outbox entry, and timers as rows.
POSTGRES: list[str] = [
    """
CREATE TABLE sessions (
    id TEXT PRIMARY KEY, channel TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE seqs (session_id TEXT PRIMARY KEY, last BIGINT NOT NULL);
CREATE TABLE events (
    session_id TEXT NOT NULL, seq BIGINT NOT NULL, type TEXT NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE snapshots (
    session_id TEXT PRIMARY KEY, seq BIGINT NOT NULL, version TEXT NOT NULL, payload TEXT NOT NULL
);
CREATE TABLE set_aside (
    session_id TEXT NOT NULL, seq BIGINT NOT NULL, error TEXT NOT NULL, PRIMARY KEY (session_id, seq)
);
CREATE TABLE refs (
    session_id TEXT NOT NULL, key TEXT NOT NULL, ref TEXT NOT NULL, PRIMARY KEY (session_id, key)
);
CREATE INDEX refs_by_ref ON refs (ref);
CREATE TABLE outbox (
    pos BIGSERIAL, session_id TEXT NOT NULL, key TEXT NOT NULL, effect TEXT NOT NULL, after TEXT,
    state TEXT NOT NULL DEFAULT 'queued', first_try DOUBLE PRECISION, error TEXT, owner TEXT,
    PRIMARY KEY (session_id, key)
);
CREATE TABLE deliveries (event_id TEXT PRIMARY KEY, seen_at TEXT NOT NULL);
CREATE TABLE messages (ref TEXT PRIMARY KEY, session_id TEXT NOT NULL);
CREATE TABLE pairs (channel TEXT NOT NULL, session_id TEXT NOT NULL, members TEXT NOT NULL);
CREATE INDEX pairs_by_channel ON pairs (channel);
CREATE TABLE purged (
    session_id TEXT PRIMARY KEY, approved_at TEXT NOT NULL, purged_at TEXT NOT NULL, counts TEXT NOT NULL
);
CREATE TABLE workers (id TEXT PRIMARY KEY, seen_at TIMESTAMPTZ NOT NULL);
CREATE TABLE timers (
    session_id TEXT NOT NULL, timer_id TEXT NOT NULL, fire_at TIMESTAMPTZ NOT NULL, owner TEXT,
    claimed_until TIMESTAMPTZ, PRIMARY KEY (session_id, timer_id)
);
CREATE INDEX timers_due ON timers (fire_at);
""",
    # 2: a commit is one statement, so one round trip: the store sends the batch's statements with their values
    # as JSON and this runs them in order, in the statement's own transaction. (No longer called: the writer
    # now prepares its statements once, bot/pgstore.py `_commit`; kept so that a process of the release before,
    # still running while the others are upgraded, can go on committing.)
    # Event numbers are counted under the session's lock since, so the counter rows went. Refs are numbered, so
    # a process catching up on a session reads only those made since it last looked.
    """
CREATE FUNCTION facilitator_write(batch jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    op jsonb;
BEGIN
    FOR op IN SELECT value FROM jsonb_array_elements(batch) LOOP
        EXECUTE op ->> 0 USING op -> 1;
    END LOOP;
END
$$;
DROP TABLE seqs;
ALTER TABLE refs ADD COLUMN pos BIGSERIAL;
""",
    # 3: which form each button opens (bot/pgforms.py), so a press reaching any process finds the form the
    # process that posted the message saved. SQLite keeps its forms in files of their own (adapters/formbook.py).
    """
CREATE TABLE forms (
    platform TEXT NOT NULL, message TEXT NOT NULL, custom_id TEXT NOT NULL, form TEXT NOT NULL,
    saved_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (platform, message, custom_id)
);
CREATE INDEX forms_by_saved_at ON forms (saved_at);
""",
]

_TABLE = "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
# Any constant: every process takes this lock before migrating, so two starting together migrate once.
_PG_MIGRATION_LOCK = 7_013_000_001


class SchemaTooNew(ConfigError):
    """The database was migrated by a newer release than this one (reported at start, as a setup problem)."""


def _too_new(where: str, found: int, known: int) -> SchemaTooNew:
    return SchemaTooNew(f"{where} has schema version {found}, newer than this release knows ({known}): run the "
                        "release that wrote it, or restore a backup taken before the upgrade")


def migrate_sqlite(conn: sqlite3.Connection, where: str) -> list[int]:
    """Apply the SQLite steps not yet applied (runs on the connection's thread); the versions applied now."""
    conn.execute(_TABLE)
    conn.commit()
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    if done and max(done) > len(SQLITE):
        raise _too_new(where, max(done), len(SQLITE))
    applied = []
    for version, script in enumerate(SQLITE, start=1):
        if version in done:
            continue
        # executescript commits first, so the step and its record are made atomic by an explicit transaction.
        conn.executescript(f"BEGIN;\n{script}\nINSERT INTO schema_migrations VALUES ({version}, "
                           f"'{datetime.now(UTC).isoformat()}');\nCOMMIT;")
        applied.append(version)
    return applied


async def migrate_postgres(conn: Any, where: str) -> list[int]:
    """Apply the PostgreSQL steps not yet applied, under an advisory lock (an asyncpg connection)."""
    applied = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _PG_MIGRATION_LOCK)
        await conn.execute(_TABLE)
        done = {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        if done and max(done) > len(POSTGRES):
            raise _too_new(where, max(done), len(POSTGRES))
        for version, script in enumerate(POSTGRES, start=1):
            if version in done:
                continue
            await conn.execute(script)
            await conn.execute("INSERT INTO schema_migrations VALUES ($1, $2)", version,
                               datetime.now(UTC).isoformat())
            applied.append(version)
    return applied
