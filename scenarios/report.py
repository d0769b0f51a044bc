"""Scenario results as JSON, JUnit XML (one testsuite per file, one testcase per scenario) and a
single-file HTML page (inline CSS, no network: totals, a summary table with failures first and
links, a failures-only switch and a filter, then one folded table per scenario; Japanese labels
with English beneath; fits a 1280 px window)."""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path

from rich.cells import cell_len

from scenarios.results import ScenarioResult, StepResult
from scenarios.terminal import hang, pad, step_flag


def _by_file(results: Sequence[ScenarioResult]) -> list[tuple[str, list[ScenarioResult]]]:
    ordered = sorted(results, key=lambda r: r.path)
    return [(path, list(group)) for path, group in groupby(ordered, key=lambda r: r.path)]


def to_json(results: Sequence[ScenarioResult], *, interrupted: bool = False) -> str:
    """The totals, whether the run was stopped before its end (Ctrl-C, exit status 130: `results`
    then holds the scenarios that finished), and every scenario's result."""
    summary = {
        "scenarios": len(results),
        "passed": sum(r.passed for r in results),
        "failed": sum(r.failed for r in results),
        "skipped": sum(r.skipped for r in results),
    }
    return json.dumps(
        {"summary": summary, "interrupted": interrupted, "results": [r.to_json() for r in results]},
        ensure_ascii=False,
        indent=1,
    )


# The labels of a failing step's text (terminal, JUnit, and the HTML report's explanation cell),
# Japanese first; the values keep the hub's own words.
LABELS = {
    "expected": "想定 / expected",
    "outcome": "結果 / outcome",
    "code": "コード / code",
    "message": "メッセージ / message",
    "detail": "詳細 / detail",
    "fix": "対処 / fix",
}
SETUP_FAILED = "準備に失敗しました / setup failed"
TEARDOWN_FAILED = "後片付けに失敗しました / teardown failed"  # after the steps: the hub not put back
NOT_RUN_LABEL = "未実行 / not run"


def error_label(result: ScenarioResult) -> str:
    """What `result.error` is: a setup's failure, or (after steps ran) the teardown's."""
    return TEARDOWN_FAILED if result.steps else SETUP_FAILED


def step_heading(step: StepResult) -> str:
    """`ステップ 2（10 行目） / step 2 (line 10)`: where a step is, in both languages."""
    return f"ステップ {step.index}（{step.line} 行目） / step {step.index} (line {step.line})"


def _rows(step: StepResult) -> list[tuple[str, str]]:
    """(label, value) rows of a step's explanation; the English of the hub's detail and fix on a row
    of their own below the Japanese (label ""), when the hub gave one that differs."""
    outcome = step.outcome + (f" — {step.note}" if step.note else "")
    rows = [(LABELS["expected"], step.expectation), (LABELS["outcome"], outcome)]
    for key in ("code", "message", "detail", "fix"):
        if step.explanation.get(key):
            rows.append((LABELS[key], str(step.explanation[key])))
            english = step.explanation.get(f"{key}_en")
            if english and english != step.explanation[key]:
                rows.append(("", str(english)))
    return rows


def explain(step: StepResult, width: int | None = None) -> str:
    """What went wrong at a step, with the hub's own explanation: a heading, then one row a label,
    the values lined up; `width` folds each value below itself (see scenarios.terminal.hang)."""
    lines = hang("", f"{step_heading(step)}: {step.actor or '-'} {step.action}", width)
    rows = _rows(step)
    column = max(cell_len(label) for label, _ in rows) + 4  # "  label: "
    for label, value in rows:
        head = f"  {label}:" if label else ""
        lines += hang(pad(head, column), value, width)
    return "\n".join(lines)


def failure_text(result: ScenarioResult, width: int | None = None) -> str:
    step = result.failing_step
    text = [explain(step, width)] if step else []
    if result.error:  # a failing step and the teardown after it: both
        text.append("\n".join(hang(f"{error_label(result)}: ", result.error, width)))
    return "\n".join(text)


