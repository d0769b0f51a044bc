"""What bench/load.py reads of a server around each round (CPU time, minor page faults): right when
a worker exits and is restarted during the round, and readable for every kind of server it drives
(bench/nodes.py's hub of several nodes included)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.load import Server

ROOT = Path(__file__).resolve().parents[2]
# A supervisor in miniature: one worker that faults in 32 MB, ended and reaped when told so.
PARENT = """
import subprocess, sys
worker = subprocess.Popen(
    [sys.executable, "-c", "import sys; data = b'x' * (32 << 20); print('ready', flush=True); sys.stdin.read()"],
    stdin=subprocess.PIPE,
)
sys.stdin.readline()
worker.stdin.close()
worker.wait()
print("reaped", flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def server() -> Iterator[tuple[Server, subprocess.Popen[str]]]:
    command = [sys.executable, "-c", PARENT]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        try:
            assert process.stdout.readline() == "ready\n"
            yield Server("hub", "https://127.0.0.1:1", process.pid, process), process  # type: ignore[arg-type]
        finally:
            process.kill()


def test_a_worker_that_ends_during_a_round_keeps_its_counts(server: tuple[Server, subprocess.Popen[str]]) -> None:
    """Its parent reaps it and adds its counts to its children's: the server's totals never go back,
    and the worker's 32 MB of page faults are neither lost nor counted twice."""
    hub, process = server
    assert process.stdin is not None and process.stdout is not None
    faults, cpu = hub.page_faults(), hub.cpu_seconds()
    assert faults > (32 << 20) // 4096, "the worker's pages are the server's"
    process.stdin.write("end the worker\n")
    process.stdin.flush()
    assert process.stdout.readline() == "reaped\n"
    assert len(hub.pids()) == 1
    after = hub.page_faults()
    assert faults <= after < faults + 4096, f"{faults} faults before the worker ended, {after} after"
    assert hub.cpu_seconds() >= cpu


def test_a_process_that_ended_between_listing_and_reading_is_skipped(
    server: tuple[Server, subprocess.Popen[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub, _ = server
    gone = subprocess.Popen(["true"])
    gone.wait()
    listed = hub.pids()
    monkeypatch.setattr(Server, "pids", lambda self: [*listed, gone.pid])
    assert hub.page_faults() > 0 and hub.cpu_seconds() >= 0


def test_the_nodes_of_one_hub_give_what_a_round_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """bench/nodes.py drives a hub of several nodes through bench/load.py's run_round, which reads
    the counters (CPU seconds, page faults) of whatever server it is given."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))  # bench/nodes.py imports `load` as a script does
    try:
        nodes = importlib.import_module("nodes")
        itself = nodes.Server("hub", "https://127.0.0.1:1", os.getpid(), None)
        hub = nodes.Nodes([itself, itself])
        alone = itself.page_faults()
        assert hub.page_faults() >= 2 * alone > 0  # this process faults on: its counts only grow
        assert hub.cpu_seconds() > 0
    finally:
        for name in ("nodes", "load"):  # the script-style names stay out of the other tests' way
            sys.modules.pop(name, None)
