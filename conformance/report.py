"""A conformance run as JSON (the record), JUnit XML (one testcase per step; not run = skipped) and
one self-contained HTML page: a coverage matrix (requirement or 標準仕様 § → steps → verdict), the
evidence of every step, and with `compare` what changed against a known-good run. The run comes
with its secrets already masked as *** (conformance.kit rule 4) and, when any was, the note
`redacted`, shown beside the adapter's command line."""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from conformance.judges import FAIL, NOT_RUN, PASS

STATUS_JA = {PASS: "合格", FAIL: "不合格", NOT_RUN: "未実施"}
STATUS_EN = {PASS: "pass", FAIL: "fail", NOT_RUN: "not run"}
PARTIAL = "partial"  # a requirement some of whose steps passed and the rest did not run


def summary(run: Mapping[str, Any]) -> dict[str, int]:
    counts = Counter(s["status"] for s in run["steps"])
    return {"steps": len(run["steps"]), PASS: counts[PASS], FAIL: counts[FAIL], NOT_RUN: counts[NOT_RUN]}


def coverage(run: Mapping[str, Any]) -> dict[str, list[dict[str, str]]]:
    """requirement → [{step, status}], requirements in a stable order (R-numbers, then §s)."""
    matrix: dict[str, list[dict[str, str]]] = {}
    for step in run["steps"]:
        for ref in step["refs"]:
            matrix.setdefault(ref, []).append({"step": step["id"], "status": step["status"]})
    return dict(sorted(matrix.items(), key=lambda item: (not item[0].startswith("R"), item[0])))


def baseline_of(value: object) -> Mapping[str, Any]:
    """A conformance.json read back for `--compare`, or ValueError saying what in it is not one:
    an object whose `steps` are objects, each with the `id` and `status` of a step."""
    if not isinstance(value, dict):
        raise ValueError(f"not an object but {type(value).__name__}")
    steps = value.get("steps")
    if not isinstance(steps, list):
        raise ValueError("its 'steps' is not a list")
    for number, step in enumerate(steps, 1):
        if not (isinstance(step, dict) and isinstance(step.get("id"), str) and isinstance(step.get("status"), str)):
            raise ValueError(f"step {number} has no 'id' and 'status'")
    return value


