"""`careplan load` against a test hub: small, bounded in count and time, every operation of the
month-start mix, refusals counted by code, the CLI's report and exit status."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from careplan.errors import CareplanError, Operation
from careplan_cli.load import WIDTH, Target, exit_status, run_load, show
from client.hubclient import HubClient
from client.load import LoadPlan, LoadRun, Report, Unit, Workload, parse_mix, percentile
from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, MISHINSEI, HubUnderTest, Pki, run_careplan


@contextlib.asynccontextmanager
async def _terminals(hub: HubUnderTest) -> AsyncIterator[dict[str, HubClient]]:
    async with hub.client(KYOTAKU) as kyotaku, hub.client(HOUMON) as houmon:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await houmon.login(HOUMON.user, HOUMON.password)
        yield {KYOTAKU.number: kyotaku, HOUMON.number: houmon}


def _unit(recipient: str) -> Unit:
    files = tuple(sample_plan_set(sender=KYOTAKU.number, recipient=recipient).items())
    return Unit(sender=KYOTAKU.number, recipient=recipient, files=files)


async def test_seeded_offices_run_the_month_start_mix(hub: HubUnderTest) -> None:
    before = await hub.transmission_count()
    even = parse_mix("send=1,bulk=1,download=1,list=1")  # each operation surely drawn in 40
    plan = LoadPlan(count=40, duration=60, concurrency=4, mix=even, seed=3)
    done: list[int] = []
    report = (await run_load(Target.of(hub.config.data_dir, hub.url), plan, offices=4, on_done=done.append)).to_json()
    assert report["operations_done"] == 40 == len(done)
    assert report["errors"] == 0, report["errors_by_code"]
    assert set(report["by_operation"]) == {"send", "bulk", "download", "list"}
    for operation in report["by_operation"].values():
        assert 0 < operation["p50_ms"] <= operation["p99_ms"]
    sends = report["by_operation"]["send"]["ok"]
    assert await hub.transmission_count() - before >= sends  # bulk sends add more
    # a second run with the same seed reuses the registered offices
    again = await run_load(Target.of(hub.config.data_dir, hub.url), LoadPlan(count=5, seed=3), offices=4)
    assert again.to_json()["errors"] == 0


async def test_refusals_are_counted_by_code_and_the_run_goes_on(hub: HubUnderTest) -> None:
    workload = Workload(units=(_unit(HOUMON.number), _unit(MISHINSEI.number)), bulk={})
    plan = LoadPlan(count=30, duration=60, concurrency=3, mix=parse_mix("send=1"), seed=5)
    async with _terminals(hub) as terminals:
        report = (await LoadRun(terminals, workload, plan).run()).to_json()
    refused = report["errors_by_code"].get("RECIPIENT_NOT_LICENSED", 0)
    assert refused > 0 and report["by_operation"]["send"]["ok"] > 0
    assert report["errors"] == refused and report["operations_done"] == 30
    message = CareplanError("RECIPIENT_NOT_LICENSED", operation=Operation.SEND).message
    assert report["error_messages"] == {"RECIPIENT_NOT_LICENSED": message}  # what the office reads
    assert report["stopped"] == "count" and report["plan"]["concurrency"] == 3

    # The report for people keeps to 80 columns (Japanese counts 2), the message whole across lines.
    buffer = io.StringIO()
    show({"hub": hub.url, **report}, Console(file=buffer, width=WIDTH, highlight=False))
    lines = buffer.getvalue().splitlines()
    assert all(cell_len(line) <= WIDTH for line in lines), max(lines, key=cell_len)
    assert message in "".join(line.strip() for line in lines), "the catalogue's message, wrapped, not cut"
    assert f"  RECIPIENT_NOT_LICENSED  {refused}件" in lines
    assert any("件数に到達" in line for line in lines)


async def test_a_run_stops_at_its_duration(hub: HubUnderTest) -> None:
    workload = Workload(units=(_unit(HOUMON.number),), bulk={})
    plan = LoadPlan(count=100_000, duration=0.5, rate=20, seed=1)
    async with _terminals(hub) as terminals:
        report = await asyncio.wait_for(LoadRun(terminals, workload, plan).run(), timeout=30)
    assert 0 < report.done < 100 and report.elapsed < 10


def test_plans_and_mixes_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="either"):
        LoadPlan(concurrency=2, rate=3.0)
    with pytest.raises(ValueError, match="unknown operation"):
        parse_mix("send=1,upload=2")
    with pytest.raises(ValueError, match="one positive"):
        LoadPlan(mix=parse_mix("send=0"))
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3.0
    assert percentile([float(i) for i in range(1, 101)], 0.99) == 99.0
    assert percentile([], 0.5) == 0.0


@pytest.mark.slow
async def test_the_cli_reports_json_and_exit_status(hub: HubUnderTest) -> None:
    data = str(hub.config.data_dir)
    done = await asyncio.to_thread(
        run_careplan, "load", "--data", data, "--offices", "4", "--count", "12", "--concurrency", "3", "--json"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["operations_done"] == 12 and report["errors"] == 0
    table = await asyncio.to_thread(run_careplan, "load", "--data", data, "--offices", "4", "--count", "4")
    assert table.returncode == 0 and "load report" in table.stdout
    piped = table.stdout + table.stderr  # not a terminal: no progress bar drawn into a log
    assert "\x1b" not in piped and "\r" not in piped and table.stderr == ""
    assert all(cell_len(line) <= WIDTH for line in table.stdout.splitlines())
    unreachable = await asyncio.to_thread(run_careplan, "load", "--data", data, "--hub", "https://127.0.0.1:9")
    assert unreachable.returncode == 3 and "HUB_UNREACHABLE" in unreachable.stderr
    assert "https://127.0.0.1:9 に接続できません（Cannot connect" in unreachable.stderr
    assert "ConnectionKey(" not in unreachable.stderr


@pytest.mark.slow
async def test_ctrl_c_stops_the_run_and_still_reports(hub: HubUnderTest) -> None:
    """SIGINT mid-run: no traceback, the report of what was done (marked interrupted), exit 130."""
    before = await hub.transmission_count()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "careplan_cli.main", "load", "--data", str(hub.config.data_dir), "--hub", hub.url,
        "--offices", "4", "--concurrency", "2", "--count", "100000", "--duration", "60", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    try:
        while await hub.transmission_count() - before < 3:  # the run is under way
            assert process.returncode is None and time.monotonic() < deadline, "the load run did not start"
            await asyncio.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 130, err.decode()
    assert b"Traceback" not in err and "中断しました" in err.decode()
    report = json.loads(out)
    assert report["stopped"] == "interrupted" and 0 < report["operations_done"] < 100000
    assert report["errors"] == 0, report["errors_by_code"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--count", "0"], "1以上の整数ではありません"),
        (["--concurrency", "x"], "'x' is not a whole number"),
        (["--duration", "nan"], "0.001以上の数ではありません"),
        (["--offices", "1"], "2〜1000の整数"),
        (["--data", "/nonexistent/careplan"], "ハブのデータディレクトリではありません"),
        (["--mix", "send=abc"], "send の重み 'abc' が数ではありません"),
    ],
)
def test_usage_errors_are_clear_and_never_a_traceback(args: list[str], said: str) -> None:
    done = run_careplan("load", *args, env={"COLUMNS": "80"})
    assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr
    assert all(cell_len(line) <= WIDTH for line in done.stderr.splitlines()), done.stderr  # ja, then en


@pytest.mark.parametrize("has_ca", [False, True], ids=["empty folder", "CA without admin-token"])
def test_a_folder_that_is_no_hubs_data_gets_the_message_the_other_hub_commands_give(
    tmp_path: Path, pki: Pki, has_ca: bool
) -> None:
    """As `careplan demo|scenarios|conformance --hub` say it (hub.cli.not_hub_data), naming also the
    admin token a load run reads; it was its own two sentences with the folder's path inside them."""
    folder = tmp_path / "typo"
    if has_ca:
        folder.mkdir()
        (folder / "ca").symlink_to(pki.ca.directory)
    done = run_careplan("load", "--data", str(folder), env={"COLUMNS": "80"})
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines() == [
        "careplan load: ハブのデータディレクトリではありません",
        "  not a hub's data directory",
        f"  {folder}",  # whole on its own line, to compare with what was typed
        "  見つからないファイル / missing: " + ("admin-token" if has_ca else "ca/ca.pem, admin-token"),
        "  careplan up の --data に渡したフォルダを指定してください。",
        "  Give the folder that careplan up was given with --data.",
    ]


