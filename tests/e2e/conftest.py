"""The end-to-end suite on both storage backends: the modules named here run each test on SQLite
and on PostgreSQL (the session's throwaway cluster, tests/conftest.py `pg_cluster`)."""

from __future__ import annotations

import pytest

POSTGRES_TOO = frozenset(
    {"test_exchange", "test_refusals", "test_impersonation", "test_idempotent_retry", "test_crash"}
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rpartition(".")[2]
    if module in POSTGRES_TOO and "database_url" in metafunc.fixturenames:
        metafunc.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
