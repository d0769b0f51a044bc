"""`careplan hub serve --workers N`: N worker processes share the hub's port; one supervisor.

Rules this module keeps:
1. A worker is a whole hub (`hub.server.start_hub`) listening on the same port with SO_REUSEPORT,
   so the kernel spreads connections over the workers and their CPUs. Whatever the workers must
   agree on lives in the data directory: the database (sessions, throttles, licences,
   transmissions; writers take turns through `hub.db`'s lock file), the clock
   (`hub.clock.SharedClock`, a mapped file; on PostgreSQL a row of the database: hub.nodes), the
   payload keys (the key file, re-read when it changes: `hub.payloads`). Per worker, and
   documented so: rate-limit buckets (`hub.limits`) and the connection cap (`hub.connections`) —
   each worker counts its own connections.
2. The supervisor prepares the storage (migrations, garbage left by an interrupted write) before
   any worker starts, and workers never collect garbage: another worker may have written a payload
   that its commit does not name yet.
3. The supervisor reserves the port (bound, not listening, so it takes no connection) before the
   workers start, writes the ready file (its own pid) once every worker listens, restarts a worker
   that dies (at most RESTART_BURST in RESTART_WINDOW seconds, then it stops the hub) and on
   SIGINT/SIGTERM stops them all. A worker dies with its supervisor (PR_SET_PDEATHSIG), so a
   killed supervisor never leaves workers behind holding the port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from hub.banner import listening_lines
from hub.clock import Clock, SharedClock
from hub.config import HubConfig
from hub.logformat import FORMATS, JsonFormatter, configure_logging, node_name
from hub.nodes import collect_garbage_at_start, shared
from hub.payloads import PayloadStore
from hub.server import admin_token, start_hub, write_ready_file
from hub.storage import open_storage

log = logging.getLogger(__name__)
READY_TIMEOUT = 60.0  # seconds a worker has to listen
STOP_TIMEOUT = 20.0  # seconds workers have to finish their requests on SIGTERM
RESTART_BURST, RESTART_WINDOW = 5, 60.0
PR_SET_PDEATHSIG = 1
M_ARENA_MAX, M_MMAP_THRESHOLD = -8, -3  # glibc mallopt parameters


def tune_malloc() -> None:
    """Keep a hub process's memory near what it uses. glibc raises its mmap threshold after the
    first large buffer is freed (so later 10 MB uploads stay in the heap, never given back) and
    gives every thread its own arena; a fixed threshold and two arenas halve the peak RSS of 32
    concurrent 10 MB uploads (bench/load.py). A no-op where the C library is not glibc."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.mallopt(M_MMAP_THRESHOLD, 256 * 1024)
        libc.mallopt(M_ARENA_MAX, 2)


def clock_file(config: HubConfig) -> Path:
    return config.data_dir / "clock"


async def prepare_storage(config: HubConfig) -> None:
    """Migrate the database and remove payloads no committed row names, with no worker running."""
    db = await open_storage(config.database_url, config.db_file)
    try:  # on a shared database only stale files: other nodes may be writing (hub.nodes)
        await collect_garbage_at_start(config, db, PayloadStore(config.payload_dir, config.key_file))
    finally:
        await db.close()


def _reserve_port(config: HubConfig) -> socket.socket:
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    reserved = socket.socket(family, socket.SOCK_STREAM)
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reserved.bind((config.host, config.port))
    return reserved