def headline(result: ScenarioResult) -> str:
    """The JUnit failure's message: the failing step, what was expected and what came."""
    step = result.failing_step
    if step is None:
        return f"{error_label(result)}: {result.error}"
    return (
        f"ステップ {step.index}: 想定 {step.expectation}、結果 {step.outcome}"
        f" / step {step.index}: expected {step.expectation}, got {step.outcome}"
    )


def to_junit(results: Sequence[ScenarioResult]) -> str:
    root = ET.Element("testsuites", tests=str(len(results)), failures=str(sum(r.failed for r in results)))
    _count_skipped(root, results)
    for path, group in _by_file(results):
        suite = ET.SubElement(
            root,
            "testsuite",
            name=Path(path).name,
            file=path,
            tests=str(len(group)),
            failures=str(sum(r.failed for r in group)),
            time=f"{sum(r.duration for r in group):.3f}",
        )
        _count_skipped(suite, group)
        for result in group:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=Path(path).stem,
                name=result.name,
                file=path,
                line=str(result.line),
                time=f"{result.duration:.3f}",
            )
            if result.skipped:
                ET.SubElement(case, "skipped", message=result.skip_reason)
            elif not result.passed:
                step = result.failing_step
                failure = ET.SubElement(
                    case, "failure", message=headline(result), type=step.outcome if step else "setup"
                )
                failure.text = failure_text(result)
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(
                f"{s.index:>2} {s.actor or '-'} {s.action} => {s.outcome} ({step_flag(s)}) {s.note}"
                for s in result.steps
            )
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _count_skipped(element: ET.Element, results: Sequence[ScenarioResult]) -> None:
    """JUnit's `skipped` count, on a run that left scenarios not run (other runs keep their shape)."""
    skipped = sum(r.skipped for r in results)
    if skipped:
        element.set("skipped", str(skipped))


