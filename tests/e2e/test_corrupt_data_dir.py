"""A data directory the hub cannot use: `careplan hub serve` (one process or a supervisor with
workers) and `careplan up` end with exit status 2 and a message naming the file, why (no content)
and what to do, in Japanese and English within 80 columns — never a traceback (hub.datadir)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.cells import cell_len

from hub import datadir
from tests.conftest import Pki, prepare_data_dir, run_careplan

pytestmark = pytest.mark.slow


def _own_ca(data: Path) -> None:
    """A copy of the shared test CA (prepare_data_dir links it), so that it can be broken here."""
    shared = (data / "ca").resolve()
    (data / "ca").unlink()
    shutil.copytree(shared, data / "ca")


def _junk(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"SQLite format 2\x00 this is no database, no PEM and no JSON\n" * 40)


BREAKS: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "payload keys not JSON": (lambda d: _junk(d / "keys" / "payload-keys.json"), "keys/payload-keys.json", "KEYS_LOST"),
    "payload keys without a key": (
        lambda d: (d / "keys").mkdir() or (d / "keys" / "payload-keys.json").write_text('[{"id": "a"}]'),
        "keys/payload-keys.json",
        "KEYS_LOST",
    ),
    "hub.sqlite3 not a database": (lambda d: _junk(d / "hub.sqlite3"), "hub.sqlite3", "FROM_BACKUP"),
    "control.sqlite3 not a database": (lambda d: _junk(d / "control.sqlite3"), "control.sqlite3", "FROM_BACKUP"),
    "TLS certificate not PEM": (lambda d: _junk(d / "tls" / "hub.pem"), "tls/hub.pem", "TLS_AGAIN"),
    "CA certificate not PEM": (lambda d: _own_ca(d) or _junk(d / "ca" / "ca.pem"), "ca/ca.pem", "CA_LOST"),
    "admin-token a folder": (
        lambda d: (d / "admin-token").unlink() or (d / "admin-token").mkdir(),
        "admin-token",
        "CANNOT_OPEN",
    ),
    "payloads a file": (lambda d: (d / "payloads").write_text("x"), "payloads", "CANNOT_OPEN"),
}


def _fix(kind: str) -> tuple[str, str]:
    return str(getattr(datadir, f"{kind}_JA")), str(getattr(datadir, f"{kind}_EN"))


def _check(done: subprocess.CompletedProcess[str], data: Path, name: str, kind: str, program: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output, output
    lines = done.stderr.splitlines()
    assert lines[0] == f"{program}: データディレクトリのファイルを使えません", output
    assert f"  {data / name}" in lines, output
    fix_ja, fix_en = _fix(kind)
    text = " ".join(line.strip() for line in lines)
    assert fix_ja.replace(" ", "") in text.replace(" ", "") and fix_en.split()[0] in text, output
    assert all(cell_len(line) <= 80 for line in lines if str(data) not in line), output
    assert not (data / "hub.json").exists()


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_hub_serve_names_the_file_and_what_to_do(tmp_path: Path, pki: Pki, case: str) -> None:
    data = tmp_path / "data"
    prepare_data_dir(data, pki)
    breaks, name, kind = BREAKS[case]
    breaks(data)
    done = run_careplan("hub", "--data", str(data), "serve", "--port", "0", cwd=tmp_path, timeout=60)
    _check(done, data, name, kind, "careplan hub serve")


@pytest.mark.parametrize("case", ["TLS certificate not PEM", "hub.sqlite3 not a database"])
def test_with_workers_it_is_one_message_before_any_worker_starts(tmp_path: Path, pki: Pki, case: str) -> None:
    data = tmp_path / "data"
    prepare_data_dir(data, pki)
    breaks, name, kind = BREAKS[case]
    breaks(data)
    done = run_careplan("hub", "--data", str(data), "serve", "--port", "0", "--workers", "2", cwd=tmp_path)
    _check(done, data, name, kind, "careplan hub serve")
    assert done.stderr.count("データディレクトリのファイルを使えません") == 1


def test_careplan_up_names_the_file_too(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _junk(data / "hub.sqlite3")
    os.chmod(data, 0o700)
    done = run_careplan("up", "--data", str(data), "--port", "0", cwd=tmp_path, timeout=120)
    _check(done, data, "hub.sqlite3", "FROM_BACKUP", "careplan up")