class Supervisor:
    def __init__(self, config: HubConfig, workers: int, port: int, log_format: str = "text") -> None:
        self.config = config
        self.count = workers
        self.port = port
        self.log_format = log_format
        self.workers: list[subprocess.Popen[bytes]] = []
        self.restarts: list[float] = []
        self.stopping = False

    def spawn(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "hub.workers", "--data", str(self.config.data_dir)]
        command += ["--host", self.config.host, "--port", str(self.port), "--log-format", self.log_format]
        # The database URL goes by the environment: a password on a command line shows in `ps`.
        env = {**os.environ, "CAREPLAN_HUB_DATABASE": self.config.database_url}
        return subprocess.Popen(command, stdout=subprocess.PIPE, env=env)

    @staticmethod
    def wait_ready(worker: subprocess.Popen[bytes]) -> None:
        assert worker.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and worker.poll() is None:
            readable, _, _ = select.select([worker.stdout], [], [], 0.2)
            if readable and worker.stdout.readline().strip() == b"ready":
                return
        worker.kill()
        worker.wait()
        raise RuntimeError(f"a hub worker did not start (exit status {worker.returncode})")

    def start(self) -> None:
        self.workers = [self.spawn() for _ in range(self.count)]  # they start side by side
        for worker in self.workers:
            self.wait_ready(worker)

    def watch(self) -> None:
        """Until told to stop: restart a worker that exits, unless they keep dying."""
        while not self.stopping:
            time.sleep(0.2)
            for index, worker in enumerate(self.workers):
                if self.stopping or worker.poll() is None:
                    continue
                now = time.monotonic()
                self.restarts = [t for t in self.restarts if now - t < RESTART_WINDOW] + [now]
                if len(self.restarts) > RESTART_BURST:
                    log.error("hub workers keep exiting (%d in %.0f s): stopping", len(self.restarts), RESTART_WINDOW)
                    self.stopping = True
                    return
                log.warning("hub worker %d exited with status %s: restarting it", worker.pid, worker.returncode)
                self.workers[index] = self.spawn()
                self.wait_ready(self.workers[index])

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for worker in self.workers:
            try:
                worker.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def serve_workers(config: HubConfig, workers: int, log_format: str = "text") -> int:
    """Run the hub as `workers` processes until SIGINT/SIGTERM (see the module's rules)."""
    from dataclasses import replace

    config = replace(config, admin_token=admin_token(config))  # made once, before any worker reads it
    asyncio.run(prepare_storage(config))
    reserved = _reserve_port(config)
    supervisor = Supervisor(config, workers, reserved.getsockname()[1], log_format)

    def stop(*_: object) -> None:
        supervisor.stopping = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    SharedClock.fresh(clock_file(config))  # a starting hub runs on real time, as with one process
    try:
        supervisor.start()
        host = f"[{config.host}]" if ":" in config.host else config.host
        url = f"https://{host}:{supervisor.port}"
        write_ready_file(config, url=url, port=supervisor.port)
        print("\n".join(listening_lines(url, config, workers=workers)), flush=True)
        supervisor.watch()
    finally:
        config.ready_file.unlink(missing_ok=True)
        supervisor.stop()
        reserved.close()
    return 0 if supervisor.stopping else 1


# --- one worker -----------------------------------------------------------------------------------
def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the supervisor died before prctl took effect
        sys.exit(1)


async def _worker(config: HubConfig, json_logs: JsonFormatter | None) -> None:
    # On a shared database the clock is a row of it (hub.nodes), not a mapped file of this machine.
    clock = Clock() if shared(config) else SharedClock(clock_file(config))
    stop = asyncio.Event()  # first: Ctrl-C reaches the workers too, also while they start
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    hub = await start_hub(config, clock=clock, announce_ready=False, worker=True)
    if json_logs is not None:
        json_logs.node = node_name(hub.port)
    print("ready", flush=True)
    try:
        await stop.wait()
    finally:
        await hub.stop()


def main(argv: list[str]) -> int:
    _die_with_parent()
    tune_malloc()
    parser = argparse.ArgumentParser(prog="python -m hub.workers", description="one worker of `careplan hub serve`")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-format", choices=FORMATS, default="text")
    args = parser.parse_args(argv)
    json_logs = configure_logging(args.log_format, text="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
    config = HubConfig.from_env(args.data, host=args.host, port=args.port)
    asyncio.run(_worker(config, json_logs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
