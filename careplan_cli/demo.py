"""`careplan demo`: the trainer's month (scenarios/library/trainer-month.yaml),
narrated in Japanese.

    careplan demo [--step] [--hub URL [--data DIR]] [FILE]

Before each step one line says, in Japanese, who does what (the step's `say:`, or a line made
from its action); after it, what happened in plain words (送信しました, ダウンロードしました,
拒否されました: <the hub's message>) with the hub's code. `--step` waits for Enter between steps
(only on a terminal: with stdin not a TTY it just goes on). `--hub URL` plays the month on that
running hub (`careplan up`; DIR is its data directory, default .careplan-sim) and leaves what it
did there, so the dashboard (/dashboard) shows it live. Exit status: 0 when the month played
as the scenario expects, 1 when a step turned out otherwise, 2 when the file cannot be read.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from careplan.folding import hanging
from careplan.helptext import hub_url, with_examples
from hub.cli import not_hub_data
from scenarios.loader import LIBRARY, UNREADABLE, ScenarioError, load_file
from scenarios.model import Scenario, Step
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
        "--hub", metavar="URL", type=hub_url, help="play on this running hub, for its dashboard (needs its --data)"
    )
    parser.add_argument("--data", type=Path, default=Path(".careplan-sim"), help="its data directory (%(default)s)")
    examples = "例: careplan demo --step\n    careplan demo --hub https://127.0.0.1:8443 --data .careplan-sim"
    return with_examples(parser, {"": examples})


def _say(lead: str, text: str, width: int) -> None:
    """`lead` and `text`, folded as Japanese reads (careplan.folding) within `width` cells, each
    further line under the text."""
    print("\n".join(hanging(lead, text, width)))


def _wait_for_enter() -> None:
    """（Enter で次へ）, where Ctrl-C stops the demo at once. asyncio.run's own SIGINT handler only
    cancels the run's task, which the blocked input() never sees: the first Ctrl-C was lost, and
    the second stopped the demo without giving the hub its clock back (frozen in the month's
    April). KeyboardInterrupt raised here unwinds the run through its `finally`s, which do."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        input("  （Enter で次へ）")
    finally:
        signal.signal(signal.SIGINT, previous)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    hub = (str(args.hub), args.data) if args.hub else None
    problem = not_hub_data("careplan demo", args.data) if hub is not None else None
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

        results = run([scenario], on_step=on_step, hub=hub, keep=True)
        if not results[0].passed:
            if results[0].error:
                print(f"  error: {results[0].error}")
            print("× 想定どおりに進みませんでした")
            return 1
    print("✓ 一か月の流れを最後まで想定どおりに再生しました")
    return 0


if __name__ == "__main__":
    sys.exit(main())
