"""`careplan scenarios run --hub URL --data DIR`: library scenarios against a hub running in another
process (`careplan up`), twice against the same hub without 事業所番号 collisions."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scenarios.loader import LIBRARY
from tests.conftest import run_careplan

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def running_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("remote-hub")
    data = root / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "careplan_cli.main", "up", "--data", str(data), "--port", "0"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (data / "hub.json").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"careplan up did not start: {process.communicate()[0]}")
        time.sleep(0.05)
    yield json.loads((data / "hub.json").read_text())["url"], data
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=20)[0]
    assert process.returncode == 0, output


def _run(hub: tuple[str, Path], *names: str) -> subprocess.CompletedProcess[str]:
    url, data = hub
    paths = [str(LIBRARY / n) for n in names]
    return run_careplan("scenarios", "run", *paths, "--hub", url, "--data", str(data), "-v", timeout=300)


def test_library_scenarios_pass_against_a_running_hub_twice(running_hub: tuple[str, Path]) -> None:
    first = _run(running_hub, "download-tracking.yaml", "licensing.yaml", "impersonation.yaml")
    assert first.returncode == 0, first.stdout + first.stderr
    assert " 0 failed" in first.stdout and first.stdout.count("PASS ") >= 3, first.stdout
    again = _run(running_hub, "download-tracking.yaml")  # same labels, same hub: no OFFICE_EXISTS
    assert again.returncode == 0, again.stdout + again.stderr


def test_hub_and_data_go_together(tmp_path: Path) -> None:
    done = run_careplan("scenarios", "run", str(LIBRARY / "licensing.yaml"), "--hub", "https://127.0.0.1:1")
    assert done.returncode == 2
    assert "--hub URL and --data DIR go together" in done.stderr
