"""The supervisor of `careplan hub serve --workers N`: it forks N worker processes (hub.workers) on
one port, restarts one that dies, and stops them all on SIGINT/SIGTERM.

Rules this module keeps:
1. `careplan hub serve` prepares the storage (migrations, garbage left by an interrupted write:
   `hub.workers.prepare_storage`) and makes the admin token before any worker starts — workers
   never collect garbage, since another worker may have written a payload that its commit does not
   name yet — and then becomes this supervisor by exec (`exec_supervisor`), keeping its pid. The
   exec leaves behind the threads and the event loop that preparing took: a fork copies only the
   thread that calls it, so the supervisor runs one thread and no event loop.
2. Workers share what every worker would load alike. Before the first fork the supervisor imports
   the hub (`preload`) and moves every object it holds to the collector's permanent generation
   (`gc.freeze`), so that no collection in a worker writes to them. Each worker is forked from it,
   and the pages of those modules stay shared, copy-on-write, between the supervisor and every
   worker. A second worker costs its own pages (~15 MB at start), not a second interpreter with
   its libraries (~58 MB when a worker was a process of its own; the sum of PSS across the hub's
   processes is the figure that shows it: bench/load.py, tests/e2e/test_serve_workers.py).
3. The supervisor reserves the port (bound, not listening, so it takes no connection) before the
   workers start, writes the ready file (its own pid) once every worker listens, restarts a worker
   that dies (at most RESTART_BURST in RESTART_WINDOW seconds, then it stops the hub) and on
   SIGINT/SIGTERM stops them all. Workers have a process group of their own: Ctrl-C reaches the
   supervisor alone, even while they start. A worker dies with its supervisor (PR_SET_PDEATHSIG),
   so a killed supervisor never leaves workers behind holding the port.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import logging
import multiprocessing
import multiprocessing.process
import os
import select
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from hub.banner import listening_lines
from hub.clock import SharedClock
from hub.config import HubConfig
from hub.datadir import write_ready_file
from hub.logformat import FORMATS, configure_logging

log = logging.getLogger(__name__)
READY_TIMEOUT = 60.0  # seconds a worker has to listen
STOP_TIMEOUT = 20.0  # seconds workers have to finish their requests on SIGTERM
RESTART_BURST, RESTART_WINDOW = 5, 60.0
FORK = multiprocessing.get_context("fork")


def clock_file(config: HubConfig) -> Path:
    return config.data_dir / "clock"


def _reserve_port(config: HubConfig) -> socket.socket:
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    reserved = socket.socket(family, socket.SOCK_STREAM)
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reserved.bind((config.host, config.port))
    return reserved


class WorkerFailed(RuntimeError):
    """A worker exited, or did not listen within READY_TIMEOUT."""


def preload(config: HubConfig) -> None:
    """Import what a worker runs and freeze it, before the first fork (rule 2)."""
    import hub.workers

    if config.database_url:  # PostgreSQL's driver, which a hub on SQLite never loads
        import hub.control.store_postgres
        import hub.db_postgres  # noqa: F401
    gc.collect()
    gc.freeze()


@dataclass
class Worker:
    process: multiprocessing.process.BaseProcess
    ready: BinaryIO  # the read end of the pipe the worker says "ready" on


def _worker_main(config: HubConfig, log_format: str, ready: int, inherited: list[int]) -> None:
    """The forked child: a worker (hub.workers.run) with nothing of the supervisor's but its memory."""
    for sig in (signal.SIGINT, signal.SIGTERM):  # the supervisor's handlers only set its own flag
        signal.signal(sig, signal.SIG_DFL)
    os.setpgid(0, 0)  # rule 3: the terminal's Ctrl-C reaches the supervisor alone
    for fd in inherited:  # the reserved port, the other workers' pipes
        os.close(fd)
    from hub.workers import run

    def say_ready() -> None:
        os.write(ready, b"ready\n")

    sys.exit(run(config, log_format, ready=say_ready))


