"""The end-to-end suite on both storage backends: every test that takes a hub (the `hub` fixture,
through `database_url`) runs on SQLite and on PostgreSQL (the session's throwaway cluster,
tests/conftest.py `pg_cluster`), except the few that look at SQLite itself."""

from __future__ import annotations

import pytest

SQLITE_ONLY = {  # test → what it inspects that only SQLite has
    "test_one_query_a_page_whatever_its_size": "the statements seen by SQLite's trace callback",
    "test_pages_read_their_covering_keyset_index": "SQLite's EXPLAIN QUERY PLAN",
    "test_the_data_directory_is_private": "the modes of hub.sqlite3 and its -wal/-shm files",
    "test_an_older_data_directory_is_tightened_at_start": "the mode of hub.sqlite3",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_url" in metafunc.fixturenames and metafunc.function.__name__ not in SQLITE_ONLY:
        metafunc.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