def test_no_hub_announced_and_no_hub_url_is_said_as_the_folder_messages_are(tmp_path: Path, pki: Pki) -> None:
    """A hub's folder with no hub.json (no hub running) and no --hub: it was two sentences with the
    path of hub.json inside the Japanese one (folded mid-sentence at 80 columns). Now the layout of
    hub.cli.not_hub_data: Japanese first, the path whole on its own line, then the fix."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "ca").symlink_to(pki.ca.directory)
    (folder / "admin-token").write_text("t")
    done = run_careplan("load", "--data", str(folder), env={"COLUMNS": "80"})
    assert done.returncode == 2 and done.stderr.splitlines() == [
        "careplan load: 動いているハブが見つかりません",
        "  no running hub announced",
        f"  {folder / 'hub.json'}",
        "  見つからないファイル / missing: hub.json",
        "  careplan up でハブを起動するか、--hub でその URL を指定してください。",
        "  Start the hub with careplan up, or give its URL with --hub.",
    ], done.stderr
    assert all(cell_len(line) <= WIDTH for line in done.stderr.splitlines()[:2] + done.stderr.splitlines()[3:])


def test_help_names_the_bounds_and_the_exit_status() -> None:
    shown = run_careplan("load", "--help", env={"COLUMNS": "80"}).stdout
    assert "Ctrl-C" in shown and "130  Ctrl-C で中断" in shown and "3    ハブに接続できない" in shown
    assert all(cell_len(line) <= WIDTH for line in shown.splitlines()), max(shown.splitlines(), key=cell_len)


@pytest.mark.parametrize(
    ("stopped", "errors", "status"),
    [
        ("count", {}, 0),
        ("duration", {"RECIPIENT_NOT_LICENSED": 2}, 1),
        ("duration", {"RECIPIENT_NOT_LICENSED": 2, "HUB_UNREACHABLE": 1}, 3),  # the hub went away mid-run
        ("interrupted", {"HUB_UNREACHABLE": 1}, 130),
    ],
)
def test_exit_status_says_how_the_run_went(stopped: str, errors: dict[str, int], status: int) -> None:
    assert exit_status({"stopped": stopped, "errors": sum(errors.values()), "errors_by_code": errors}) == status


class _SlowTerminal:
    """A terminal whose every send takes `seconds` (a hub under strain), for stopping a run."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def send(self, files: object, *, to: str) -> dict[str, str]:
        await asyncio.sleep(self.seconds)
        return {"transmission_id": "0" * 32}


