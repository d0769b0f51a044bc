"""`careplan up`'s summary with stdout not a terminal (piped to a file or `| cat`): every line fits
80 columns whatever $COLUMNS says, and what a user copies from it stays whole — each URL on one
line, the data directory and every office number present, each suggested command one shell command
once its ` \\` continuations are joined (careplan_cli.up)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.cells import cell_len

from careplan_cli.up import WIDTH, _console, _pair, _shell, login_args

pytestmark = pytest.mark.slow


def _summary(root: Path, data: str) -> tuple[str, str]:
    """`careplan up --data DATA --port 0` run in `root` with stdout a pipe: (its URL, its stdout)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "careplan_cli.main", "up", "--data", data, "--port", "0"],
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},  # a wide terminal's; the summary still keeps to 80
    )
    ready, deadline = root / data / "hub.json", time.monotonic() + 60
    try:
        while not ready.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"careplan up did not start: {process.communicate(timeout=20)}")
            time.sleep(0.05)
        url = str(json.loads(ready.read_text("utf-8"))["url"])
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    return url, out


def _commands(lines: list[str]) -> list[list[str]]:
    """The suggested commands as a shell reads them: ` \\` + newline continues a line."""
    start = lines.index("Try it from another shell (copy and paste):") + 1
    block = "\n".join(lines[start : lines.index("", start)]).replace("\\\n", "")
    return [shlex.split(command, comments=True) for command in block.splitlines()]


def test_the_summary_fits_80_columns_and_stays_copyable(tmp_path: Path) -> None:
    url, out = _summary(tmp_path, "training-data")
    lines = out.splitlines()
    assert all(cell_len(line) <= WIDTH for line in lines), max(lines, key=cell_len)

    words = {word for line in lines for word in line.split()}
    for path in ("/", "/web/", "/directory", "/api", "/openapi.yaml", "/healthz", "/trust"):
        assert f"{url}{path}" in words, f"{url}{path} whole on a line"
    assert any(word.startswith(f"{url}/dashboard?passcode=") for word in words)
    assert {"training-data", "training-data/ca/ca.pem", "training-data/demo/offices.json"} <= words
    offices = json.loads((tmp_path / "training-data" / "demo" / "offices.json").read_text("utf-8"))
    for profile, office in offices.items():
        assert {profile, office["office_number"], office["user"], office["password"]} <= words
        assert {f"{profile}.p12", office["p12_password"]} <= words

    ca, kyotaku, houmon = Path("training-data/ca/ca.pem"), offices["kyotaku"], offices["houmon"]
    commands = [command[1:] for command in _commands(lines)]  # after the program's own path
    assert commands == [
        ["client", "--profile", "kyotaku", *login_args(url, ca, kyotaku)],
        ["client", "--profile", "kyotaku", "send", "--to", houmon["office_number"], "training-data/demo/samples/*.CSV"],
        ["client", "--profile", "houmon", *login_args(url, ca, houmon)],
        ["client", "--profile", "houmon", "inbox"],
        ["client", "--profile", "houmon", "download", "--all", "--out", "received"],
        ["client", "--profile", "kyotaku", "sent"],
    ]


def test_long_values_move_below_their_label_whole() -> None:
    url = "https://careplan-hub.training.example.jp:8443/dashboard?passcode=12345678"
    assert _pair("ダッシュボード（講師用パスコード 12345678）", url, WIDTH) == [
        "  ダッシュボード（講師用パスコード 12345678）",
        f"    {url}",
    ]
    assert _pair("OpenAPI", "https://127.0.0.1:8443/openapi.yaml", WIDTH) == [
        "  OpenAPI" + " " * 31 + "https://127.0.0.1:8443/openapi.yaml"
    ]


@pytest.mark.parametrize("width", [80, 60])
def test_commands_wrap_between_words_and_paste_back_whole(width: int) -> None:
    args = [
        "careplan", "client", "--profile", "kyotaku", "login", "--hub", "https://127.0.0.1:8443",
        "--ca", "/home/trainer/研修 2026/.careplan-sim/ca/ca.pem", "--p12", "/srv/careplan/demo/kyotaku.p12",
        "--p12-password", "p'w d", "--user", "KJ1370100016", "--password", "x" * 70,
    ]  # fmt: skip
    lines = _shell(args, width)
    assert len(lines) > 1 and all(line.endswith(" \\") for line in lines[:-1])
    assert all(cell_len(line) <= width for line in lines if "x" * 70 not in line), "only an over-wide word"
    assert shlex.split("\n".join(lines).replace("\\\n", "")) == args
    assert "--p12 /srv/careplan/demo/kyotaku.p12" in "\n".join(lines), "an option beside its value"
    glob = _shell(["careplan", "send", "--to", "1370100024", "/tmp/a b/samples"], width, "/*.CSV")
    assert glob[-1].endswith("'/tmp/a b/samples'/*.CSV"), "the glob stays outside the quotes"


@pytest.mark.parametrize(("columns", "width"), [("200", WIDTH), ("60", 60)])
def test_the_console_takes_columns_up_to_80(monkeypatch: pytest.MonkeyPatch, columns: str, width: int) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    assert _console().width == width
