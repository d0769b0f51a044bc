"""What `careplan scenarios` shows a person, and the words its reports share: verdicts, step flags,
totals, the step lines and the `list` lines.

Rules this module keeps:
1. Japanese first, the English beside it (`成功 1 件・失敗 1 件 / 1 passed, 1 failed`): QA teams read
   Japanese; the English keeps the words scripts and CI logs have always grepped (PASS, FAIL, ok,
   `N passed, M failed`).
2. Every line fits `width` display cells (a CJK glyph takes 2, as rich measures it): a value too long
   for its line folds by careplan.folding (the rule of every command) and continues below itself,
   under the column it began in (a hanging indent).
3. Pure: results in, lines out. Printing is careplan_cli/scenarios.py's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.cells import cell_len

from careplan.folding import fold
from scenarios.model import Scenario
from scenarios.results import ScenarioResult, StepResult

WIDTH = 80  # at most, whatever the terminal: a run's output is pasted into tickets and mails
NARROWEST = 40  # a narrower terminal still gets lines this wide: the terminal wraps them
ROOM = 30  # cells a value needs beside its head; with less it starts on a line of its own
VERDICTS = {True: "成功 PASS", False: "失敗 FAIL"}
NOT_RUN = "未実行 SKIP"  # a scenario the run did not try (its hub out of reach)
FLAGS = {"ok": "成功 ok", "FAIL": "失敗 FAIL", "skip": "省略 skip"}
# The step lines' columns, said once above the first of them (each line carries only values).
LEGEND = "  番号 判定 担当 操作 想定 → 結果 / # result actor action expected → outcome"


def hang(head: str, text: str, width: int | None) -> list[str]:
    """`head` then `text`, folded to `width` cells with the text's continuation lines under where it
    began; when that leaves the text less than ROOM cells, it starts on a line of its own, 4 cells in.
    `width` None: one line, unfolded (JUnit text, assertion messages)."""
    if width is None:
        return [head + text]
    width = max(width, NARROWEST)
    indent = cell_len(head)
    if width - indent < ROOM:
        return [*fold(head.rstrip(), width), *("    " + part for part in fold(text, width - 4))]
    parts = fold(text, width - indent)
    return [head + parts[0], *(" " * indent + part for part in parts[1:])]


def pad(text: str, cells: int) -> str:
    """`text` padded with spaces to `cells` display cells (str.ljust counts characters)."""
    return text + " " * max(0, cells - cell_len(text))


def step_flag(step: StepResult) -> str:
    return FLAGS["skip" if step.skipped else ("ok" if step.passed else "FAIL")]


def verdict(result: ScenarioResult) -> str:
    return NOT_RUN if result.skipped else VERDICTS[result.passed]


def totals(results: Sequence[ScenarioResult]) -> str:
    """`成功 1 件・失敗 1 件 / 1 passed, 1 failed`, and `・未実行 N 件` / `, N not run` when some were not."""
    passed = sum(r.passed for r in results)
    failed = sum(r.failed for r in results)
    skipped = sum(r.skipped for r in results)
    if not skipped:
        return f"成功 {passed} 件・失敗 {failed} 件 / {passed} passed, {failed} failed"
    ja = f"成功 {passed} 件・失敗 {failed} 件・未実行 {skipped} 件"
    return f"{ja} / {passed} passed, {failed} failed, {skipped} not run"


def steps_count(count: int) -> str:
    return f"{count} ステップ / {count} step{'' if count == 1 else 's'}"


def result_lines(result: ScenarioResult, width: int) -> list[str]:
    """`成功 PASS   0.28s  licensing.yaml:1  受信者が未申請なら送信できない (R3.7)`."""
    where = f"{Path(result.path).name}:{result.line}"
    return hang(f"{verdict(result)} {result.duration:6.2f}s  {where}  ", result.name, width)


def step_lines(result: ScenarioResult, width: int) -> list[str]:
    """One line a step (`   2 失敗 FAIL 居宅A  send {plan_to: 訪問B}  想定 ok → 結果 RECIPIENT_…`),
    the actors padded to the widest of the scenario so that the actions line up."""
    actors = max((cell_len(s.actor or "-") for s in result.steps), default=1)
    flags = max(cell_len(flag) for flag in FLAGS.values())
    lines: list[str] = []
    for s in result.steps:
        head = f"  {s.index:>3} {pad(step_flag(s), flags)} {pad(s.actor or '-', actors)}  "
        lines += hang(head, f"{s.action}  想定 {s.expectation} → 結果 {s.outcome}", width)
    return lines


def listing_lines(scenario: Scenario, width: int) -> list[str]:
    """`careplan scenarios list`: the file, line and name, then its tags and its number of steps."""
    head = f"{scenario.path.name}:{scenario.line}  "
    tags = f"[{', '.join(scenario.tags)}]  " if scenario.tags else ""
    return [*hang(head, scenario.name, width), *hang("    ", tags + steps_count(len(scenario.steps)), width)]
