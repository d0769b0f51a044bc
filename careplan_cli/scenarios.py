"""`careplan scenarios run|list`: declarative scenario suites against in-process
hubs (this paragraph is the command's --help description).

    careplan scenarios run [PATHS…] [--tag T] [--junit FILE] [--json FILE] [--html FILE] [--hub URL --data DIR]
    careplan scenarios list [PATHS…] [--tag T]

PATHS are scenario files or folders (default: the packaged library, scenarios/library). Every
scenario runs against its own fresh in-process hub with its own clock; with --hub URL --data DIR
they run against that running hub instead (DIR: its data directory, for the CA and the admin
token; office numbers are namespaced per run; a snapshot taken before each scenario is restored
after it, so the hub is left as the run found it). Exit status: 0 all passed, 1 a scenario failed,
2 a scenario file could not be read, no scenario was found (or none has the --tag), or bad options,
3 the running hub stopped answering (the scenarios after it are reported not run).
"""

from __future__ import annotations

import argparse
import errno
import functools
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from careplan.folding import hanging
from careplan.helptext import hub_url, subparsers, with_examples
from client.render import capped
from hub.cli import not_hub_data
from hub.datadir import admin_token_needs
from scenarios import terminal
from scenarios.loader import LIBRARY, UNREADABLE, ScenarioError, load_paths
from scenarios.model import Scenario
from scenarios.results import ScenarioResult

EXAMPLES = {
    "": "例: careplan scenarios run --html report.html\n    careplan scenarios list --tag licence",
    "run": "例: careplan scenarios run --tag licence --html report.html --junit junit.xml\n"
    "    careplan scenarios run --hub https://127.0.0.1:8443 --data .careplan-sim",
    "list": "例: careplan scenarios list scenarios/library/licensing.yaml",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="careplan scenarios", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="run scenarios and report",
        description="Run each scenario against its own fresh in-process hub (own data\n"
        "directory and clock). With --hub URL --data DIR, run them against that running\n"
        "hub instead (it must be on this machine: the admin API answers loopback only;\n"
        "each scenario's changes, clock included, are undone afterwards by restoring a\n"
        "snapshot taken before it).",
    )
    listing = sub.add_parser("list", help="list scenarios: file, name, tags, steps")
    for p in (run, listing):
        p.add_argument("paths", nargs="*", type=Path, help=f"scenario files or folders (default: {LIBRARY})")
        p.add_argument("--tag", action="append", default=[], help="only scenarios with this tag (repeatable)")
    run.add_argument("--junit", type=Path, help="write JUnit XML here")
    run.add_argument("--json", type=Path, help="write the results as JSON here")
    run.add_argument("--html", type=Path, help="write a single-file HTML report here")
    run.add_argument("--hub", metavar="URL", type=hub_url, help="run against this running hub (needs --data)")
    run.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the generated data sets that `send: {generated: …}` uses (default 2024)",
    )
    run.add_argument("--data", type=Path, metavar="DIR", help="the running hub's data directory (with --hub)")
    run.add_argument("-v", "--verbose", action="store_true", help="show every step")
    return with_examples(parser, EXAMPLES)


