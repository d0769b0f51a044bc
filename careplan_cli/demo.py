"""`careplan demo`: the trainer's month (scenarios/library/trainer-month.yaml),
narrated in Japanese.

    careplan demo [--step] [--hub URL [--data DIR]] [FILE]

Before each step one line says, in Japanese, who does what (the step's `say:`, or a line made
from its action); after it, what happened in plain words (送信しました, ダウンロードしました,
拒否されました: <the hub's message>) with the hub's code. `--step` waits for Enter between steps
(only on a terminal: with stdin not a TTY it just goes on). `--hub URL` plays the month on that
running hub (`careplan up`; DIR is its data directory, default .careplan-sim), so the dashboard
(/dashboard) shows it live, then puts the hub back as it found it (a snapshot, as `careplan
scenarios run --hub` does; with `--step`, once the trainer presses Enter after the last step).
Exit status: 0 when the month played as the scenario expects, 1 when a step turned out otherwise,
2 when the file cannot be read or DIR is no hub's data directory, 3 when the hub cannot be reached
(before the month or during it: HUB_UNREACHABLE on stderr, as `careplan client` and `careplan load`
say it).

Why the hub is put back rather than the demo's offices reused: a reused office keeps its send list
(R5.1, one per 事業所番号), so a second month failed its last step (送信一覧は 8 件, 4 expected),
and it keeps its licence, which a scenario's licence steps need as the file declares it (R1.4: one
licence per 事業所番号, registered once). Left there, the offices (licensed from December 2024 for
the 12 months of R3.1/R3.2) showed 期限切れ once the hub's clock was back to the real date, and each
run added two more. `--keep` leaves the month on the hub, as before.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from careplan.errors import CareplanError
from careplan.folding import hanging
from careplan.helptext import hub_url, with_examples
from client import render
from hub.cli import not_hub_data
from hub.datadir import admin_token_needs
from scenarios.loader import LIBRARY, UNREADABLE, ScenarioError, load_file
from scenarios.model import Scenario, Step
from scenarios.results import UNREACHABLE, ScenarioResult
from scenarios.runner import StepResult, run

TRAINER_MONTH = LIBRARY / "trainer-month.yaml"

KINDS = {"43": "居宅介護支援事業所", "46": "居宅介護支援事業所", "11": "訪問介護事業所", "15": "通所介護事業所"}
DONE = {
    "send": "送信しました",
    "bulk_send": "一括送信しました",
    "download": "ダウンロードしました",
    "inbox": "受信一覧を確認しました",
    "sent": "送信一覧を確認しました",
    "apply": "利用申請しました",
    "renew": "更新しました",
    "cancel": "解約しました",
    "licence": "ライセンスを確認しました",
    "clock": "時計を進めました",
    "login": "ログインしました",
    "logout": "ログアウトしました",
    "revoke": "証明書を失効させました",
}


def _who(scenario: Scenario, label: Any) -> str:
    try:
        office = scenario.office(str(label))
    except KeyError:
        return str(label)
    kind = KINDS.get(office.kind)
    return f"{label}（{kind}）" if kind and kind not in str(label) else str(label)


def narration(scenario: Scenario, step: Step) -> str:
    """The step's `say:`, or a Japanese line made from its action."""
    if step.say:
        return step.say
    arg: Any = step.argument
    who = _who(scenario, step.actor) if step.actor else ""
    if step.action == "send" and isinstance(arg, Mapping):
        if "plan_to" in arg:
            return f"{who}が提供票（第6表・第7表）を{_who(scenario, arg['plan_to'])}へ送信します"
        if "actuals_to" in arg:
            return f"{who}が実績を{_who(scenario, arg['actuals_to'])}へ送信します"
        what = step.title or ("・".join(arg["generated"]) if "generated" in arg else "データ")
        return f"{who}が{what}を{_who(scenario, arg.get('to', ''))}へ送信します"
    if step.action == "clock" and isinstance(arg, Mapping):
        if "set" in arg:
            return f"時間が経ち、{arg['set']} になります"
        return "時間が経ちます（" + "、".join(f"{v} {k}" for k, v in arg["advance"].items()) + "）"
    if step.action == "revoke":
        return f"{_who(scenario, arg)}の電子証明書が失効します"
    lines = {
        "bulk_send": "複数のデータを一括送信します",
        "inbox": "受信一覧を確認します",
        "download": "受け取ったデータをダウンロードします" if arg == "all" else "データをダウンロードします",
        "sent": "送信一覧で相手が受け取ったかを確認します",
        "apply": "利用申請を行います",
        "renew": "ライセンスを更新します",
        "cancel": "ライセンスの解約を申し出ます",
        "licence": "ライセンスの状態と期限を確認します",
        "login": "クライアントソフトにログインします",
        "logout": "ログアウトします",
    }
    return f"{who}が{lines.get(step.action, step.describe())}"