_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,"IPAGothic","Hiragino Sans","Noto Sans CJK JP",sans-serif;margin:0;color:#222;
background:#f4f6f8}
.page{max-width:1240px;margin:0 auto;padding:16px 20px}
h1{font-size:1.4em;margin:.2em 0} h2{font-size:1.05em;margin:0} .meta{color:#555;font-size:.9em}
table{border-collapse:collapse;width:100%;margin-top:.5em;font-size:.88em;background:#fff;table-layout:fixed}
th,td{border:1px solid #cfd8dc;padding:.3em .5em;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#eceff1;font-weight:600} tr.pass td.outcome{background:#d9f2d9} tr.fail td.outcome{background:#f8d0d0}
tr.skip{color:#999} .badge{padding:.05em .5em;border-radius:.3em;color:#fff;font-size:.85em;white-space:nowrap}
.badge.pass{background:#2e7d32} .badge.fail{background:#c62828} .badge.skip{background:#78909c} small{color:#555}
.totals{display:flex;gap:12px;margin:8px 0 12px} .totals div{background:#fff;border:1px solid #cfd8dc;
border-radius:6px;padding:6px 14px} .totals b{font-size:1.3em} .totals .bad b{color:#c62828}
.totals .good b{color:#2e7d32}
.filters{display:flex;flex-wrap:wrap;gap:16px;align-items:center;background:#fff;border:1px solid #cfd8dc;
border-radius:6px;padding:8px 12px;margin:8px 0} .filters input[type=search]{padding:4px 8px;width:24em;max-width:100%}
#only-failed{position:absolute;opacity:0} label[for=only-failed]{cursor:pointer}
label[for=only-failed]::before{content:"☐ "} #only-failed:checked ~ .page label[for=only-failed]::before{content:"☑ "}
#only-failed:checked ~ .page .scenario.pass,#only-failed:checked ~ .page tr.summary.pass,
#only-failed:checked ~ .page .scenario.skip,#only-failed:checked ~ .page tr.summary.skip{display:none}
details.scenario{background:#fff;border:1px solid #cfd8dc;border-radius:6px;margin:8px 0;padding:6px 12px}
details.scenario.fail{border-left:5px solid #c62828} details.scenario.pass{border-left:5px solid #2e7d32}
details.scenario.skip{border-left:5px solid #78909c}
details.scenario summary{cursor:pointer;display:flex;gap:10px;align-items:baseline;flex-wrap:wrap}
col.n{width:3em} col.r{width:6em} col.f{width:16%} col.w{width:30%} col.t{width:5em} col.s{width:5em}
col.a{width:13%}
col.i{width:6.5em} col.o{width:13%}
@media (max-width:640px){.page{padding:12px}.totals{flex-wrap:wrap;gap:8px}.totals div{padding:4px 10px}
table.summary col.f,table.summary col.s,table.summary col.t,table.summary th:nth-child(4),
table.summary td:nth-child(4),table.summary th:nth-child(5),table.summary td:nth-child(5),
table.summary th:nth-child(7),table.summary td:nth-child(7){display:none}
table.summary col.n{width:2.4em} table.summary col.r{width:4.6em} table.summary col.w{width:44%}
.wide{overflow-x:auto} .wide table{min-width:640px}}
"""

# Keeps the page usable without it: the failures-only box is CSS; the text filter needs this.
_FILTER_JS = """
document.getElementById('filter').addEventListener('input', function (e) {
  var q = e.target.value.toLowerCase();
  document.querySelectorAll('[data-search]').forEach(function (el) {
    el.style.display = el.getAttribute('data-search').indexOf(q) >= 0 ? '' : 'none';
  });
});
"""


def _badge(result: ScenarioResult) -> str:
    return "skip" if result.skipped else ("pass" if result.passed else "fail")


def _failures_first(results: Sequence[ScenarioResult]) -> list[tuple[int, ScenarioResult]]:
    """Failures, then scenarios not run, then passes; each in the run's order."""
    numbered = list(enumerate(results, 1))
    return sorted(numbered, key=lambda item: (item[1].passed, item[1].skipped, item[0]))


def _summary_rows(ordered: list[tuple[int, ScenarioResult]]) -> list[str]:
    e = html.escape
    rows = []
    for number, result in ordered:
        badge = _badge(result)
        step = result.failing_step
        where = (
            f"手順 {step.index}（{e(step.action)}）: 期待 {e(step.expectation)} → {e(step.outcome)}"
            if step
            else e(result.error or result.skip_reason)
        )
        search = e(f"{result.name} {result.path} {' '.join(result.tags)} {badge}".lower())
        rows.append(
            f'<tr class="summary {badge}" data-search="{search}"><td>{number}</td>'
            f'<td><span class="badge {badge}">{badge.upper()}</span></td>'
            f'<td><a href="#s{number}">{e(result.name)}</a></td>'
            f"<td><small>{e(Path(result.path).name)}:{result.line}</small></td>"
            f"<td>{len(result.steps)}</td><td>{where}</td><td>{result.duration:.2f} s</td></tr>"
        )
    return rows


def _steps_table(result: ScenarioResult) -> str:
    e = html.escape
    parts = [
        '<div class="wide"><table><colgroup><col class="i"><col class="a"><col class="a">'
        '<col class="o"><col class="o"><col>'
        "</colgroup><tr><th>手順<br><small>step</small></th><th>担当<br><small>actor</small></th>"
        "<th>操作<br><small>action</small></th><th>期待<br><small>expected</small></th>"
        "<th>結果<br><small>outcome</small></th><th>説明<br><small>explanation</small></th></tr>"
    ]
    for s in result.steps:
        css = "skip" if s.skipped else ("pass" if s.passed else "fail")
        why = "<br>".join(
            f"<small>{e(LABELS[k])}:</small> {e(str(s.explanation[k]))}"
            for k in ("code", "message", "detail", "fix")
            if s.explanation.get(k)
        )
        if s.note and s.explanation.get("detail") != s.note:
            why = (why + "<br>" if why else "") + e(s.note)
        parts.append(
            f'<tr class="{css}"><td>{s.index}<br><small>{s.line} 行目<br>line {s.line}</small></td>'
            f"<td>{e(s.actor or '-')}</td>"
            f"<td>{e(s.action)}</td><td>{e(s.expectation)}</td>"
            f'<td class="outcome">{e(s.outcome)}</td><td>{why}</td></tr>'
        )
    parts.append("</table></div>")
    return "".join(parts)


def to_html(results: Sequence[ScenarioResult], *, title: str = "careplan-sim シナリオ結果 / scenario results") -> str:
    """One page: totals, a summary table (failures first, each row linking to its scenario), a
    failures-only switch and a text filter, then each scenario folded (failures open)."""
    e = html.escape
    passed = sum(r.passed for r in results)
    failed = sum(r.failed for r in results)
    skipped = sum(r.skipped for r in results)
    not_run_box = f"<div>未実行 / not run <b>{skipped}</b></div>" if skipped else ""
    ordered = _failures_first(results)
    parts = [
        f'<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><title>{e(title)}</title>',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<style>{_CSS}</style></head><body>",
        '<input type="checkbox" id="only-failed">',  # a sibling of .page: the switch works without JS
        f'<div class="page"><h1>{e(title)}</h1>',
        f'<div class="totals"><div>シナリオ / scenarios <b>{len(results)}</b></div>'
        f'<div class="good">成功 / passed <b>{passed}</b></div><div class="bad">失敗 / failed <b>{failed}</b></div>'
        f"{not_run_box}<div>時間 / time <b>{sum(r.duration for r in results):.1f}</b> s</div></div>",
        '<div class="filters"><label for="only-failed">失敗のみ表示 / failures only</label>'
        '<label>絞り込み / filter <input type="search" id="filter" '
        'placeholder="名前・ファイル・タグ / name, file, tag"></label></div>',
        '<h2 id="summary">一覧（失敗が先） / summary, failures first</h2>',
        '<table class="summary"><colgroup><col class="n"><col class="r"><col class="w"><col class="f">'
        '<col class="s"><col>'
        '<col class="t"></colgroup>'
        "<tr><th>#</th><th>結果<br><small>result</small></th><th>シナリオ<br><small>scenario</small></th>"
        "<th>ファイル<br><small>file</small></th><th>手順数<br><small>steps</small></th>"
        "<th>失敗した手順<br><small>failing step</small></th><th>時間<br><small>time</small></th></tr>",
        *_summary_rows(ordered),
        "</table>",
        '<h2 style="margin-top:1.2em">詳細 / details</h2>',
    ]
    for number, result in ordered:
        badge = _badge(result)
        search = e(f"{result.name} {result.path} {' '.join(result.tags)} {badge}".lower())
        fold = "" if result.passed or result.skipped else " open"
        parts.append(
            f'<details class="scenario {badge}" id="s{number}" data-search="{search}"{fold}>'
            f'<summary><span class="badge {badge}">{badge.upper()}</span><h2>{e(result.name)}</h2>'
            f'<span class="meta">{e(result.path)}:{result.line} · タグ / tags: {e(", ".join(result.tags) or "-")}'
            f' · {result.duration:.2f} s · <a href="#summary">一覧へ / summary</a></span></summary>'
        )
        if result.error:
            parts.append(f"<p><strong>{e(error_label(result))}:</strong> {e(result.error)}</p>")
        if result.skipped:
            parts.append(f"<p><strong>{e(NOT_RUN_LABEL)}:</strong> {e(result.skip_reason)}</p>")
        parts.append(_steps_table(result))
        parts.append("</details>")
    parts.append(f"</div><script>{_FILTER_JS}</script></body></html>\n")
    return "".join(parts)
