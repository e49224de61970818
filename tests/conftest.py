"""Suite-wide: themes by word overlap everywhere, so tests that read themes do not depend on whether the
embedding model loads on this machine. tests/test_embeddings_model.py runs the model itself.

`end` sends the note at once (no wait for the empty chair), so tests written before that wait end in one
step; tests/engine/test_note_shape.py turns the wait on and tests it."""

import os

os.environ.setdefault("FACILITATOR_GROUPING", "lexical")
os.environ.setdefault("FACILITATOR_SESSION__EMPTY_CHAIR_SECONDS", "0")


# --- PostgreSQL: a real server started by the tests (tests/pg.py) ------------------------------------------

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.pg import PgServer, bindir  # noqa: E402


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgServer]:
    """The session's PostgreSQL server (skipped where PostgreSQL is not installed, except in CI)."""
    bins = bindir()
    if bins is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed (.ci/run installs Debian's postgresql package)")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    server = PgServer(bins)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres: PgServer) -> str:
    """An empty database of this test's own on the session's server."""
    return postgres.database()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """What FACILITATOR_DATABASE would hold, once per store: a file path (SQLite) and a postgresql:// URL."""
    if request.param == "sqlite":
        return tmp_path / "facilitator.sqlite3"
    return request.getfixturevalue("pg_url")