class Supervisor:
    def __init__(self, config: HubConfig, workers: int, port: int, log_format: str = "text") -> None:
        self.config = config
        self.count = workers
        self.port = port
        self.log_format = log_format
        self.workers: list[Worker] = []
        self.restarts: list[float] = []
        self.stopping = False
        self.inherited: list[int] = []  # descriptors of the supervisor's that a worker closes

    def spawn(self) -> Worker:
        if threading.active_count() != 1:  # rule 1: a fork would copy a lock another thread holds
            raise WorkerFailed(f"the supervisor runs {threading.active_count()} threads; it forks from one")
        config = dataclasses.replace(self.config, port=self.port)
        sys.stdout.flush()  # else a worker's exit would write what was buffered again
        sys.stderr.flush()
        read, write = os.pipe()
        pipes = [worker.ready.fileno() for worker in self.workers if not worker.ready.closed]  # a dead one's is closed
        inherited = [*self.inherited, read, *pipes]
        process = FORK.Process(target=_worker_main, args=(config, self.log_format, write, inherited), daemon=False)
        process.start()
        os.close(write)
        return Worker(process, os.fdopen(read, "rb", buffering=0))

    def wait_ready(self, worker: Worker) -> None:
        """Until `worker` says ready; WorkerFailed if it exits or is late. Told to stop meanwhile
        (Ctrl-C while the workers start), it stops waiting: `stop` ends the worker."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and worker.process.exitcode is None and not self.stopping:
            readable, _, _ = select.select([worker.ready], [], [], 0.2)
            if readable and worker.ready.readline().strip() == b"ready":
                return
        if self.stopping:
            return
        worker.process.kill()
        worker.process.join()
        raise WorkerFailed(f"exit status {worker.process.exitcode}")

    def start(self) -> None:
        for _ in range(self.count):  # they start side by side
            self.workers.append(self.spawn())
        for worker in self.workers:
            self.wait_ready(worker)

    def watch(self) -> None:
        """Until told to stop: restart a worker that exits, unless they keep dying."""
        while not self.stopping:
            time.sleep(0.2)
            for index, worker in enumerate(self.workers):
                if self.stopping or worker.process.exitcode is None:
                    continue
                now = time.monotonic()
                self.restarts = [t for t in self.restarts if now - t < RESTART_WINDOW] + [now]
                if len(self.restarts) > RESTART_BURST:
                    log.error("hub workers keep exiting (%d in %.0f s): stopping", len(self.restarts), RESTART_WINDOW)
                    self.stopping = True
                    return
                pid, status = worker.process.pid, worker.process.exitcode
                log.warning("hub worker %d exited with status %s: restarting it", pid, status)
                worker.ready.close()
                self.workers[index] = self.spawn()
                self.wait_ready(self.workers[index])

    def stop(self) -> None:
        for worker in self.workers:
            if worker.process.exitcode is None:
                worker.process.terminate()  # SIGTERM
        deadline = time.monotonic() + STOP_TIMEOUT
        for worker in self.workers:
            worker.process.join(timeout=max(0.1, deadline - time.monotonic()))
            if worker.process.exitcode is None:
                worker.process.kill()
                worker.process.join()
            worker.ready.close()


def serve(config: HubConfig, workers: int, log_format: str = "text") -> int:
    """Run the hub as `workers` processes until SIGINT/SIGTERM (see the module's rules); the
    storage is prepared and the admin token made already (rule 1)."""
    supervisor = Supervisor(config, workers, config.port, log_format)

    def stop(*_: object) -> None:
        supervisor.stopping = True

    for sig in (signal.SIGINT, signal.SIGTERM):  # first: Ctrl-C while the workers start stops them
        signal.signal(sig, stop)
    reserved = _reserve_port(config)
    supervisor.port = reserved.getsockname()[1]
    supervisor.inherited = [reserved.fileno()]
    preload(config)
    SharedClock.fresh(clock_file(config))  # a starting hub runs on real time, as with one process
    try:
        supervisor.start()
        host = f"[{config.host}]" if ":" in config.host else config.host
        url = f"https://{host}:{supervisor.port}"
        if not supervisor.stopping:
            write_ready_file(config, url=url, port=supervisor.port)
            print("\n".join(listening_lines(url, config, workers=workers)), flush=True)
            supervisor.watch()
    finally:
        config.ready_file.unlink(missing_ok=True)
        supervisor.stop()
        reserved.close()
    return 0 if supervisor.stopping else 1


def exec_supervisor(config: HubConfig, workers: int, log_format: str) -> None:
    """Become the supervisor (rule 1): this process's image is replaced, its pid kept. The
    database URL goes by the environment: a password on a command line shows in `ps`."""
    sys.stdout.flush()
    sys.stderr.flush()
    command = [sys.executable, "-m", "hub.supervisor", "--data", str(config.data_dir), "--host", config.host]
    command += ["--port", str(config.port), "--workers", str(workers), "--log-format", log_format]
    os.execve(sys.executable, command, {**os.environ, "CAREPLAN_HUB_DATABASE": config.database_url})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m hub.supervisor", description="`careplan hub serve --workers N`")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--log-format", choices=FORMATS, default="text")
    args = parser.parse_args(argv)
    configure_logging(args.log_format, text="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = HubConfig.from_env(args.data, host=args.host, port=args.port)
    try:
        return serve(config, args.workers, args.log_format)
    except WorkerFailed as failed:  # the worker's own lines (on the same stderr) say why
        lines = ["careplan hub serve: ワーカーが起動しませんでした", f"  a hub worker did not start ({failed})"]
        print("\n".join(lines), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
