"""What `careplan scenarios` prints is Japanese first with the English beside it, within 80 display
columns (a CJK glyph takes 2): the result lines, the step lines, a failing step's labels, the totals
and `list`; the notes of passing steps too. The JUnit XML and the JSON report keep their structure
and keys, which CI systems and scripts parse."""

from __future__ import annotations

import ast
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.cells import cell_len

from careplan.errors import is_japanese
from careplan_cli.scenarios import main
from scenarios import report
from scenarios.loader import LIBRARY, load_file
from scenarios.results import ScenarioResult
from scenarios.runner import run_scenario
from tests.scenarios.test_scenarios import FAILING
from tests.test_translations import _literal_text

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal wider than 80 columns: the output still keeps to 80."""
    monkeypatch.setenv("COLUMNS", "200")


def _fits(out: str) -> None:
    wide = [line for line in out.splitlines() if cell_len(line) > 80]
    assert not wide, wide


@pytest.mark.usefixtures("wide_terminal")
def test_a_failing_run_prints_japanese_labels_and_totals_within_80_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wrong.yaml"
    path.write_text(FAILING, "utf-8")
    assert main(["run", str(path)]) == 1
    out = capsys.readouterr().out
    _fits(out)
    lines = out.splitlines()
    assert lines[0].startswith("失敗 FAIL ") and "wrong.yaml:1" in lines[0]
    assert lines[-1] == "成功 1 件・失敗 1 件 / 1 passed, 1 failed"
    assert any(line.startswith("成功 PASS ") and line.endswith("wrong.yaml:16  通る") for line in lines)
    # the failing scenario's steps: flags in both languages, the actions lined up under each other
    steps = [line for line in lines if re.match(r" +\d+ (成功 ok|失敗 FAIL|省略 skip)", line)]
    assert [line.split()[1:3] for line in steps] == [["成功", "ok"], ["失敗", "FAIL"], ["省略", "skip"]]
    actions = [re.search(r"(login|send|inbox) ", line) for line in steps]
    assert len({cell_len(line[: found.start()]) for line, found in zip(steps, actions, strict=True) if found}) == 1, (
        steps
    )
    # the failing step's explanation: Japanese labels with the English, the hub's words as values
    assert "      ステップ 2（10 行目） / step 2 (line 10): 居宅A send {plan_to: 訪問B}" in lines
    for label in ("想定 / expected:", "結果 / outcome:", "コード / code:", "メッセージ / message:", "対処 / fix:"):
        assert any(line.strip().startswith(label) for line in lines), label
    assert "コード / code:        RECIPIENT_NOT_LICENSED" in out
    assert "送信先事業所に利用申請" in out  # the hub's fix in Japanese, its English below it
    assert "ask it to apply" in out


@pytest.mark.usefixtures("wide_terminal")
def test_a_passing_run_with_every_step_and_the_list_fit_80_columns(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(LIBRARY / "licensing.yaml"), "-v"]) == 0
    out = capsys.readouterr().out
    _fits(out)
    lines = out.splitlines()
    assert lines[-1] == "成功 9 件・失敗 0 件 / 9 passed, 0 failed"
    assert lines[1] == "  番号 判定 担当 操作 想定 → 結果 / # result actor action expected → outcome"
    assert out.count("成功 PASS ") == 9 and "失敗 FAIL" not in out
    assert "    1 成功 ok   居宅A  send {plan_to: 訪問B}  想定 RECIPIENT_NOT_LICENSED 「送信" in out

    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    _fits(listed)
    assert "    [licensing, R3]  9 ステップ / 9 steps" in listed.splitlines()
    assert "    [impersonation, R2]  1 ステップ / 1 step" in listed.splitlines()
    assert re.search(r"^シナリオ (\d+) 件 / \1 scenarios$", listed, re.M)


def test_hub_without_data_is_a_usage_error_in_both_languages(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["run", "--hub", "https://127.0.0.1:1"])
    assert done.value.code == 2
    err = capsys.readouterr().err.splitlines()
    japanese = err.index("careplan scenarios run: 使い方の誤り: --hub URL と --data DIR は一緒に指定します")
    assert err[japanese + 1].startswith("careplan scenarios run: error: --hub URL and --data DIR go together")
    assert err[-1] == "（使い方 / usage: careplan scenarios run --help）"
    _fits("\n".join(err[japanese:]))


def _shape(element: ET.Element) -> tuple[object, ...]:
    """An element's tag, attribute names and children's shapes: the structure without the texts."""
    return (element.tag, sorted(element.attrib), [_shape(child) for child in element])


async def test_junit_and_json_keep_their_structure(tmp_path: Path) -> None:
    failing, passing = load_file(_write(tmp_path))
    results = [await run_scenario(failing), await run_scenario(passing)]
    root = ET.fromstring(report.to_junit(results))
    case = ["testcase", ["classname", "file", "line", "name", "time"]]
    assert _shape(root) == (
        "testsuites",
        ["failures", "tests"],
        [
            (
                "testsuite",
                ["failures", "file", "name", "tests", "time"],
                [
                    (*case, [("failure", ["message", "type"], []), ("system-out", [], [])]),
                    (*case, [("system-out", [], [])]),
                ],
            )
        ],
    )
    suite = root[0]
    assert suite.get("name") == "wrong.yaml"
    assert [c.get("name") for c in suite] == [failing.name, "通る"]
    assert [c.get("classname") for c in suite] == ["wrong", "wrong"]
    failure = suite[0].find("failure")
    assert failure is not None and failure.get("type") == "RECIPIENT_NOT_LICENSED"
    assert failure.get("message") == (
        "ステップ 2: 想定 ok、結果 RECIPIENT_NOT_LICENSED / step 2: expected ok, got RECIPIENT_NOT_LICENSED"
    )
    assert (failure.text or "").startswith("ステップ 2（10 行目） / step 2 (line 10): 居宅A send")
    out = suite[0].find("system-out")
    assert out is not None and " (失敗 FAIL) " in (out.text or "") and " (省略 skip) " in (out.text or "")

    data = json.loads(report.to_json(results))
    # the keys it had, and since a run may leave scenarios not run (its hub out of reach): skipped;
    # since a run stopped by Ctrl-C (exit 130) is marked: interrupted, always there
    summary = ["failed", "passed", "scenarios", "skipped"]
    assert sorted(data) == ["interrupted", "results", "summary"] and sorted(data["summary"]) == summary
    assert data["interrupted"] is False
    keys = ["duration", "error", "line", "name", "passed", "path", "skip_reason", "skipped", "steps", "tags"]
    assert sorted(data["results"][0]) == keys
    assert sorted(data["results"][0]["steps"][0]) == [
        "action",
        "actor",
        "duration",
        "expectation",
        "explanation",
        "index",
        "line",
        "note",
        "outcome",
        "passed",
        "skipped",
    ]


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "wrong.yaml"
    path.write_text(FAILING, "utf-8")
    return path


def test_a_setup_failure_reads_japanese_then_english() -> None:
    result = ScenarioResult(name="x", path="x.yaml", line=1, tags=(), error="OSError: boom")
    assert report.failure_text(result) == "準備に失敗しました / setup failed: OSError: boom"
    assert report.headline(result) == "準備に失敗しました / setup failed: OSError: boom"


def test_a_scenario_that_failed_in_its_setup_prints_no_empty_step_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No step ran: neither the steps' legend nor an empty line stands above the setup failure."""
    failed = ScenarioResult(name="x", path="x.yaml", line=1, tags=(), error="OSError: boom")
    monkeypatch.setattr("scenarios.runner.run", lambda scenarios, *, on_result, **_: on_result(failed))
    assert main(["run", str(LIBRARY / "licensing.yaml")]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == [
        "      準備に失敗しました / setup failed: OSError: boom",
        "成功 0 件・失敗 1 件 / 0 passed, 1 failed",
    ]


@pytest.mark.parametrize("where", [["--tag", "no-such-tag"], ["EMPTY"]])
def test_no_scenario_to_run_is_not_a_green_run(
    where: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped --tag or an empty folder ran nothing and said 0 passed, 0 failed with exit 0."""
    argv = [str(tmp_path) if w == "EMPTY" else w for w in where]
    assert main(["run", *argv]) == 2
    err = capsys.readouterr().err
    _fits(err)
    said = " ".join(err.split())
    folded_anywhere = said.replace(" ", "")  # where a line folds depends on the path's length
    assert folded_anywhere.startswith("careplanscenarios:実行するシナリオがありません（"), said
    assert "no scenario to run in" in said and "careplan scenarios list shows names and tags" in said


def test_a_report_that_cannot_be_written_is_said_before_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--html DIR (a folder) or --junit under a file failed only after every scenario had run."""
    monkeypatch.setattr("scenarios.runner.run", lambda *_, **__: pytest.fail("the suite ran"))
    (tmp_path / "a-file").write_text("")
    for option in (["--html", str(tmp_path)], ["--junit", str(tmp_path / "a-file" / "j.xml")]):
        with pytest.raises(OSError, match=r"Is a directory|File exists"):  # careplan_cli.main: exit 2
            main(["run", str(LIBRARY / "licensing.yaml"), *option])


def test_ctrl_c_still_reports_and_writes_what_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Results were printed and the reports written only once every scenario had run: a suite
    stopped with Ctrl-C after minutes said 中断しました and nothing else, and left no report."""
    done = ScenarioResult(name="x", path="x.yaml", line=1, tags=())

    def interrupted(scenarios: list[object], *, on_result: object, **_: object) -> None:
        on_result(done)  # type: ignore[operator]
        raise KeyboardInterrupt

    monkeypatch.setattr("scenarios.runner.run", interrupted)
    with pytest.raises(KeyboardInterrupt):  # careplan_cli.main says 中断しました and exits 130
        main(["run", str(LIBRARY / "licensing.yaml"), "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    total = len(load_file(LIBRARY / "licensing.yaml"))
    assert out.splitlines()[-2:] == [
        "成功 1 件・失敗 0 件 / 1 passed, 0 failed",
        f"{total} 件中 1 件を実行して中断 / interrupted after 1 of {total}",
    ]
    _fits(out)
    written = json.loads((tmp_path / "r.json").read_text("utf-8"))
    assert [s["name"] for s in written["results"]] == ["x"]
    assert written["interrupted"] is True  # exit 130 said it; the report did not


# --- the notes of passing steps: one line, 日本語 / English --------------------------------------------
NOTE_SHAPE = re.compile(r"(?P<ja>[^\n]+?) / (?P<en>[^\n]*[A-Za-z]{2}[^\n]*)")


def _notes(path: Path) -> list[tuple[int, str]]:
    """The note of every `return value, note` of an action (a literal, or what a name is assigned)."""
    found = []
    for function in ast.walk(ast.parse(path.read_text("utf-8"))):
        if not isinstance(function, ast.AsyncFunctionDef):
            continue
        assigned: dict[str, list[ast.expr]] = {}
        for node in ast.walk(function):
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                assigned.setdefault(node.targets[0].id, []).append(node.value)
        for node in ast.walk(function):
            if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple) and len(node.value.elts) == 2:
                note = node.value.elts[1]
                values = assigned.get(note.id, []) if isinstance(note, ast.Name) else [note]
                found += [(value.lineno, _literal_text(value)) for value in values]
    return found


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios" / "actions").glob("*.py")), ids=lambda p: p.name)
def test_every_note_of_an_action_is_japanese_then_english(path: Path) -> None:
    for line, text in _notes(path):
        if not any(c.isalpha() for c in text):
            continue  # a value passed through
        shape = NOTE_SHAPE.fullmatch(text)
        assert shape and is_japanese(shape["ja"]), f"{path.name}:{line}: {text!r}"


async def test_the_notes_of_a_played_month_read_japanese_then_english() -> None:
    (scenario,) = load_file(LIBRARY / "trainer-month.yaml")
    result = await run_scenario(scenario)
    assert result.passed, report.failure_text(result)
    for step in result.steps:
        shape = NOTE_SHAPE.fullmatch(step.note)
        if step.outcome == "ok":
            assert shape and is_japanese(shape["ja"]), (step.action, step.note)


def test_usage_and_scenario_file_errors_fold_within_the_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An argparse usage error and a scenario file's error were one line each, 100-160 columns: both
    fold within the width ($COLUMNS here, as a piped run's 80), every word whole."""
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit):
        main(["bogus.yaml"])
    usage = capsys.readouterr().err
    _fits(usage)
    assert "'bogus.yaml'" in usage and "'run', 'list'" in " ".join(usage.split())
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: t\nofices:\n  a: {}\nsteps: []\n", encoding="utf-8")
    assert main(["run", str(broken)]) == 2
    err = capsys.readouterr().err
    _fits(err)
    lines = err.splitlines()
    head = "careplan scenarios: シナリオファイルを読み込めません / cannot read the scenario file"
    assert " ".join(" ".join(lines[:2]).split()) == head
    assert lines[2].startswith("  broken.yaml:2: ") and len(lines) > 3
    assert all(line.startswith("  ") for line in lines[1:])
    assert "unknown key 'ofices'" in " ".join(err.split())
