"""`careplan conformance`: the vendor conformance kit.

    careplan conformance run --hub URL --data DIR --office 事業所番号 --report DIR
                             [--sut COMMAND] [--suite client] [--step-timeout S] [--compare BASELINE.json]
                             [--lang ja|en]
    careplan conformance adapter careplan-client --home H --profile P
    careplan conformance csv DIR --report DIR

`run` registers the partner offices it needs on the running hub (DIR: its data directory, for the
CA and the admin token) and plays them; for each step it runs COMMAND with the step as JSON on
stdin (the adapter protocol, README "Conformance kit") and judges from the hub's side. Without
--sut it shows each instruction and waits for a person at the client. Exit status: 0 every step
that ran passed, 1 a step failed, 2 bad options (or DIR is no hub's data directory), 3 the hub
could not be reached (as for every command that reaches a hub).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import aiohttp
from rich.cells import cell_len

from careplan.errors import CareplanError
from careplan.folding import hanging
from careplan.helptext import hub_url, input_file, json_file_reason, number_in, with_examples
from client import render
from hub.cli import not_hub_data
from hub.datadir import admin_token_needs

EXAMPLES = {
    "": "例: careplan client --profile kyotaku login --hub https://127.0.0.1:8443 …\n"
    "    CAREPLAN_PASSWORD=… careplan conformance run --hub https://127.0.0.1:8443 \\\n"
    "      --data .careplan-sim --office 1370100016 --report conformance/ \\\n"
    "      --sut 'careplan conformance adapter careplan-client --profile kyotaku'",
    "run": "例: careplan client --profile kyotaku login --hub https://127.0.0.1:8443 …\n"
    "    CAREPLAN_PASSWORD=… careplan conformance run --hub https://127.0.0.1:8443 \\\n"
    "      --data .careplan-sim --office 1370100016 --report conformance/ \\\n"
    "      --sut 'careplan conformance adapter careplan-client --profile kyotaku'\n"
    "    careplan conformance run --hub https://127.0.0.1:8443 --data .careplan-sim \\\n"
    "      --office 1370100016 --report conformance/ --lang en   # no --sut: a person",
    "adapter": "例: careplan conformance run … \\\n"
    "      --sut 'careplan conformance adapter careplan-client --profile kyotaku'\n"
    "    （先に careplan client --profile kyotaku login …。パスワードは環境変数\n"
    "    CAREPLAN_PASSWORD で / first log in; the password by CAREPLAN_PASSWORD）",
    "csv": "例: careplan conformance csv export/ --report csv-report/",
}
STATUS_CELLS = 14  # 未実施 not run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="careplan conformance", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the client suite against a running hub and report")
    run.add_argument("--hub", required=True, metavar="URL", type=hub_url, help="the running hub")
    run.add_argument("--data", required=True, type=Path, metavar="DIR", help="the running hub's data directory")
    run.add_argument("--office", required=True, metavar="事業所番号", help="the office whose client is under test")
    run.add_argument("--sut", metavar="COMMAND", help="the adapter command (without it: a person follows the steps)")
    run.add_argument("--report", required=True, type=Path, metavar="DIR", help="write JSON, JUnit and HTML here")
    run.add_argument("--suite", default="client", choices=["client"], help="the suite to run (default: %(default)s)")
    run.add_argument(
        "--step-timeout",
        type=number_in(0.1, 86400, kind=float),
        default=120.0,
        metavar="S",
        help="seconds per step (default 120)",
    )
    run.add_argument("--compare", type=input_file, metavar="BASELINE.json", help="a known-good run's conformance.json")
    run.add_argument("--only", action="append", default=[], metavar="STEP", help="run only these steps (repeatable)")
    render.add_lang_option(run, "the instructions")
    adapter = sub.add_parser("adapter", help="a packaged adapter (careplan-client: our own client)")
    adapter.add_argument("name", choices=["careplan-client"], help="the adapter to run")
    csv = sub.add_parser("csv", help="judge a vendor's CSV export and measure its coverage of the standard")
    csv.add_argument("folder", type=Path, help="the folder of exported files")
    csv.add_argument("--report", required=True, type=Path, metavar="DIR", help="write JSON and HTML here")
    return with_examples(parser, EXAMPLES)


def _run(args: argparse.Namespace) -> int:
    from conformance import report
    from conformance.hubview import HubView
    from conformance.kit import StepRecord, run_suite
    from conformance.redaction import Redaction
    from conformance.suite import SUITES

    problem = not_hub_data("careplan conformance", args.data, needs=admin_token_needs())
    if problem:
        print(problem, file=sys.stderr)
        return 2
    steps = [s for s in SUITES[args.suite] if not args.only or s.id in args.only]
    unknown = sorted(set(args.only) - {s.id for s in SUITES[args.suite]})
    if unknown:
        ids = ", ".join(unknown)
        print(
            f"careplan conformance: {args.suite} スイートに手順 {ids} はありません"
            f" / no step {ids} in the {args.suite} suite",
            file=sys.stderr,
        )
        return 2
    try:  # JSONDecodeError and UnicodeDecodeError are ValueErrors too
        baseline = report.baseline_of(json.loads(args.compare.read_text("utf-8"))) if args.compare else None
    except ValueError as exc:
        why = json_file_reason(exc)
        print(
            f"careplan conformance: --compare {args.compare} は conformance.json ではありません"
            f" / is not a conformance.json ({why})",
            file=sys.stderr,
        )
        return 2

    def show(record: StepRecord) -> None:
        """A step's verdict in both languages, then why (Japanese first) folded under it within the
        terminal's width (80 when piped): a reason can name ids, paths and the real message."""
        status = f"{report.STATUS_JA[record.status]} {report.STATUS_EN[record.status]}"
        lines = [f"{status}{' ' * (STATUS_CELLS - cell_len(status))} {record.id}"]
        if record.reason:
            lines += hanging("    ", record.reason, render.out.width)
        print("\n".join(lines), flush=True)

    hide = Redaction.of(args.sut, hub=args.hub)  # the report and this terminal never show a password

    def unreachable(reason: object) -> int:
        _refused(
            hide(f"{args.hub} のハブの管理 API に {args.data} で接続できません"),
            hide(f"cannot reach the hub's admin API at {args.hub} with {args.data}: {reason}"),
        )
        return 3  # a hub out of reach, as every command says it (careplan.errors: HUB_UNREACHABLE)

    try:
        run = asyncio.run(
            run_suite(
                HubView(args.hub, args.data),
                args.office,
                steps,
                adapter=args.sut,
                step_timeout=args.step_timeout,
                lang=args.lang,
                on_step=show,
                redaction=hide,
            )
        )
    except CareplanError as error:
        if error.code == "HUB_UNREACHABLE":  # the admin API's driver says it as the client does
            return unreachable(error.detail_en or error.detail)
        _refused(hide(f"{error.code}: {error.detail}"), hide(error.fix))
        return 2
    except (OSError, aiohttp.ClientError) as exc:  # no hub at the URL (the data folder was checked above)
        return unreachable(exc)
    paths = report.write(run, args.report, baseline)
    counts = report.summary(run)
    passed, failed, not_run = counts["pass"], counts["fail"], counts["not_run"]
    ja = report.STATUS_JA  # the words of each step's line and of the report: 合格, 不合格, 未実施
    print(
        f"\n{ja['pass']} {passed} 件・{ja['fail']} {failed} 件・{ja['not_run']} {not_run} 件"
        f" / {passed} passed, {failed} failed, {not_run} not run"
    )
    if "redacted" in run:  # the *** in the report and above are passwords withheld, not values missing
        print(run["redacted"])
    print(f"報告 / report: {paths[-1]}")
    return 1 if counts["fail"] else 0


def _refused(*texts: str) -> None:
    """Why the kit could not run, on stderr: `careplan conformance:` and each text folded under it
    within the terminal's width (80 when piped; a URL or a path stays whole)."""
    width = render.err.width
    lines = ["careplan conformance:"]
    lines += [line for text in texts if text for line in hanging("  ", text, width)]
    print("\n".join(lines), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] == ["adapter", "careplan-client"]:  # its own options: hand them over untouched
        from conformance.adapters.careplan_client import main as adapter_main

        return adapter_main(argv[2:])
    args = _parser().parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "csv":
        from conformance.csvcoverage import main as csv_main

        if not args.folder.is_dir():  # missing, a file, a FIFO, a symlink loop
            print(
                f"careplan conformance csv: {args.folder} はフォルダではありません（書き出したフォルダを指定）"
                f" / is not a folder (give the export folder)",
                file=sys.stderr,
            )
            return 2
        return csv_main(args.folder, args.report)
    return 2
