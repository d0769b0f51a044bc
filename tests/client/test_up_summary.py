"""`careplan up`'s summary with stdout not a terminal (piped to a file or `| cat`): every line fits
80 columns whatever $COLUMNS says, and what a user copies from it stays whole — each URL on one
line, the data directory and every office number present, each suggested command one shell command
once its ` \\` continuations are joined (careplan_cli.up)."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.cells import cell_len

from careplan_cli.up import WIDTH, _console, _shell, login_args
from hub.banner import STARTED, listening_lines, pair
from hub.config import HubConfig
from tests.conftest import careplan_up, run_careplan, this_checkout

pytestmark = pytest.mark.slow


def _summary(root: Path, data: str, *command: str) -> tuple[str, str]:
    """`careplan up --data DATA --port 0` (or `command`, e.g. `hub --data DATA serve --port 0`) run in
    `root` with stdout a pipe, until it is ready: (its URL, its stdout)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "careplan_cli.main", *(command or ("up", "--data", data)), "--port", "0"],
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**this_checkout(), "COLUMNS": "200"},  # a wide terminal's; the summary still keeps to 80
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
    japanese = lines.index("別のシェルで試すには、次を貼り付けてください:")
    assert lines[japanese + 1] == "Try it from another shell (copy and paste):"  # Japanese first
    start = japanese + 2
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
    programs = {tuple(command[: command.index("client")]) for command in _commands(lines)}
    assert programs == {(sys.executable, "-m", "careplan_cli.main")}, "runnable as it was started (python -m)"
    commands = [command[command.index("client") :] for command in _commands(lines)]  # after the program
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
    assert pair("ダッシュボード（講師用パスコード 12345678）", url, WIDTH) == [
        "  ダッシュボード（講師用パスコード 12345678）",
        f"    {url}",
    ]
    assert pair("OpenAPI", "https://127.0.0.1:8443/openapi.yaml", WIDTH) == [
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


LONG = "研修/2026年度/ケアプラン体験講座（訪問介護）/data"  # 47 cells: too long for one line with the URL


def test_start_up_lines_fit_80_columns_with_a_long_data_path(tmp_path: Path) -> None:
    """`careplan up`, then `careplan hub serve` on the same long data directory: every line of
    both within 80 columns, the URL and the path each whole on a line (it was one 130-cell line)."""
    url, out = _summary(tmp_path, LONG)
    served_url, served = _summary(tmp_path, LONG, "hub", "--data", LONG, "serve")
    for text, where in ((out, url), (served, served_url)):
        lines = text.splitlines()
        assert all(cell_len(line) <= WIDTH for line in lines), max(lines, key=cell_len)
        assert f"hub listening on {where}; Ctrl-C stops it" in lines
        assert f"    {LONG}" in lines or f"  data        {LONG}" in lines


def test_listening_lines_keep_the_short_form_and_hide_the_database_password() -> None:
    short = HubConfig(data_dir=Path(".careplan-sim"), port=8443)
    assert listening_lines("https://127.0.0.1:8443", short) == [
        "ハブが待ち受けを始めました。止めるには Ctrl-C を押してください。",
        "hub listening on https://127.0.0.1:8443 (data: .careplan-sim); Ctrl-C stops it",
    ]
    database = "postgresql://careplan:s3cret@db.training.example.jp:5432/careplan_training_2026"
    config = HubConfig(data_dir=Path("/srv") / LONG, port=8443, database_url=database)
    lines = listening_lines("https://[::1]:8443", config, workers=4)
    assert lines[:2] == [STARTED, "hub listening on https://[::1]:8443 with 4 workers; Ctrl-C stops it"]
    assert all(cell_len(line) <= WIDTH for line in lines) and "s3cret" not in "\n".join(lines)
    assert f"  data        /srv/{LONG}" in lines  # beside its label where it fits, else below it, whole
    assert lines[-2:] == [
        "  database",
        "    postgresql://careplan:***@db.training.example.jp:5432/careplan_training_2026",
    ]


def test_serve_on_a_data_directory_without_its_files_lists_each_missing_path_whole(tmp_path: Path) -> None:
    data = tmp_path / LONG
    done = run_careplan("hub", "--data", str(data), "serve", "--port", "0")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert {f"  {data / 'ca' / 'ca.pem'}", f"  {data / 'tls' / 'hub.pem'}"} <= set(lines)
    assert "run `careplan up` once to create the CA, the hub's TLS certificate and demo offices" in lines


def test_the_commands_to_paste_run_careplan_as_it_was_started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Started as `python -m careplan_cli.main up`, argv[0] is main.py, which a shell cannot run:
    the summary's commands then start with this interpreter and `-m careplan_cli.main`."""
    from careplan_cli import up

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(up.sys, "argv", [str(Path(up.__file__).with_name("main.py")), "up"])
    assert up._command() == [sys.executable, "-m", "careplan_cli.main"]
    script = tmp_path / "bin" / "careplan"
    monkeypatch.setattr(up.sys, "argv", [str(script), "up"])
    assert up._command() == ["bin/careplan"]  # a script below the working directory: its short path


@pytest.mark.parametrize("text", ["[1, 2", "[1, 2]", '{"kyotaku": 5}'])
def test_a_damaged_record_of_the_demo_credentials_is_named_not_an_unexpected_error(tmp_path: Path, text: str) -> None:
    """demo/offices.json cut short or edited: `careplan up` ended in exit 70 'unexpected error …
    JSONDecodeError'; now the file, why, and what to do, as for the data directory's other files."""
    with careplan_up(tmp_path):
        pass
    record = tmp_path / "data" / "demo" / "offices.json"
    record.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "careplan_cli.main", "up", "--data", str(tmp_path / "data"), "--port", "0"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=this_checkout(), check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert "データディレクトリのファイルを使えません" in lines[0] and f"  {record}" in lines
    said = "".join(done.stderr.split())
    assert "想定外" not in said and "careplanhubreset" in said, done.stderr
    assert not (tmp_path / "data" / "hub.json").exists()