def select(paths: Sequence[Path], tags: Sequence[str]) -> list[Scenario]:
    scenarios = load_paths(paths or [LIBRARY])
    if tags:
        scenarios = [s for s in scenarios if set(tags) & set(s.tags)]
    return scenarios


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    hub: tuple[str, Path] | None = None
    if args.command == "run" and (args.hub is not None or args.data is not None):
        if args.hub is None or args.data is None:
            run_parser = next(p for p in subparsers(parser) if p.prog.endswith(" run"))
            run_parser.error(  # argparse's usage line, then ours in both languages (exit status 2)
                "--hub URL と --data DIR は一緒に指定します\n"
                "--hub URL and --data DIR go together (the hub's URL and its data directory)"
            )
        problem = not_hub_data("careplan scenarios", args.data, needs=admin_token_needs())
        if problem:
            print(problem, file=sys.stderr)
            return 2
        hub = (str(args.hub), args.data)
    if args.command == "run":
        _check_reports(args)  # a report that cannot be written is said now, not after the whole run
    try:
        scenarios = select(args.paths, args.tag)
    except ScenarioError as exc:
        width = shutil.get_terminal_size().columns
        lines = [*hanging("careplan scenarios: ", UNREADABLE, width), *hanging("  ", str(exc), width)]
        print("\n".join(lines), file=sys.stderr)
        return 2
    width = capped(terminal.WIDTH).width  # the terminal's (piped: $COLUMNS or 80), at most 80
    if args.command == "run" and not scenarios:  # a mistyped --tag or an empty folder is no green run
        where = ", ".join(map(str, args.paths or [LIBRARY])) + "".join(f" --tag {t}" for t in args.tag)
        text = (
            f"実行するシナリオがありません（{where}）。careplan scenarios list で名前とタグを確かめてください"
            f" / no scenario to run in {where}; careplan scenarios list shows names and tags"
        )
        print("\n".join(hanging("careplan scenarios: ", text, width)), file=sys.stderr)
        return 2
    if args.command == "list":
        for s in scenarios:
            print("\n".join(terminal.listing_lines(s, width)))
        print(f"シナリオ {len(scenarios)} 件 / {len(scenarios)} scenarios")
        return 0
    from scenarios.runner import run

    results: list[ScenarioResult] = []

    def show(result: ScenarioResult) -> None:  # each scenario as it finishes: a long suite shows progress
        legend = not any(_shows_steps(r, args.verbose) for r in results)
        _print_result(result, args.verbose, width, legend=legend, why=not any(r.skipped for r in results))
        results.append(result)

    try:
        run(scenarios, hub=hub, seed=args.seed, on_result=show)
    except KeyboardInterrupt:  # Ctrl-C: what finished is still reported and written, then exit 130
        print(terminal.totals(results))
        ran, of = len(results), len(scenarios)
        print(f"{of} 件中 {ran} 件を実行して中断 / interrupted after {ran} of {of}")
        _write_reports(args, results, interrupted=True)
        raise
    print(terminal.totals(results))
    _write_reports(args, results)
    if hub is not None and any(r.hub_unreachable for r in results):
        print("\n".join(_check_the_hub(args.data, width)), file=sys.stderr)
        return 3  # as every command says a hub out of reach
    return 1 if any(not r.passed for r in results) else 0


def _check_the_hub(data: Path, width: int) -> list[str]:
    """What to do when the running hub stopped answering during the run: the command that checks it
    last, whole on a line of its own (it is copied)."""
    text = (
        "ハブに接続できないため、残りのシナリオを実行しませんでした。次のコマンドでハブを確かめ、止まっていれば"
        " careplan up（または careplan hub serve）で起動してから、もう一度実行してください"
        " / the hub does not answer: the remaining scenarios were not run. Check it with the command"
        " below; if it has stopped, start it (careplan up or careplan hub serve) and run again"
    )
    return [*hanging("careplan scenarios: ", text, width), f"  careplan hub --data {data} clock show"]


def _shows_steps(result: ScenarioResult, verbose: bool) -> bool:
    # none when its setup failed; a scenario not run has only skipped steps
    return (verbose or not result.passed) and bool(result.steps) and not result.skipped


def _print_result(result: ScenarioResult, verbose: bool, width: int, *, legend: bool, why: bool) -> None:
    """The scenario's line; its steps (with the legend above the first step lines of the run) when
    verbose or failed; why it failed; why it was not run (`why`: the first one not run says it)."""
    from scenarios import report

    print("\n".join(terminal.result_lines(result, width)))
    if _shows_steps(result, verbose):
        if legend:
            print(terminal.LEGEND)
        print("\n".join(terminal.step_lines(result, width)))
    if result.skipped:
        if why:
            print("\n".join(hanging("      ", result.skip_reason, width)))
    elif not result.passed:
        print("      " + report.failure_text(result, width - 6).replace("\n", "\n      "))
    sys.stdout.flush()  # piped to a log (tee): the line now, not when the suite ends


def _check_reports(args: argparse.Namespace) -> None:
    """Each report's folder made and the report not a folder: an OSError (careplan_cli.main says
    it with the path, exit status 2) before a run of minutes, not after it."""
    for target in (args.junit, args.json, args.html):
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_dir():
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))


def _write_reports(args: argparse.Namespace, results: list[ScenarioResult], *, interrupted: bool = False) -> None:
    """Each report asked for; the JSON one says whether the run was `interrupted` (Ctrl-C)."""
    from scenarios import report

    to_json = functools.partial(report.to_json, interrupted=interrupted)
    for target, render in ((args.junit, report.to_junit), (args.json, to_json), (args.html, report.to_html)):
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(render(results), "utf-8")


if __name__ == "__main__":
    sys.exit(main())
