"""Scenario results as JSON, JUnit XML (one testsuite per file, one testcase per scenario) and a
single-file HTML page (inline CSS, one table per scenario)."""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path

from scenarios.results import ScenarioResult, StepResult


def _by_file(results: Sequence[ScenarioResult]) -> list[tuple[str, list[ScenarioResult]]]:
    ordered = sorted(results, key=lambda r: r.path)
    return [(path, list(group)) for path, group in groupby(ordered, key=lambda r: r.path)]


def to_json(results: Sequence[ScenarioResult]) -> str:
    summary = {
        "scenarios": len(results),
        "passed": sum(r.passed for r in results),
        "failed": sum(not r.passed for r in results),
    }
    return json.dumps({"summary": summary, "results": [r.to_json() for r in results]}, ensure_ascii=False, indent=1)


def explain(step: StepResult) -> str:
    """What went wrong at a step, with the hub's own explanation."""
    lines = [f"step {step.index} (line {step.line}): {step.actor or '-'} {step.action}"]
    lines.append(f"  expected: {step.expectation}")
    lines.append(f"  outcome:  {step.outcome}" + (f" — {step.note}" if step.note else ""))
    for key in ("code", "message", "detail", "fix"):
        if step.explanation.get(key):
            lines.append(f"  {key}: {step.explanation[key]}")
    return "\n".join(lines)


def failure_text(result: ScenarioResult) -> str:
    if result.error:
        return f"setup failed: {result.error}"
    step = result.failing_step
    return explain(step) if step else ""


def to_junit(results: Sequence[ScenarioResult]) -> str:
    root = ET.Element("testsuites", tests=str(len(results)), failures=str(sum(not r.passed for r in results)))
    for path, group in _by_file(results):
        suite = ET.SubElement(
            root,
            "testsuite",
            name=Path(path).name,
            file=path,
            tests=str(len(group)),
            failures=str(sum(not r.passed for r in group)),
            time=f"{sum(r.duration for r in group):.3f}",
        )
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
            if not result.passed:
                step = result.failing_step
                headline = (
                    f"step {step.index}: expected {step.expectation}, got {step.outcome}" if step else result.error
                )
                failure = ET.SubElement(case, "failure", message=headline, type=step.outcome if step else "setup")
                failure.text = failure_text(result)
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(
                f"{s.index:>2} {s.actor or '-'} {s.action} => {s.outcome} ({'pass' if s.passed else 'FAIL'}) {s.note}"
                for s in result.steps
            )
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


_CSS = """
body{font-family:system-ui,"Hiragino Sans","Noto Sans CJK JP",sans-serif;margin:2em;color:#222}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:2em} .meta{color:#666;font-size:.9em}
table{border-collapse:collapse;width:100%;margin-top:.5em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3} tr.pass td.outcome{background:#d9f2d9} tr.fail td.outcome{background:#f8d0d0}
tr.skip{color:#999} .badge{padding:.1em .5em;border-radius:.3em;color:#fff}
.badge.pass{background:#2e7d32} .badge.fail{background:#c62828} small{color:#555}
"""


def to_html(results: Sequence[ScenarioResult], *, title: str = "careplan-sim scenarios") -> str:
    e = html.escape
    passed = sum(r.passed for r in results)
    parts = [
        f'<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><title>{e(title)}</title>',
        f"<style>{_CSS}</style></head><body><h1>{e(title)}</h1>",
        f'<p class="meta">{passed} of {len(results)} scenarios passed</p>',
    ]
    for result in results:
        badge = "pass" if result.passed else "fail"
        parts.append(
            f'<h2><span class="badge {badge}">{badge.upper()}</span> {e(result.name)}</h2>'
            f'<p class="meta">{e(result.path)}:{result.line} · tags: {e(", ".join(result.tags) or "-")}'
            f" · {result.duration:.2f} s</p>"
        )
        if result.error:
            parts.append(f"<p><strong>setup failed:</strong> {e(result.error)}</p>")
        parts.append(
            "<table><tr><th>step</th><th>actor</th><th>action</th><th>expectation</th>"
            "<th>outcome</th><th>explanation</th></tr>"
        )
        for s in result.steps:
            css = "skip" if s.skipped else ("pass" if s.passed else "fail")
            why = "<br>".join(
                f"<small>{k}:</small> {e(str(s.explanation[k]))}"
                for k in ("code", "message", "detail", "fix")
                if s.explanation.get(k)
            )
            if s.note and s.explanation.get("detail") != s.note:
                why = (why + "<br>" if why else "") + e(s.note)
            parts.append(
                f'<tr class="{css}"><td>{s.index} <small>(line {s.line})</small></td><td>{e(s.actor or "-")}</td>'
                f"<td>{e(s.action)}</td><td>{e(s.expectation)}</td>"
                f'<td class="outcome">{e(s.outcome)}</td><td>{why}</td></tr>'
            )
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "".join(parts)
