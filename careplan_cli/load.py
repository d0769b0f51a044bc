"""`careplan load`: month-start load on any running hub, from seeded offices (issue 10).

    careplan load --data .careplan-sim --offices 12 --concurrency 16 --count 500 --duration 60

Setup, through the hub's admin API and its data directory (never by importing the hub): the
seeded fixture offices (`fixtures.generate`, same seed → same offices and files) are registered
with valid licences (or reused when a previous run registered them), each gets a certificate from
the data directory's CA and logs in. Then `client.load` drives them and the report shows
throughput, p50/p99 by operation and errors by code (`--json` for machines).

The report fits 80 columns (a terminal, a file, an e-mail); each error code carries the message
the office would read. Ctrl-C stops the run and still prints the report of what was done (a
second Ctrl-C cancels the operations in flight).

Exit status: 0 every operation succeeded; 1 some were refused or failed (see errors by code);
2 a local problem (usage, no data directory); 3 the hub cannot be reached (before or during the
run); 130 interrupted (Ctrl-C; the report is still printed). With --json, a run that cannot begin
prints `{"error": {...}}` on stdout too (LOCAL with the text for a local problem or a Ctrl-C before
the run began; else the hub's refusal), as `careplan client --json` does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from rich.cells import cell_len
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ca.authority import CertificateAuthority
from careplan.certificates import KeyPair
from careplan.errors import CareplanError, Operation
from careplan.folding import fold
from careplan.helptext import hub_url, month, number_in, with_examples
from careplan.standard import parse_file_name
from client import render
from client.hubclient import HubClient, client_ssl_context, hub_unreachable
from client.load import DEFAULT_CONCURRENCY, MONTH_START_MIX, LoadPlan, LoadRun, Report, Unit, Workload, parse_mix
from fixtures.generate import Dataset, generate
from fixtures.people import Office
from hub.cli import missing_text, not_hub_data
from hub.datadir import admin_token_needs, announced_url, presented_admin_token

BULK_MAX = 50  # R4.3: transmissions per 一括送信


EXIT_STATUS = """終了ステータス / exit status:
  0    すべて成功 / every operation succeeded
  1    拒否または失敗あり / some were refused or failed (errors by code)
  2    使い方・データディレクトリの誤り / usage, or not a hub data directory
  3    ハブに接続できない・途絶えた / the hub cannot be reached, or went away
  130  Ctrl-C で中断（結果は表示） / interrupted (the report is still printed)"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="careplan load",
        description="月初の負荷を稼働中のハブにかけます（シード済みの事業所から）。\n"
        "Month-start load on a running hub from seeded offices. It stops at --count\n"
        "operations or after --duration seconds, whichever comes first; Ctrl-C stops\n"
        "it early and still prints the report.",
    )
    positive, above_zero = number_in(1), number_in(0.001, kind=float)
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(".careplan-sim"),
        help="the hub's data directory (default: %(default)s)",
    )
    parser.add_argument("--hub", default=None, type=hub_url, help="hub URL (default: the one in DATA/hub.json)")
    parser.add_argument(
        "--offices",
        type=number_in(2, 1000),
        default=8,
        help="seeded offices, 2–1000 (¼ 居宅介護支援; default 8)",
    )
    parser.add_argument(
        "--users", type=number_in(1, 10000), default=None, help="seeded users, 1–10000 (default 3 per office)"
    )
    parser.add_argument("--seed", type=int, default=1, help="fixture and choice seed (default 1)")
    parser.add_argument("--month", type=month, default=None, help="サービス提供年月 YYYYMM (default: the hub's month)")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument(
        "--concurrency",
        type=positive,
        default=None,
        help=f"closed loop: this many at once (default {DEFAULT_CONCURRENCY})",
    )
    pace.add_argument("--rate", type=above_zero, default=None, help="open loop: operations a second")
    parser.add_argument("--count", type=positive, default=200, help="stop after this many operations (default 200)")
    parser.add_argument("--duration", type=above_zero, default=60.0, help="or after this many seconds (default 60)")
    default_mix = ",".join(f"{k}={v:g}" for k, v in MONTH_START_MIX.items())
    parser.add_argument("--mix", default=default_mix, help="operation weights (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="the report as JSON on stdout (no progress bar)")
    example = "例: careplan load --concurrency 8 --count 500\n    careplan load --rate 20 --duration 60 --json"
    return with_examples(parser, {"": f"{example}\n\n{EXIT_STATUS}"})


class NotHubData(ValueError):
    """A folder that is no hub's data directory (the text every command that reaches a hub through
    its folder gives, hub.cli.not_hub_data), or one with no hub announced and no --hub given
    (`not_announced`, in the same layout): printed as it is."""


def not_announced(ready: Path) -> str:
    """No --hub and no hub.json in the data directory (no hub listens for it), in the layout of
    hub.cli.not_hub_data."""
    return missing_text(
        "careplan load",
        ("動いているハブが見つかりません", "no running hub announced"),
        ready,
        [ready.name],
        (
            "careplan up でハブを起動するか、--hub でその URL を指定してください。",
            "Start the hub with careplan up, or give its URL with --hub.",
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A running hub and what its data directory gives a load run: trust, admin token, CA."""

    url: str
    data: Path

    @classmethod
    def of(cls, data: Path, url: str | None) -> Target:
        """Raises NotHubData for a folder that is no hub's data directory, or when no URL is given
        and none announced (DATA/hub.json)."""
        problem = not_hub_data("careplan load", data, needs=admin_token_needs())  # offices: the admin API
        if problem:
            raise NotHubData(problem)
        if url is None:
            ready = data / "hub.json"
            if not ready.exists():
                raise NotHubData(not_announced(ready))
            url = announced_url(ready)
        return cls(url=url.rstrip("/"), data=data)

    @property
    def ca_file(self) -> Path:
        return self.data / "ca" / "ca.pem"

    @contextlib.asynccontextmanager
    async def admin(self) -> AsyncIterator[aiohttp.ClientSession]:
        token = presented_admin_token(self.data)
        connector = aiohttp.TCPConnector(ssl=client_ssl_context(self.ca_file, None))
        async with aiohttp.ClientSession(connector=connector, headers={"Authorization": f"Bearer {token}"}) as s:
            yield s

    async def call(self, session: aiohttp.ClientSession, method: str, path: str, body: object = None) -> Any:
        try:
            async with session.request(method, self.url + path, json=body) as response:
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise hub_unreachable(self.url, exc, Operation.LOAD) from None
        if response.status < 400:
            return answer
        if isinstance(answer, dict) and "code" in answer:
            raise CareplanError.from_wire(answer)
        raise CareplanError("INTERNAL", detail=f"{method} {path}: HTTP {response.status}")


def password_of(office_number: str, seed: int) -> str:
    """Load offices' passwords: derived, so a later run (same seed) logs the same offices in."""
    return f"load-{seed}-{office_number}"


async def register(target: Target, offices: Sequence[Office], seed: int) -> None:
    """Register `offices` with valid licences (an office already there is left as it is)."""
    async with target.admin() as session:
        for office in offices:
            body = {
                "office_number": office.number,
                "name": office.name,
                "service_kind": office.kind,
                "office_user_id": f"KJ{office.number}",
                "password": password_of(office.number, seed),
                "licence": "valid",
                "prefecture": office.prefecture,
                "address": office.address,
            }
            try:
                await target.call(session, "POST", "/admin/v1/offices", body)
            except CareplanError as error:
                if error.code != "OFFICE_EXISTS":  # registered by an earlier run: reused
                    raise


async def hub_time(target: Target) -> dt.datetime:
    async with target.admin() as session:
        return dt.datetime.fromisoformat((await target.call(session, "GET", "/healthz"))["hub_time"])


def terminals(target: Target, offices: Sequence[Office], now: dt.datetime) -> dict[str, KeyPair]:
    """A certificate per office from the data directory's CA, valid on the hub's clock and in real
    time (the TLS handshake checks the latter)."""
    authority = CertificateAuthority.load(target.data / "ca")
    real = dt.datetime.now(dt.UTC)
    start = min(real, now) - dt.timedelta(days=1)
    days = abs((real - now).days) + 400
    pairs = {}
    for office in offices:
        issued = authority.issue_office(
            office_number=office.number, office_user_id=f"KJ{office.number}", office_name=office.name, now=start,
            days=days,
        )  # fmt: skip
        pairs[office.number] = KeyPair(certificate=issued.certificate, key=issued.key)
    return pairs


def workload(dataset: Dataset) -> Workload:
    """Every generated transmission is a unit; each 居宅 office's plan units form its 一括送信."""
    units = []
    for names in dataset.transmissions:
        parsed = parse_file_name(names[0])
        units.append(
            Unit(sender=parsed.sender, recipient=parsed.recipient, files=tuple((n, dataset.files[n]) for n in names))
        )
    bulk: dict[str, list[Unit]] = {}
    care = {o.number for o in dataset.offices if o.care_management}
    for unit in units:
        if unit.sender in care and len(bulk.setdefault(unit.sender, [])) < BULK_MAX:
            bulk[unit.sender].append(unit)
    return Workload(units=tuple(units), bulk={s: tuple(f for u in us for f in u.files) for s, us in bulk.items()})


@contextlib.asynccontextmanager
async def logged_in(target: Target, pairs: Mapping[str, KeyPair], seed: int) -> AsyncIterator[dict[str, HubClient]]:
    async with contextlib.AsyncExitStack() as stack:
        clients = {}
        for number, pair in pairs.items():
            client = await stack.enter_async_context(HubClient(url=target.url, ca_file=target.ca_file, keypair=pair))
            await client.login(f"KJ{number}", password_of(number, seed))
            clients[number] = client
        yield clients


async def run_load(
    target: Target,
    plan: LoadPlan,
    *,
    offices: int,
    users: int | None = None,
    month: str | None = None,
    on_done: Callable[[int], None] = lambda _n: None,
    on_run: Callable[[LoadRun], None] = lambda _run: None,
) -> Report:
    """Register and log in the seeded offices (seed = `plan.seed`), then run `plan` against them;
    `on_run` gets the run once it starts (to stop it on Ctrl-C)."""
    now = await hub_time(target)
    dataset = await asyncio.to_thread(
        generate,
        offices=offices,
        users=users if users is not None else 3 * offices,
        month=month or now.strftime("%Y%m"),
        seed=plan.seed,
        units=("plans", "actuals"),
    )
    await register(target, dataset.offices, plan.seed)
    pairs = await asyncio.to_thread(terminals, target, dataset.offices, now)
    async with logged_in(target, pairs, plan.seed) as clients:
        run = LoadRun(clients, workload(dataset), plan)
        on_run(run)
        return await run.run(on_done)


INTERRUPTED = (
    "中断しました。実行中の操作の終了を待っています（もう一度 Ctrl-C で打ち切り）\n"
    "interrupted: waiting for the operations in flight (Ctrl-C again cancels them)"
)


def _on_ctrl_c(run: LoadRun) -> None:
    """Ctrl-C stops the run (its report is still printed) instead of raising out of asyncio."""

    def stop() -> None:
        render.err.print(INTERRUPTED, markup=False)
        run.stop()

    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop)


async def _run(args: argparse.Namespace, plan: LoadPlan) -> dict[str, Any]:
    target = Target.of(args.data, args.hub)
    options: dict[str, Any] = {"offices": args.offices, "users": args.users, "month": args.month, "on_run": _on_ctrl_c}
    try:
        if args.json or not render.err.is_terminal:  # a log or a pipe gets no bar, not even a blank line
            report = await run_load(target, plan, **options)
        else:
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, console=render.err, transient=True) as bar:
                # registering and logging in N offices takes seconds: the bar says so until the run starts
                task = bar.add_task(f"準備中 / preparing {args.offices} offices", total=plan.count)

                def started(run: LoadRun) -> None:
                    bar.update(task, description=f"負荷 / load on {target.url}")
                    _on_ctrl_c(run)

                options["on_run"] = started
                report = await run_load(target, plan, **options, on_done=lambda n: bar.advance(task, n))
    finally:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
    return {"hub": target.url, **report.to_json()}


WIDTH = 80  # the report's lines, on a terminal or piped to a file
LABELS = {"send": "送信 send", "bulk": "一括送信 bulk", "download": "受信 download", "list": "一覧 list"}
STOPPED = {
    "count": "件数に到達 / count reached",
    "duration": "時間に到達 / duration reached",
    "interrupted": "Ctrl-C で中断 / interrupted",
}


def show(report: dict[str, Any], console: Console | None = None) -> None:
    """The report for people: what was asked and why it stopped, the operations, the errors by code
    with the message an office reads; every line at most WIDTH cells (tests/client/test_load.py)."""
    console = console or render.capped(WIDTH)
    plan = report["plan"]
    pace = (
        f"毎秒 {plan['rate']:g} / rate {plan['rate']:g}/s"
        if plan["rate"]
        else f"同時 {plan['concurrency']} / concurrency {plan['concurrency']}"
    )
    console.print(Text("負荷試験の結果 / load report", style="bold"))
    for label, value in (
        ("ハブ / hub", report["hub"]),
        ("方式 / pace", f"{pace}, 上限 / at most {plan['count']} ops, {plan['duration_s']:g} s"),
        ("終了 / stopped", STOPPED[report["stopped"]]),
    ):
        console.print(Text(f"  {label}{' ' * max(2, 18 - cell_len(label))}{value}"), soft_wrap=True)
    grid = Table()
    grid.add_column("操作 / operation", no_wrap=True)
    for column in ("ok", "errors", "ok/s", "p50 ms", "p99 ms"):
        grid.add_column(column, justify="right", no_wrap=True)
    for name, op in report["by_operation"].items():
        cells = (op["ok"], op["errors"], f"{op['per_second']:.1f}", f"{op['p50_ms']:.0f}", f"{op['p99_ms']:.0f}")
        grid.add_row(LABELS.get(name, name), *map(str, cells))
    console.print(grid)
    console.print(
        f"{report['operations_done']} operations in {_seconds(report['elapsed_s'])}"
        f" ({report['operations_per_second']:.1f}/s): {report['ok']} ok ({report['ok_per_second']:.1f}/s),"
        f" {report['errors']} errors, {report['cancelled']} cancelled",
        markup=False,
    )
    if report["errors_by_code"]:
        console.print(Text("エラーコード別 / errors by code", style="bold"))
    for code, count in report["errors_by_code"].items():
        console.print(Text(f"  {code}  {count}件"), soft_wrap=True)
        for line in render.fold(report["error_messages"].get(code) or "-", console.width - 4):
            console.print(Text(f"    {line}"), soft_wrap=True)


def _seconds(elapsed: float) -> str:
    """`6.68 s`, `61.2 s`: a short run keeps two decimals (a 36 ms run is not `0.0 s`)."""
    return f"{elapsed:.2f} s" if elapsed < 10 else f"{elapsed:.1f} s"


def exit_status(report: dict[str, Any]) -> int:
    """130 interrupted; 3 the hub stopped answering during the run; 1 other errors; 0 none."""
    if report["stopped"] == "interrupted":
        return 130  # what a shell reports for a command ended by Ctrl-C
    if "HUB_UNREACHABLE" in report["errors_by_code"]:
        return 3
    return 1 if report["errors"] else 0


def _json_error(args: argparse.Namespace, problem: CareplanError | str) -> None:
    """With --json, what stopped the run before its report as JSON on stdout too (a script reads
    JSON whatever happened), as `careplan client --json` gives it; stderr says it as without."""
    if args.json:
        render.print_json_error(problem)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        plan = LoadPlan(
            count=args.count,
            duration=args.duration,
            concurrency=args.concurrency,
            rate=args.rate,
            mix=parse_mix(args.mix),
            seed=args.seed,
        )
        report = asyncio.run(_run(args, plan))
    except CareplanError as error:
        _json_error(args, error)
        render.refusal(error)
        return error.exit_status
    except NotHubData as exc:
        _json_error(args, str(exc))
        print(exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the run began (setup): no report, so a run that did not begin
        _json_error(args, "careplan load: 中断しました（実行の前、準備中） / interrupted before the run began")
        render.err.print("中断しました / interrupted", markup=False)
        return 130
    except (OSError, ValueError) as exc:
        _json_error(args, f"careplan load: {exc}")
        for line in f"careplan load: {exc}".splitlines():  # Japanese, then English, each folded
            render.err.print("\n".join(fold(line, min(render.err.width, WIDTH))), markup=False)
        return 2
    if args.json:
        render.print_json(report)
    else:
        show(report)
    return exit_status(report)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
