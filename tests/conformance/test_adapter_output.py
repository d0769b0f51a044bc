"""What an adapter writes never breaks the kit: bytes that are not UTF-8, a flood of output, an
adapter that outlives its step with children of its own (conformance.protocol.call_adapter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance import protocol
from conformance.protocol import call_adapter

STEP = {"protocol": 1, "step": "login", "action": "login"}


def _adapter(tmp_path: Path, body: str) -> str:
    script = tmp_path / "adapter.sh"
    script.write_text("#!/bin/sh\ncat > /dev/null\n" + body)
    script.chmod(0o755)
    return str(script)


def test_output_that_is_not_utf8_is_said_not_a_traceback(tmp_path: Path) -> None:
    """A Japanese Windows tool writes Shift_JIS: `UnicodeDecodeError` came out of the kit."""
    shift_jis = json.dumps({"ok": False, "error": {"message": "送信に失敗しました"}}, ensure_ascii=False)
    (tmp_path / "out.bin").write_bytes(shift_jis.encode("cp932") + b"\n")
    answer = call_adapter(_adapter(tmp_path, f"cat {tmp_path / 'out.bin'}\n"), STEP, timeout=10)
    assert answer.result == {}
    assert "UTF-8" in answer.problem.ja and "UTF-8" in answer.problem.en, answer.problem


def test_a_result_after_bytes_that_are_not_utf8_still_counts(tmp_path: Path) -> None:
    (tmp_path / "out.bin").write_bytes(b"\xff\xfe log\n" + b'{"ok": true}\n')
    answer = call_adapter(_adapter(tmp_path, f"cat {tmp_path / 'out.bin'}\n"), STEP, timeout=10)
    assert answer.result == {"ok": True} and not answer.problem.ja


def test_a_flood_of_output_keeps_its_tail_and_the_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocol, "KEPT_BYTES", 4096)
    body = "head -c 3000000 /dev/zero | tr '\\000' 'x'\necho\necho '{\"ok\": true, \"transmission_id\": \"t1\"}'\n"
    answer = call_adapter(_adapter(tmp_path, body), STEP, timeout=30)
    assert answer.result == {"ok": True, "transmission_id": "t1"}, answer.problem


def test_a_flood_of_output_does_not_grow_the_kit(tmp_path: Path) -> None:
    """300 MB on stdout (an adapter logging in a loop): the kit held all of it (958 MB peak)."""
    adapter = _adapter(tmp_path, "head -c 300000000 /dev/zero | tr '\\000' 'x'\necho\necho '{\"ok\": true}'\n")
    probe = (
        "import json, resource, sys\n"
        "from conformance.protocol import call_adapter\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        f"answer = call_adapter({adapter!r}, {{'action': 'login'}}, timeout=60)\n"
        "grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before\n"
        "print(json.dumps({'result': answer.result, 'grown_kb': grown}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout)
    assert said["result"] == {"ok": True}
    assert said["grown_kb"] < 32 * 1024, said  # a few MB kept, never the 300 MB


def test_a_step_that_times_out_ends_the_adapters_children_too(tmp_path: Path) -> None:
    """The adapter started a child that holds its stdout and went on: the kit waited for it (run()
    reads to the end of the pipe after the kill), and left it running."""
    pid_file = tmp_path / "child.pid"
    body = f"sleep 300 &\necho $! > {pid_file}\nsleep 300\n"
    started = time.monotonic()
    answer = call_adapter(_adapter(tmp_path, body), STEP, timeout=1)
    assert answer.timed_out and time.monotonic() - started < 15
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the adapter's child was left running"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_stderr_keeps_its_last_characters(tmp_path: Path) -> None:
    answer = call_adapter(_adapter(tmp_path, "seq 1 5000 >&2\necho '{\"ok\": true}'\n"), STEP, timeout=10)
    assert answer.stderr.endswith("5000\n") and len(answer.stderr) <= 2000
    assert answer.exit_code == 0 and answer.result == {"ok": True}


def test_an_adapter_that_is_not_there_is_said(tmp_path: Path) -> None:
    answer = call_adapter(str(tmp_path / "missing-adapter"), STEP, timeout=5)
    assert "起動できません" in answer.problem.ja, answer.problem
    assert os.environ  # the kit's own environment is untouched


def test_an_adapter_that_never_reads_a_large_step_is_timed_out_not_a_hang(tmp_path: Path) -> None:
    """A step larger than a pipe holds, to an adapter that never reads stdin: the kit's write
    blocked with no timeout."""
    script = tmp_path / "deaf.sh"
    script.write_text("#!/bin/sh\nsleep 300\n")
    script.chmod(0o755)
    big = {**STEP, "files": ["/x" * 100] * 2000}  # ~400 KB of JSON
    started = time.monotonic()
    answer = call_adapter(str(script), big, timeout=1)
    assert answer.timed_out and time.monotonic() - started < 15
