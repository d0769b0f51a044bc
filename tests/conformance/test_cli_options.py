"""`careplan conformance` refuses bad options with one clear line and status 2."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import run_careplan


def _run(data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    hub = ("--hub", "https://127.0.0.1:9", "--data", str(data), "--office", "1370100016")
    return run_careplan("conformance", "run", *hub, "--report", str(data / "r"), *extra)


def test_bad_options_end_with_a_clear_message_and_status_2(tmp_path: Path) -> None:
    done = _run(tmp_path)
    message = f"careplan conformance: {tmp_path} is not a hub's data folder (no ca/ca.pem)"
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1] == message
    assert "ハブのデータディレクトリではありません" in done.stderr.splitlines()[0]  # Japanese first
    assert not (tmp_path / "admin-token").exists()
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / "ca.pem").write_text("")
    done = _run(tmp_path, "--only", "nope")
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "careplan conformance: client スイートに手順 nope はありません / no step nope in the client suite",
    )
    done = run_careplan("conformance", "csv", str(tmp_path / "missing"), "--report", str(tmp_path / "r"))
    assert done.returncode == 2 and "is not a folder" in done.stderr and "フォルダではありません" in done.stderr
