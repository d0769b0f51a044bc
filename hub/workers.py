"""`careplan hub serve --workers N`: N worker processes share the hub's port; one supervisor
(hub.supervisor, which forks, restarts and stops them).

Rules this module keeps:
1. A worker is a whole hub (`hub.server.start_hub`) listening on the same port with SO_REUSEPORT,
   so the kernel spreads connections over the workers and their CPUs. Whatever the workers must
   agree on lives in the data directory: the database (sessions, throttles, licences,
   transmissions; writers take turns through `hub.db`'s lock file), the clock
   (`hub.clock.SharedClock`, a mapped file; on PostgreSQL a row of the database: hub.nodes), the
   payload keys (the key file, re-read when it changes: `hub.payloads`). Per worker, and
   documented so: rate-limit buckets (`hub.limits`) and the connection cap (`hub.connections`) —
   each worker counts its own connections.
2. The storage is prepared (`prepare_storage`: migrations, garbage left by an interrupted write)
   before any worker starts, and workers never collect garbage: another worker may have written a
   payload that its commit does not name yet.
3. A worker dies with its supervisor (PR_SET_PDEATHSIG), so a killed supervisor never leaves
   workers behind holding the port. It is named `careplan-worker` (what `ps -o comm` and `top`
   show), since a forked worker's command line is its supervisor's.
4. A worker is forked from the supervisor (`run`, in the child) with the hub's modules imported
   there already: nothing it holds before `run` was made for it, and everything it makes (the
   event loop, the storage's connections and threads, the TLS context, the logging handlers) it
   makes in `run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable

from hub import heap
from hub.clock import Clock, SharedClock
from hub.config import HubConfig
from hub.datadir import DataDirProblem
from hub.logformat import JsonFormatter, configure_logging, node_name
from hub.nodes import collect_garbage_at_start, shared
from hub.payloads import PayloadStore
from hub.server import server_ssl_context, start_hub
from hub.storage import open_storage
from hub.supervisor import clock_file

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG, PR_SET_NAME = 1, 15
NAME = b"careplan-worker"  # at most 15 bytes: the kernel's comm


async def prepare_storage(config: HubConfig) -> None:
    """Migrate the database and remove payloads no committed row names, with no worker running; and
    read the TLS files, so that a data directory the workers could not use is one message here
    (hub.datadir.DataDirProblem), not N workers failing."""
    server_ssl_context(config)
    db = await open_storage(config.database_url, config.db_file)
    try:  # on a shared database only stale files: other nodes may be writing (hub.nodes)
        await collect_garbage_at_start(config, db, PayloadStore(config.payload_dir, config.key_file))
    finally:
        await db.close()


# --- one worker -----------------------------------------------------------------------------------
def _become_worker() -> None:
    """Die with the supervisor (rule 3), and be named a worker."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        libc.prctl(PR_SET_NAME, NAME)
    if os.getppid() == 1:  # the supervisor died before prctl took effect
        sys.exit(1)


async def _worker(config: HubConfig, json_logs: JsonFormatter | None, ready: Callable[[], None]) -> None:
    # On a shared database the clock is a row of it (hub.nodes), not a mapped file of this machine.
    clock = Clock() if shared(config) else SharedClock(clock_file(config))
    stop = asyncio.Event()  # first: a SIGTERM while the worker starts stops it once it listens
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    hub = await start_hub(config, clock=clock, announce_ready=False, worker=True)
    if json_logs is not None:
        json_logs.node = node_name(hub.port)
    ready()
    try:
        await stop.wait()
    finally:
        await hub.stop()


def run(config: HubConfig, log_format: str, ready: Callable[[], None]) -> int:
    """Be one worker until SIGTERM/SIGINT, in the process the supervisor forked (rule 4); `ready`
    is called once the worker listens. Returns the exit status."""
    _become_worker()
    heap.tune()
    text = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
    json_logs = configure_logging(log_format, text=text, force=True)  # not the supervisor's handlers
    try:
        asyncio.run(_worker(config, json_logs, ready))
    except DataDirProblem as error:  # the supervisor says a worker did not start; this says why
        print(error.lines("careplan hub serve"), file=sys.stderr)
        return 2
    return 0
