"""`careplan scenarios run --hub URL --data DIR`: library scenarios against a hub running in another
process (`careplan up`), twice against the same hub without 事業所番号 collisions."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from scenarios.loader import LIBRARY
from tests.conftest import careplan_up, run_careplan

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def running_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    with careplan_up(tmp_path_factory.mktemp("remote-hub")) as (url, data, _):
        yield url, data


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