def outcome(step: Step, result: StepResult) -> str:
    if result.skipped:
        return "（前の手順が想定どおりでなかったため省略）"
    if result.outcome == "ok":
        text = f"{DONE.get(step.action, '完了しました')} [OK]"
    elif result.explanation:
        text = f"拒否されました: {result.explanation.get('message', '')} [{result.outcome}]"
    else:
        text = f"確認が合いません [{result.outcome}]"
    if not result.passed:
        text += f" ✗ 想定と異なります: {result.note}"
    elif result.outcome != "ok":
        text += " ✓ 想定どおり"
    return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="careplan demo", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "file", nargs="?", type=Path, default=TRAINER_MONTH, help="a scenario file (default: %(default)s)"
    )
    parser.add_argument("--step", action="store_true", help="wait for Enter between steps (on a terminal)")
    parser.add_argument(
        "--hub",
        metavar="URL",
        type=hub_url,
        help="play on this running hub, for its dashboard, then put it back as found (needs its --data)",
    )
    parser.add_argument("--data", type=Path, default=Path(".careplan-sim"), help="its data directory (%(default)s)")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="with --hub: leave the month there (its offices show 期限切れ once the hub's clock is back, "
        "and each run adds two; careplan hub reset removes them)",
    )
    examples = "例: careplan demo --step\n    careplan demo --hub https://127.0.0.1:8443 --data .careplan-sim"
    return with_examples(parser, {"": f"{examples}\n\n{EXIT_STATUS}"})


EXIT_STATUS = """終了ステータス / exit status:
  0    想定どおりに再生 / the month played as the scenario expects
  1    想定と異なる手順あり / a step turned out otherwise
  2    ファイル・データディレクトリの誤り / a file, or not a hub data directory
  3    ハブに接続できない・途絶えた / the hub cannot be reached, or went away"""


def _say(lead: str, text: str, width: int) -> None:
    """`lead` and `text`, folded as Japanese reads (careplan.folding) within `width` cells, each
    further line under the text."""
    print("\n".join(hanging(lead, text, width)))


NEXT = "  （Enter で次へ）"
PUT_BACK = "  （Enter でデモを終え、ハブを元に戻します）"  # after the last step: the month stays until then
PUT_BACK_DONE = (
    "  ハブをデモの前の状態に戻しました（この月を残すには --keep）\n"
    "  the hub is back as the demo found it (--keep leaves the month there)"
)


def _wait_for_enter(prompt: str = NEXT) -> None:
    """`prompt`, where Ctrl-C stops the demo at once. asyncio.run's own SIGINT handler only
    cancels the run's task, which the blocked input() never sees: the first Ctrl-C was lost, and
    the second stopped the demo without giving the hub its clock back (frozen in the month's
    April). KeyboardInterrupt raised here unwinds the run through its `finally`s, which do. (Off
    the main thread, where signal refuses a handler, Ctrl-C reaches the main thread anyway.)"""
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler) if main_thread else None
    try:
        input(prompt)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.keep and not args.hub:
        parser.error("--keep は --hub と一緒に指定します\n--keep goes with --hub (it leaves the month on that hub)")
    hub = (str(args.hub), args.data) if args.hub else None
    problem = not_hub_data("careplan demo", args.data, needs=admin_token_needs()) if hub is not None else None
    if problem:
        print(problem, file=sys.stderr)
        return 2
    try:
        scenarios = load_file(args.file)
    except ScenarioError as exc:
        width = shutil.get_terminal_size().columns
        lines = [*hanging("careplan demo: ", UNREADABLE, width), *hanging("  ", str(exc), width)]
        print("\n".join(lines), file=sys.stderr)
        return 2
    wait = args.step and sys.stdin.isatty()
    width = shutil.get_terminal_size().columns  # $COLUMNS, the terminal's, else 80 (a projector's log)

    for scenario in scenarios:
        print(f"■ {scenario.name}")
        print(f"  開始時刻 {scenario.clock.isoformat()}")

        def on_step(step: Step, result: StepResult | None, scenario: Scenario = scenario) -> None:
            if result is None:
                if wait and step.index > 1:
                    _wait_for_enter()
                _say(f"{step.index:>2}. ", narration(scenario, step), width)
            else:
                _say("    → ", outcome(step, result), width)
                if wait and hub is not None and not args.keep and step is scenario.steps[-1]:
                    _wait_for_enter(PUT_BACK)  # the dashboard shows the whole month until then

        results = run([scenario], on_step=on_step, hub=hub, keep=args.keep)
        if hub is not None and not args.keep and not results[0].error:
            print(PUT_BACK_DONE)
        if not results[0].passed:
            return _failed(results[0], width)
    print("✓ 一か月の流れを最後まで想定どおりに再生しました")
    return 0


def _failed(result: ScenarioResult, width: int) -> int:
    """The month did not play as expected: why, then exit 1; or, when the hub did not answer, its
    HUB_UNREACHABLE on stderr as every command that reaches a hub shows it, and exit 3."""
    unreachable = result.hub_unreachable
    if result.error and not (unreachable and not result.steps):  # a setup refusal: said on stderr below
        _say("  error: ", result.error, width)
    print("× 想定どおりに進みませんでした")
    if not unreachable:
        return 1
    render.refusal(_unreachable(result))
    return 3


def _unreachable(result: ScenarioResult) -> CareplanError:
    """The HUB_UNREACHABLE that stopped the month: at its failing step, else in the setup or teardown."""
    step = result.failing_step
    said = step.explanation if step is not None and step.outcome == UNREACHABLE else result.error_explanation
    return CareplanError(
        UNREACHABLE,
        detail=said.get("detail", ""),
        fix=said.get("fix", ""),
        detail_en=said.get("detail_en", ""),
        fix_en=said.get("fix_en", ""),
    )


if __name__ == "__main__":
    sys.exit(main())
