"""The adapter protocol: one step as JSON on the adapter's stdin, its result as JSON on stdout.

An adapter is any command that drives the client under test. For each step the kit runs it once,
writes one JSON object to its stdin and closes it, and reads one JSON object from its stdout
(anything before the last line that parses is ignored, so an adapter may log to stdout; logs
belong on stderr). The adapter exits when the step is done; a step that takes longer than the step
timeout is killed and judged on what the hub saw.

Step (stdin), protocol 1 — every step has `protocol`, `step`, `action`, `hub`, `office`, `workdir`
and `instruction` ({"ja": …, "en": …}); each action adds:
    login      —                                 log in with the office's installed certificate
    send       to, files: [absolute paths]       send exactly these files to office `to`
    bulk_send  files: [absolute paths]           一括送信: let the client sort and send them
    download   out: folder                       download everything waiting, verify, acknowledge
    send_list  —                                 show the send list with download status
Result (stdout):
    {"ok": true|false,
     "error": {"code": …, "message": …},         on a refusal: the code and the exact message shown
     "transmission_id": …,                        send: the id the client used
     "sent": [ids], "failed": [{"files": [...], "error": {...}}],         bulk_send
     "downloaded": [ids], "refused": [{"transmission_id": …, "error": {...}}],   download
     "transmissions": [{"transmission_id": …, "status": "未ダウンロード"|"ダウンロード済"}],  send_list
     "unsupported": true}                         the adapter does not implement this action
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import IO, Any, TextIO

from conformance.wording import NOTHING, Said

PROTOCOL = 1
ACTIONS = ("login", "send", "bulk_send", "download", "send_list")


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """What came back from the adapter (or the person) for one step."""

    result: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None
    timed_out: bool = False
    stderr: str = ""
    problem: Said = NOTHING  # why no result could be read, in words for the report
    duration: float = 0.0

    @property
    def unsupported(self) -> bool:
        return bool(self.result.get("unsupported"))

    def error(self) -> dict[str, Any]:
        error = self.result.get("error")
        return error if isinstance(error, dict) else {}


def _last_json_object(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    try:
        whole = json.loads(text)
    except ValueError:
        return None
    return whole if isinstance(whole, dict) else None


_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def adapter_words(command: str) -> tuple[list[str], dict[str, str]]:
    """The adapter's command split as a shell would, and the `NAME=value` words before it, which a
    shell would put in its environment (`CAREPLAN_PASSWORD=… adapter …`): the kit runs no shell."""
    words = shlex.split(command)
    assigned: dict[str, str] = {}
    while len(words) > 1 and _ASSIGNMENT.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        assigned[name] = value
    return words, assigned


KEPT_BYTES = 4 * 1024 * 1024  # the tail of stdout kept: the result is its last JSON line
STDERR_CHARS = 2000  # the end of stderr kept for the report
NOT_UTF8 = Said(
    "アダプタの出力が UTF-8 ではありません（Shift_JIS など）。結果の JSON は UTF-8 で書き出してください",
    "the adapter's output is not UTF-8 (Shift_JIS?): write the result JSON in UTF-8",
)


class _Tail:
    """The last `limit` bytes (and a little more) a stream wrote, read to its end in a thread: an
    adapter that floods its output never grows the kit by more than that."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self.limit = limit
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        with stream:
            while chunk := stream.read1(65536):  # type: ignore[attr-defined]  # what the pipe holds now
                self.chunks.append(chunk)
                self.size += len(chunk)
                while self.size - len(self.chunks[0]) >= self.limit:
                    self.size -= len(self.chunks.popleft())

    def data(self) -> bytes:
        return b"".join(self.chunks)[-self.limit :]


def _result(data: bytes) -> tuple[dict[str, Any] | None, bool]:
    """The result JSON in stdout's lines that are UTF-8, and whether some line was not (such a line
    is never read as a result: its text would be replacement characters)."""
    lines: list[str] = []
    not_utf8 = False
    for raw in data.splitlines():
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            not_utf8 = True
    return _last_json_object("\n".join(lines)), not_utf8


def _give(stdin: IO[bytes] | None, step: dict[str, Any]) -> None:
    """Write the step to the adapter's stdin and close it; an adapter that exits (or closes its
    stdin) without reading it is judged on what it did."""
    if stdin is None:
        return
    with contextlib.suppress(OSError), stdin:
        stdin.write(json.dumps(step, ensure_ascii=False).encode())


