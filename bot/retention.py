"""Retention: how long what people wrote is kept. Once a session's note has been approved for
`retention_days` (setting FACILITATOR_RETENTION_DAYS, default 30), its content is removed and its counts kept:
the event log's texts, the snapshots, and the saved forms that list private ideas (see README, "What is stored").
`facilitator purge` does it on demand (e.g. daily from cron); `facilitator run` does it at every start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from adapters.formbook import FORM_TABLES, forms_path
from bot.pgforms import form_storage
from bot.settings import Settings
from bot.storage import is_postgres, open_store


class Purged(BaseModel):
    sessions: int
    events: int
    forms: int


async def purge(settings: Settings, now: datetime | None = None, days: int | None = None) -> Purged:
    """Remove the content of sessions approved more than `days` (default: the setting) before `now`, and the
    forms saved before then."""
    before = (now or datetime.now(UTC)) - timedelta(days=settings.retention_days if days is None else days)
    store = await open_store(settings, exclusive=False)  # beside a running bot (cron)
    try:
        sessions, events = await store.purge_closed(before)
    finally:
        await store.close()
    forms = 0
    for platform in FORM_TABLES:
        if not is_postgres(settings.database) and not forms_path(settings.database, platform).exists():
            continue  # no file to purge, and none made by looking
        storage = form_storage(settings.database, platform)
        await storage.open()
        try:
            forms += await storage.purge(before)
        finally:
            await storage.close()
    return Purged(sessions=sessions, events=events, forms=forms)
