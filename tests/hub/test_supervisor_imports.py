"""What a hub process imports. The supervisor of `serve --workers N` imports the hub before it forks
its workers (hub.supervisor rule 2), so what the hub imports at start every worker holds: a module
that starts importing a driver or an engine the hub does not use puts its memory into every one."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import this_checkout


def test_a_worker_on_sqlite_loads_neither_the_postgresql_driver_nor_jinja2() -> None:
    """asyncpg (~3 MB) comes with `--database postgresql://…` only (hub.storage, hub.control.store)
    and Jinja2 (~2 MB) with the first page (hub.templates): a worker holds neither until then."""
    probe = "import sys, hub.workers, hub.app; print(' '.join(m for m in sys.argv[1:] if m in sys.modules))"
    command = [sys.executable, "-c", probe, "asyncpg", "jinja2"]
    done = subprocess.run(command, env=this_checkout(), capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == [], f"a hub worker imports {done.stdout.strip()} at start"