def compare(run: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[dict[str, str]]:
    """Steps whose verdict differs from the baseline's (new and vanished steps included)."""
    before = {s["id"]: s["status"] for s in baseline.get("steps", [])}
    now = {s["id"]: s["status"] for s in run["steps"]}
    return [
        {"step": sid, "baseline": before.get(sid, "absent"), "now": now.get(sid, "absent")}
        for sid in [*now, *(s for s in before if s not in now)]
        if before.get(sid, "absent") != now.get(sid, "absent")
    ]


def to_json(run: Mapping[str, Any], baseline: Mapping[str, Any] | None = None) -> str:
    record = {**run, "summary": summary(run), "coverage": coverage(run)}
    if baseline is not None:
        record["changes"] = compare(run, baseline)
    return json.dumps(record, ensure_ascii=False, indent=1)


def to_junit(run: Mapping[str, Any]) -> str:
    counts = summary(run)
    suite = ET.Element(
        "testsuite",
        name=f"conformance client {run['office']}",
        tests=str(counts["steps"]),
        failures=str(counts[FAIL]),
        skipped=str(counts[NOT_RUN]),
        time=f"{sum(s['duration'] for s in run['steps']):.3f}",
    )
    for step in run["steps"]:
        case = ET.SubElement(
            suite,
            "testcase",
            classname="conformance." + step["id"].split(".")[0],
            name=step["id"],
            time=f"{step['duration']:.3f}",
        )
        text = (
            f"想定 / expected: {step['expected']}\n結果 / arrived: {step['arrived']}\n"
            f"要件 / refs: {', '.join(step['refs'])}"
        )
        if step["status"] == FAIL:
            ET.SubElement(case, "failure", message=step["reason"]).text = text
        elif step["status"] == NOT_RUN:
            ET.SubElement(case, "skipped", message=step["reason"])
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


_CSS = """
body{font-family:"IPAGothic","Noto Sans CJK JP",sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top;text-align:left}
th{background:#f3f3f3;white-space:nowrap}.pass{background:#dff5e1}.partial{background:#eef7e0}.fail{background:#fde2e1}.not_run{background:#eee;color:#666}
.badge{display:inline-block;padding:.05em .5em;margin:.1em;border-radius:.6em;font-size:.9em}
details{margin:.3em 0}pre{white-space:pre-wrap;background:#fafafa;border:1px solid #eee;padding:.5em;font-size:.85em}
.summary span{margin-right:1.5em}.note{font-weight:bold}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _badge(step: str, status: str) -> str:
    return f'<a href="#{_e(step)}" class="badge {status}">{_e(step)} {STATUS_JA[status]}</a>'


_MATRIX_JA = STATUS_JA | {PARTIAL: "一部合格"}


def _verdict(statuses: set[str]) -> str:
    if FAIL in statuses:
        return FAIL
    if statuses == {PASS}:
        return PASS
    return PARTIAL if PASS in statuses else NOT_RUN


def _matrix(run: Mapping[str, Any]) -> str:
    rows = []
    for ref, steps in coverage(run).items():
        verdict = _verdict({s["status"] for s in steps})
        badges = " ".join(_badge(s["step"], s["status"]) for s in steps)
        rows.append(f'<tr><th>{_e(ref)}</th><td class="{verdict}">{_MATRIX_JA[verdict]}</td><td>{badges}</td></tr>')
    head = "<tr><th>要件・標準仕様 / requirement</th><th>判定 / verdict</th><th>ステップ / steps</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _step(step: Mapping[str, Any]) -> str:
    evidence = json.dumps(step["evidence"], ensure_ascii=False, indent=1)
    adapter = json.dumps(step["adapter"], ensure_ascii=False, indent=1)
    return (
        f'<tr id="{_e(step["id"])}" class="{step["status"]}">'
        f"<td>{_e(step['id'])}<br><small>{_e(', '.join(step['refs']))}</small></td>"
        f"<td>{_e(step['title']['ja'])}<br><small>{_e(step['title']['en'])}</small></td>"
        f"<td>{STATUS_JA[step['status']]} / {STATUS_EN[step['status']]}<br><small>{_e(step['reason'])}</small></td>"
        f"<td><b>想定 / expected</b> {_e(step['expected'])}<br><b>結果 / arrived</b> {_e(step['arrived'])}"
        f"<details><summary>ハブの証跡 / evidence (hub)</summary><pre>{_e(evidence)}</pre></details>"
        f"<details><summary>アダプタの応答 / adapter</summary><pre>{_e(adapter)}</pre></details></td></tr>"
    )


def _changes(changes: Sequence[Mapping[str, str]]) -> str:
    if not changes:
        return "<p>基準の実行から変わった判定はありません / No change against the baseline.</p>"
    rows = "".join(
        f"<tr><td>{_e(c['step'])}</td><td>{_e(c['baseline'])}</td><td>{_e(c['now'])}</td></tr>" for c in changes
    )
    head = "<tr><th>ステップ / step</th><th>基準 / baseline</th><th>今回 / now</th></tr>"
    return f"<table>{head}{rows}</table>"


def to_html(run: Mapping[str, Any], baseline: Mapping[str, Any] | None = None) -> str:
    counts = summary(run)
    note = f'<span class="note">{_e(run["redacted"])}</span>' if run.get("redacted") else ""  # *** = withheld
    head = (
        f'<p class="summary"><span>ハブ / hub {_e(run["hub"])}</span><span>事業所番号 {_e(run["office"])}</span>'
        f"<span>アダプタ / adapter {_e(run['adapter'])}</span>{note}"
        f"<span>{_e(run['started'])} – {_e(run['finished'])}</span></p>"
        f'<p class="summary"><span class="badge pass">合格 / pass {counts[PASS]}</span>'
        f'<span class="badge fail">不合格 / fail {counts[FAIL]}</span>'
        f'<span class="badge not_run">未実施 / not run {counts[NOT_RUN]}</span>'
        f"<span>全 {counts['steps']} ステップ / {counts['steps']} steps</span></p>"
    )
    compared = (
        f"<h2>基準の実行との違い / Changes against the baseline</h2>{_changes(compare(run, baseline))}"
        if baseline is not None
        else ""
    )
    steps = "".join(_step(s) for s in run["steps"])
    return (
        '<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>適合性確認レポート</title>'
        f"<style>{_CSS}</style></head><body><h1>クライアント適合性確認 / client conformance</h1>{head}"
        f"<h2>網羅表 / Coverage matrix</h2>{_matrix(run)}{compared}"
        f"<h2>ステップ / Steps</h2><table><tr><th>ステップ / step</th><th>指示 / instruction</th>"
        f"<th>判定 / verdict</th><th>証跡 / evidence</th></tr>{steps}</table>"
        "</body></html>"
    )


def write(run: Mapping[str, Any], folder: Path, baseline: Mapping[str, Any] | None = None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    outputs = {
        "conformance.json": to_json(run, baseline),
        "conformance-junit.xml": to_junit(run),
        "conformance.html": to_html(run, baseline),
    }
    for name, text in outputs.items():
        (folder / name).write_text(text, "utf-8")
    return [folder / name for name in outputs]