async def _stopped(seconds: float, stops: int, rate: float | None = None) -> Report:
    workload = Workload(units=(_unit(HOUMON.number),), bulk={})
    pace = {"rate": rate} if rate else {"concurrency": 2}
    plan = LoadPlan(count=1000, duration=60, mix=parse_mix("send=1"), seed=1, **pace)  # type: ignore[arg-type]
    run = LoadRun({KYOTAKU.number: _SlowTerminal(seconds)}, workload, plan)  # type: ignore[dict-item]
    running = asyncio.create_task(run.run())
    await asyncio.sleep(0.05)  # both workers are in a send
    for _ in range(stops):
        run.stop()
    return await asyncio.wait_for(running, timeout=10)


async def test_one_stop_lets_operations_in_flight_finish_a_second_cancels_them() -> None:
    finished = await _stopped(0.2, stops=1)
    assert finished.stopped == "interrupted" and finished.done == 2 and finished.cancelled == 0
    cancelled = await _stopped(3600, stops=2)  # would otherwise wait an hour (then the grace)
    assert cancelled.stopped == "interrupted" and cancelled.done == 0 and cancelled.cancelled == 2
    arrivals = await _stopped(3600, stops=2, rate=100)  # open loop: its arrivals cancel what they started
    assert arrivals.stopped == "interrupted" and arrivals.done == 0 and arrivals.cancelled > 0


