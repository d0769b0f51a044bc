"""The supervisor of `serve --workers N` holds ~20 MB where a process with the hub imported holds ~65:
it imports none of the hub's libraries (hub.supervisor rule 2). A module it imports that starts
importing aiohttp, asyncpg, cryptography or sqlite3 would quietly put ~45 MB back."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import this_checkout

HEAVY = ("aiohttp", "asyncpg", "cryptography", "sqlite3", "jinja2", "prometheus_client", "careplan.standard")


def test_the_supervisor_imports_none_of_the_hubs_libraries() -> None:
    probe = "import sys, hub.supervisor; print(' '.join(m for m in sys.argv[1:] if m in sys.modules))"
    command = [sys.executable, "-c", probe, *HEAVY]
    done = subprocess.run(command, env=this_checkout(), capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == [], f"hub.supervisor imports {done.stdout.strip()}"


def test_a_worker_on_sqlite_loads_neither_the_postgresql_driver_nor_jinja2() -> None:
    """asyncpg (~3 MB) comes with `--database postgresql://…` only (hub.storage, hub.control.store)
    and Jinja2 (~2 MB) with the first page (hub.templates): a worker holds neither until then."""
    probe = "import sys, hub.workers, hub.app; print(' '.join(m for m in sys.argv[1:] if m in sys.modules))"
    command = [sys.executable, "-c", probe, "asyncpg", "jinja2"]
    done = subprocess.run(command, env=this_checkout(), capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == [], f"a hub worker imports {done.stdout.strip()} at start"
