"""What bench/load.py reads of a server around each round (CPU time, minor page faults): right when
a worker exits and is restarted during the round, and readable for every kind of server it drives
(bench/nodes.py's hub of several nodes included)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_nodes_of_one_hub_give_what_a_round_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """bench/nodes.py drives a hub of several nodes through bench/load.py's run_round, which reads
    cpu_split and page_faults of whatever server it is given."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))  # bench/nodes.py imports `load` as a script does
    nodes = importlib.import_module("nodes")
    itself = nodes.Server("hub", "https://127.0.0.1:1", os.getpid(), None)
    hub = nodes.Nodes([itself, itself])
    assert hub.page_faults() == 2 * itself.page_faults() > 0
    assert hub.cpu_seconds() > 0
