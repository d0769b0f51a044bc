"""Scenario files: the library passes, failures carry the hub's explanation, bad files name their line."""

from __future__ import annotations

import json
import re
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from careplan_cli.scenarios import main
from scenarios import report
from scenarios.loader import LIBRARY, ScenarioError, load_file, load_paths, office_number_for
from scenarios.runner import run_scenario

LIBRARY_SCENARIOS = load_paths([LIBRARY])


def test_library_covers_the_brief() -> None:
    tags = {t for s in LIBRARY_SCENARIOS for t in s.tags}
    assert {"licensing", "impersonation", "format", "download", "trainer"} <= tags


@pytest.mark.parametrize("scenario", LIBRARY_SCENARIOS, ids=lambda s: f"{s.path.stem}:{s.line}")
async def test_library_scenario_passes(scenario) -> None:  # type: ignore[no-untyped-def]
    result = await run_scenario(scenario)
    assert result.passed, report.failure_text(result)
    assert all(s.passed and not s.skipped for s in result.steps)


FAILING = """\
name: 未申請の受信者に送れるはず (deliberately wrong)
tags: [demo]
clock: 2026-04-10T10:00:00+09:00
offices:
  居宅A: {kind: "43"}
  訪問B: {kind: "11", licence: none}
steps:
  - as: 居宅A
    login: {}
  - as: 居宅A
    send: {plan_to: 訪問B}
    expect: ok
  - as: 訪問B
    inbox: {expect_count: 1}
---
name: 通る
clock: 2026-04-10T10:00:00+09:00
offices:
  居宅A: {kind: "43"}
steps:
  - as: 居宅A
    login: {}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), "utf-8")
    return path


async def test_failing_scenario_names_the_step_and_the_hub_explanation(tmp_path: Path) -> None:
    failing, passing = load_file(write(tmp_path, "wrong.yaml", FAILING))
    result = await run_scenario(failing)
    assert not result.passed
    step = result.failing_step
    assert step is not None and step.index == 2 and step.line == 10
    assert step.outcome == "RECIPIENT_NOT_LICENSED"
    assert step.explanation["message"].startswith("送信に失敗しました。送信先事業所が")
    assert step.explanation["detail"] and step.explanation["fix"]
    assert result.steps[2].skipped
    ok = await run_scenario(passing)

    root = ET.fromstring(report.to_junit([result, ok]))
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "wrong.yaml" and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    failure = cases[failing.name].find("failure")
    assert failure is not None and cases["通る"].find("failure") is None
    assert "step 2 (line 10)" in (failure.text or "")
    assert "RECIPIENT_NOT_LICENSED" in (failure.text or "")
    assert re.search(rf"fix: +{re.escape(step.explanation['fix'])}", failure.text or "")

    page = report.to_html([result, ok])
    assert "RECIPIENT_NOT_LICENSED" in page and "<style>" in page
    # A step's explanation is labelled in Japanese with the English, as on the terminal.
    assert "<small>コード / code:</small> RECIPIENT_NOT_LICENSED" in page
    assert "<small>10 行目<br>line 10</small>" in page
    # The summary table on top lists failures first and links each scenario; the failure is open.
    summary = page[page.index('id="summary"') : page.index("詳細 / details")]
    assert summary.index(failing.name) < summary.index("通る")
    assert 'href="#s1"' in summary and 'id="s1"' in page and 'class="scenario fail" id="s1"' in page
    assert 'id="only-failed"' in page and 'id="filter"' in page and "failures only" in page
    data = json.loads(report.to_json([result, ok]))
    assert data["summary"] == {"scenarios": 2, "passed": 1, "failed": 1, "skipped": 0}


def test_cli_runs_lists_and_writes_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "wrong.yaml", FAILING)
    junit, html, data = tmp_path / "out" / "j.xml", tmp_path / "r.html", tmp_path / "r.json"
    code = main(["run", str(path), "--junit", str(junit), "--html", str(html), "--json", str(data)])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL" in out and "PASS" in out and "成功 1 件・失敗 1 件 / 1 passed, 1 failed" in out
    assert ET.parse(junit).getroot().get("failures") == "1"
    assert html.read_text("utf-8").startswith("<!DOCTYPE html>")
    written = json.loads(data.read_text("utf-8"))
    assert written["summary"]["failed"] == 1 and written["interrupted"] is False  # ran to its end
    assert main(["run", str(path), "--tag", "nothing-has-this"]) == 2  # nothing ran: not a green run
    assert main(["list"]) == 0
    assert "licensing.yaml" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            """\
            name: x
            clock: 2026-04-10T10:00:00+09:00
            offices:
              居宅A: {kind: "43"}
              訪問B: {kind: "11"}
            steps:
              - as: 居宅A
                login: {}
              - as: 居宅A
                login: {}
              - as: 居宅A
                sned: {plan_to: 訪問B}
            """,
            "bad.yaml:12: ステップ 3: 'sned' というアクションはありません / unknown action 'sned'",
        ),
        (
            """\
            name: x
            clock: 2026-04-10T10:00:00+09:00
            offices:
              居宅A: {kind: "43"}
            steps:
              - as: 居宅A#0
                login: {}
            """,
            "bad.yaml:6: ステップ 1: '居宅A#0' の端末番号は 1 以上の整数で書きます"
            " / terminal number in '居宅A#0' must be 1 or more",
        ),
        (
            """\
            name: x
            clock: 2026-04-10T10:00:00+09:00
            offices:
              居宅A: {kind: "43", licence: maybe}
            steps:
              - as: 居宅A
                login: {}
            """,
            "bad.yaml:4: 事業所 '居宅A' の licence 'maybe' は使えません（none, applied, valid のいずれか）"
            " / office '居宅A': licence 'maybe' is not one of those listed",
        ),
        (
            """\
            name: x
            clock: 2026-04-10T10:00:00+09:00
            offices:
              居宅A: {kind: "43"}
            steps:
              - as: 居宅Z
                login: {}
            """,
            "bad.yaml:6: ステップ 1: 事業所 '居宅Z' は offices に書かれていません / unknown office '居宅Z'",
        ),
        (
            """\
            name: x
            clock: 2026-04-10T10:00:00+09:00
            offices:
              居宅A: {kind: "43"}
            steps:
              - as: 居宅A
                send: {broken: no-such-variant, to: 居宅A}
            """,
            "bad.yaml:7: ステップ 1: send: 壊れたデータ 'no-such-variant' はありません"
            "（careplan fixtures broken で一覧できます） / no broken variant 'no-such-variant'",
        ),
        (
            """\
            name: x
            clock: 2026-04-10T10:00:00+09:00
            offices:
              居宅A: {kind: "43"}
            steps:
              - as: 居宅A
                login: {}
                expect: {error: NOT_A_CODE}
            """,
            "bad.yaml:8: ステップ 1: expect のエラーコード 'NOT_A_CODE' はありません"
            "（careplan errors で一覧できます） / expect: unknown error code 'NOT_A_CODE'",
        ),
        ("name: x\nsteps: [\n", "bad.yaml:3: YAML の書き方が正しくありません / invalid YAML: expected"),
    ],
)
def test_loader_errors_carry_line_numbers(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_file(write(tmp_path, "bad.yaml", body))
    assert str(caught.value).startswith(expected), str(caught.value)


def test_office_numbers_are_stable_and_valid() -> None:
    from careplan.office import office_number_findings

    number = office_number_for("居宅A")
    assert number == office_number_for("居宅A") != office_number_for("訪問B")
    assert office_number_findings(number, strict=True) == []


def test_demo_narrates_the_trainers_month(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.cells import cell_len

    from careplan_cli import demo

    monkeypatch.setenv("COLUMNS", "80")
    assert demo.main([]) == 0
    out = capsys.readouterr().out
    assert all(cell_len(line) <= 80 for line in out.splitlines()), out  # steps 9 and 10 were 86 and 88
    assert " 2. 居宅介護支援事業所が第6表・第7表を訪問介護事業所へ送信します" in out
    assert "10. 訪問介護事業所が修正後の提供票をダウンロードします" in out
    assert "送信しました [OK]" in out and "ダウンロードしました [OK]" in out
    assert "最後まで想定どおり" in out


def test_demo_step_does_not_wait_without_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from careplan_cli import demo

    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a TTY, and input() would hit EOF
    assert demo.main(["--step"]) == 0
    assert "Enter" not in capsys.readouterr().out


def test_demo_says_refusals_in_plain_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from careplan_cli import demo

    path = write(tmp_path, "refused.yaml", FAILING.split("---")[0])
    assert demo.main([str(path)]) == 1
    out = "".join(capsys.readouterr().out.split())  # without the line breaks of folding
    assert "拒否されました:送信に失敗しました。" in out and "[RECIPIENT_NOT_LICENSED]" in out
    assert "想定と異なります" in out


def test_seed_picks_the_generated_data_set(tmp_path: Path) -> None:
    from careplan_cli.scenarios import main as cli
    from fixtures.broken import unit

    plan = ("UP1KYO", "UP2KYO", "UP3KYO", "UPHOSOKU")
    assert unit(*plan, seed=7) == unit(*plan, seed=7)
    assert unit(*plan, seed=7) != unit(*plan, seed=2024)
    library = Path(__file__).resolve().parents[2] / "scenarios" / "library" / "trainer-month.yaml"
    assert cli(["run", str(library), "--seed", "7", "--json", str(tmp_path / "r.json")]) == 0


def test_demo_on_a_folder_that_is_no_hubs_data_says_so_within_80_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was one line of 110 columns and more (the folder's path inside the Japanese sentence)."""
    from rich.cells import cell_len

    from careplan_cli import demo

    folder = tmp_path / "typo"
    assert demo.main(["--hub", "https://127.0.0.1:9", "--data", str(folder)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "careplan demo: ハブのデータディレクトリではありません"
    assert lines[1] == "  not a hub's data directory"
    assert lines[3] == "  見つからないファイル / missing: ca/ca.pem, admin-token"
    assert f"  {folder}" in lines  # whole on its own line, to compare with what was typed
    assert all(cell_len(line) <= 80 for line in lines if str(folder) not in line), lines