async def test_the_bar_says_preparing_until_the_run_starts(hub: HubUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal, registering and logging in the offices (seconds for many) shows as preparing,
    then the bar names the hub it loads."""
    from careplan_cli import load as load_cli
    from client import render

    screen = io.StringIO()
    monkeypatch.setattr(render, "err", Console(file=screen, force_terminal=True, width=80))
    args = load_cli._parser().parse_args(["--data", str(hub.config.data_dir), "--offices", "4"])
    report = await load_cli._run(args, LoadPlan(count=4, concurrency=2))  # in this (the main) thread: SIGINT
    assert report["operations_done"] == 4
    drawn = screen.getvalue()
    assert "準備中 / preparing 4 offices" in drawn and f"負荷 / load on {hub.url}" in drawn
    assert drawn.index("準備中") < drawn.index("負荷 / load on")


def _hub_folder(tmp_path: Path, pki: Pki) -> Path:
    """A hub's data folder (its CA, an admin token) where no hub runs: no hub.json."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "ca").symlink_to(pki.ca.directory)
    (folder / "admin-token").write_text("t")
    return folder


@pytest.mark.parametrize("case", ["not a hub's folder", "no hub announced", "bad --mix", "hub out of reach"])
def test_with_json_a_run_that_cannot_begin_says_why_as_json_on_stdout_too(tmp_path: Path, pki: Pki, case: str) -> None:
    """`--json` printed nothing on stdout when the run could not begin (a script read no JSON at
    all); now the error as `careplan client --json` gives it, `{"error": {...}}`: LOCAL with the
    text for a problem found here (exit 2), the hub's refusal whole for a hub out of reach (exit 3).
    stderr says it as without --json."""
    folder = _hub_folder(tmp_path, pki)
    args, status, code = {
        "not a hub's folder": (["--data", str(tmp_path / "typo")], 2, "LOCAL"),
        "no hub announced": (["--data", str(folder)], 2, "LOCAL"),
        "bad --mix": (["--data", str(folder), "--mix", "send=abc"], 2, "LOCAL"),
        "hub out of reach": (["--data", str(folder), "--hub", "https://127.0.0.1:9"], 3, "HUB_UNREACHABLE"),
    }[case]
    plain = run_careplan("load", *args, env={"COLUMNS": "80"})
    done = run_careplan("load", *args, "--json", env={"COLUMNS": "80"})
    assert (done.returncode, plain.returncode) == (status, status), done.stderr
    assert done.stderr == plain.stderr and plain.stdout == ""
    error = json.loads(done.stdout)["error"]
    assert error["code"] == code, error
    if code == "LOCAL":
        assert "".join(error["detail"].split()) == "".join(plain.stderr.split())  # the text, unfolded
    else:
        assert "https://127.0.0.1:9 に接続できません" in error["detail"] and error["fix"], error


@pytest.mark.parametrize("json_flag", [True, False], ids=["--json", "for people"])
def test_ctrl_c_before_the_run_began_is_said_and_with_json_as_json_too(
    tmp_path: Path, pki: Pki, json_flag: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C while the offices are registered and log in: no report yet, so with --json the run
    that did not begin is `{"error": …}` as for any other (a script read nothing before); exit 130."""
    from careplan_cli import load as load_cli

    async def interrupted(args: object, plan: object) -> dict[str, object]:
        raise KeyboardInterrupt

    monkeypatch.setattr(load_cli, "_run", interrupted)
    argv = ["--data", str(_hub_folder(tmp_path, pki)), *(["--json"] if json_flag else [])]
    assert load_cli.main(argv) == 130
    printed = capsys.readouterr()
    assert "中断しました / interrupted" in printed.err
    if json_flag:
        error = json.loads(printed.out)["error"]
        assert error["code"] == "LOCAL" and "中断しました" in error["detail"], error
    else:
        assert printed.out == ""


def test_a_damaged_hub_json_is_named(tmp_path: Path, pki: Pki) -> None:
    folder = _hub_folder(tmp_path, pki)
    (folder / "hub.json").write_text("{}")
    done = run_careplan("load", "--data", str(folder), "--count", "1", env={"COLUMNS": "80"})
    assert done.returncode == 2 and "想定外" not in done.stderr, done.stderr
    assert "ハブのURLを読めません" in "".join(done.stderr.split()), done.stderr