def _end_group(process: subprocess.Popen[bytes]) -> None:
    """End the adapter and every process it started in its session (a child left holding its
    stdout kept the kit waiting, and running, after the step). Called only while the group has a
    member (the adapter not yet reaped, or a child still holding a pipe)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def call_adapter(command: str, step: dict[str, Any], *, timeout: float, env: dict[str, str] | None = None) -> Answer:
    """Run the adapter once for `step`; never raises for what the adapter does (bytes that are not
    UTF-8, a flood of output, children that outlive it), and ends what it started."""
    started = time.perf_counter()
    words, assigned = adapter_words(command)
    try:
        process = subprocess.Popen(
            words,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **assigned, **(env or {})},
            start_new_session=True,  # its own process group: ended whole (`_end_group`)
        )
    except OSError as exc:
        return Answer(
            problem=Said(f"アダプタを起動できませんでした: {exc}", f"the adapter could not be started: {exc}"),
            duration=time.perf_counter() - started,
        )
    out, err = _Tail(process.stdout, KEPT_BYTES), _Tail(process.stderr, 4 * STDERR_CHARS)  # type: ignore[arg-type]
    writer = threading.Thread(target=_give, args=(process.stdin, step), daemon=True)
    writer.start()  # in a thread: an adapter that never reads its step cannot hold the kit
    deadline = time.monotonic() + timeout
    timed_out = False
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    for tail in (out, err):  # to the end of its output; a child still holding it is ended with it
        tail.thread.join(max(0.0, deadline - time.monotonic()))
    if timed_out or out.thread.is_alive() or err.thread.is_alive():  # the group still has members:
        _end_group(process)  # its id cannot have gone to another process
        for tail in (out, err):
            tail.thread.join(5)
    printed = out.data()
    result, not_utf8 = _result(printed)
    duration = time.perf_counter() - started
    stderr = err.data().decode("utf-8", errors="replace")[-STDERR_CHARS:]
    if timed_out:
        return Answer(
            result=result or {},
            timed_out=True,
            stderr=stderr,
            problem=Said(
                f"アダプタが {timeout:g} 秒以内に終わりませんでした", f"the adapter did not finish within {timeout:g} s"
            ),
            duration=duration,
        )
    problem = NOTHING
    if result is None and not_utf8:
        problem = NOT_UTF8
    elif result is None and not printed.strip():
        problem = Said("アダプタが結果の JSON を書き出しませんでした", "the adapter wrote no result JSON")
    elif result is None:
        problem = Said("アダプタの出力が JSON ではありません", "the adapter's output is not JSON")
    return Answer(
        result=result or {},
        exit_code=process.returncode,
        stderr=stderr,
        problem=problem,
        duration=duration,
    )


def ask_person(step: dict[str, Any], *, timeout: float, lang: str, out: TextIO = sys.stdout) -> Answer:
    """No adapter: show the instruction, wait (up to `timeout`) for the person to press Enter after
    acting; what they type (the message their client showed, or a transmission id) is kept."""
    started = time.perf_counter()
    prompt = {
        "ja": "操作が終わったら Enter（表示されたメッセージがあれば貼り付けてから）",
        "en": "Press Enter when done (paste the message shown first, if any)",
    }
    labels = {"to": "送信先 / to", "out": "保存先 / out", "files": "ファイル / files"}
    print(f"\n[{step['step']}] {step['instruction'][lang]}", file=out)
    for key in ("to", "out"):
        if key in step:
            print(f"  {labels[key]}: {step[key]}", file=out)
    if step.get("files"):
        print(f"  {labels['files']}:", file=out)
    for path in step.get("files", []):
        print(f"  - {path}", file=out)
    seconds = f"{timeout:g} 秒" if lang == "ja" else f"{timeout:g} s"
    print(f"  ({prompt.get(lang, prompt['en'])}; {seconds})", file=out, flush=True)
    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    if not ready:
        nobody = Said("ステップの制限時間内に誰も応答しませんでした", "no one answered within the step timeout")
        return Answer(timed_out=True, problem=nobody, duration=timeout)
    text = sys.stdin.readline().strip()
    result: dict[str, Any] = {"manual": True, "text": text}
    if text:
        result["error"] = {"message": text}
    return Answer(result=result, duration=time.perf_counter() - started)
