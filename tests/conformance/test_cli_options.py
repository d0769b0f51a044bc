"""`careplan conformance` refuses bad options with one clear line and status 2."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_careplan


def test_bad_options_end_with_a_clear_message_and_status_2(tmp_path: Path) -> None:
    done = run_careplan(
        "conformance",
        "run",
        "--hub",
        "https://127.0.0.1:9",
        "--data",
        str(tmp_path),
        "--office",
        "1370100016",
        "--report",
        str(tmp_path / "r"),
    )
    assert (done.returncode, done.stderr.strip()) == (
        2,
        f"careplan conformance: {tmp_path} is not a hub's data folder (no ca/ca.pem)",
    )
    assert not (tmp_path / "admin-token").exists()
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / "ca.pem").write_text("")
    done = run_careplan(
        "conformance",
        "run",
        "--hub",
        "https://127.0.0.1:9",
        "--data",
        str(tmp_path),
        "--office",
        "1370100016",
        "--report",
        str(tmp_path / "r"),
        "--only",
        "nope",
    )
    assert (done.returncode, done.stderr.strip()) == (2, "careplan conformance: no step nope in the client suite")
    done = run_careplan("conformance", "csv", str(tmp_path / "missing"), "--report", str(tmp_path / "r"))
    assert done.returncode == 2 and "is not a folder" in done.stdout
