"""`careplan hub serve --workers N`: the workers share the port, the clock and the pages of the hub's
modules, forked from one supervisor (hub.supervisor). A clock move made through one connection is what every later
connection sees, whichever worker takes it: through a mapped file on SQLite, through the database's
clock row on PostgreSQL (hub.nodes)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from client.hubclient import client_ssl_context
from tests.conftest import Pki, prepare_data_dir, this_checkout
from tests.e2e.hubprocess import start

pytestmark = pytest.mark.slow
CONNECTIONS = 12  # fresh connections, spread over the workers by the kernel (SO_REUSEPORT)


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _memory_kb(pid: int) -> dict[str, int]:
    """/proc/PID/smaps_rollup's kB figures: Rss, Pss, Private_Dirty, Shared_Dirty…"""
    fields = (line.split() for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines())
    return {f[0].rstrip(":"): int(f[1]) for f in fields if len(f) == 3 and f[2] == "kB"}


async def _hub_time(url: str, ca_file: Path) -> dt.datetime:
    connector = aiohttp.TCPConnector(ssl=client_ssl_context(ca_file, None), force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session, session.get(url + "/healthz") as response:
        return dt.datetime.fromisoformat((await response.json())["hub_time"])


async def test_workers_share_the_port_and_the_clock(tmp_path: Path, pki: Pki, database_url: str) -> None:
    data = tmp_path / "hub"
    prepare_data_dir(data, pki)
    ca_file = data / "ca" / "ca.pem"
    process, url = start(data, workers=2, database_url=database_url)
    try:
        workers = _children(process.pid)
        assert len(workers) == 2
        # `careplan hub serve` became the supervisor by exec (hub.supervisor rule 1): same pid
        assert b"hub.supervisor" in Path(f"/proc/{process.pid}/cmdline").read_bytes()
        assert all(Path(f"/proc/{worker}/comm").read_text().strip() == "careplan-worker" for worker in workers)
        connector = aiohttp.TCPConnector(ssl=client_ssl_context(ca_file, None))
        async with aiohttp.ClientSession(connector=connector) as admin:
            moved = dt.datetime(2025, 4, 16, 9, 0, tzinfo=dt.UTC)
            async with admin.post(
                url + "/admin/v1/clock",
                json={"set": moved.isoformat(), "frozen": True},
                headers={"Authorization": "Bearer test-admin-token"},
            ) as response:
                assert response.status == 200, await response.text()
        seen = {await _hub_time(url, ca_file) for _ in range(CONNECTIONS)}
        assert seen == {moved}, "every worker reads the moved clock"
        # hub.supervisor rule 2: a worker's memory is mostly the supervisor's pages, shared, where a
        # worker started as a process of its own had ~36 MB of its ~58 MB private
        for worker in workers:
            memory = _memory_kb(worker)
            private = memory["Private_Clean"] + memory["Private_Dirty"]
            assert memory["Shared_Dirty"] > 16_000, memory
            assert private < memory["Rss"] / 2, memory
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0, "SIGTERM stops the supervisor and its workers cleanly"


def test_ctrl_c_while_the_workers_start_is_a_clean_stop(tmp_path: Path, pki: Pki) -> None:
    """Ctrl-C in the terminal (SIGINT to the foreground process group) while the workers start: a
    clean stop (exit 0), the supervisor ending its workers — not "a hub worker did not start", nor
    the "Fatal Python error" of a worker interpreter interrupted while it starts (they had it)."""
    data = tmp_path / "hub"
    prepare_data_dir(data, pki)
    command = [sys.executable, "-m", "careplan_cli.main", "hub", "--data", str(data), "serve", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--workers", "2"],
        env=this_checkout(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    deadline = time.monotonic() + 60
    while len(_children(process.pid)) < 2 or b"hub.supervisor" not in Path(f"/proc/{process.pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGINT)  # the workers are starting: their ready line is seconds away
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "did not start" not in stderr and "Traceback" not in stderr and "Fatal" not in stderr, stderr
    assert not (data / "hub.json").exists()


def _listens(pid: int, port: int) -> bool:
    """Whether process `pid` holds a socket listening on `port` (/proc/net/tcp*, state 0A)."""
    inodes = set()
    for name in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    links = (_link(fd) for fd in _fds(pid))
    return any(link.startswith("socket:[") and link[8:-1] in inodes for link in links)


def _fds(pid: int) -> list[Path]:
    """The open descriptors of `pid`; none once it has ended (a worker starting or dying)."""
    try:
        return list(Path(f"/proc/{pid}/fd").iterdir())
    except FileNotFoundError:
        return []


def _link(fd: Path) -> str:
    """What a descriptor names; "" when it was closed since it was listed (the process goes on
    opening and closing files while the test looks: it raced once in a full run)."""
    try:
        return os.readlink(fd)
    except FileNotFoundError:
        return ""


async def test_a_worker_that_dies_is_forked_again_and_serves(tmp_path: Path, pki: Pki) -> None:
    """SIGKILL one worker: the supervisor forks a new one from itself (hub.supervisor rules 2 and 3),
    named and sharing pages as the first ones, listening on the hub's port and answering."""
    data = tmp_path / "hub"
    prepare_data_dir(data, pki)
    process, url = start(data, workers=2)
    port = int(url.rsplit(":", 1)[1])
    try:
        first = _children(process.pid)
        assert all(_listens(worker, port) for worker in first)
        os.kill(first[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            now = [worker for worker in _children(process.pid) if worker != first[0]]
            if len(now) == 2 and all(_listens(worker, port) for worker in now):
                break
            assert time.monotonic() < deadline and process.poll() is None, f"workers {now}"
            await asyncio.sleep(0.05)
        (new,) = set(now) - {first[1]}
        assert Path(f"/proc/{new}/comm").read_text().strip() == "careplan-worker"
        assert _memory_kb(new)["Shared_Dirty"] > 16_000, "forked from the supervisor, not started afresh"
        ca_file = data / "ca" / "ca.pem"
        assert len({await _hub_time(url, ca_file) for _ in range(CONNECTIONS)}) >= 1
        assert (data / "hub.json").exists(), "the hub stayed up"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0
    assert "restarting it" in (tmp_path / "hub-0.log").read_text()
