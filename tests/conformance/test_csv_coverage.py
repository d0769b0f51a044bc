"""`careplan conformance csv`: a CSV export judged and measured against the standard."""

from __future__ import annotations

import json
import re
from pathlib import Path

from rich.cells import cell_len

from careplan.standard.judged import judge_files
from conformance.csvcoverage import measure
from conformance.units import Party, yobo_unit
from fixtures.broken import BROKEN, by_name
from fixtures.generate import generate, write
from tests.conftest import run_careplan


def test_an_export_of_plans_and_actuals_covers_the_2_4_units_and_never_the_3_4_ones(tmp_path: Path) -> None:
    write(generate(offices=2, users=2, month="202504", seed=7), tmp_path / "export")
    done = run_careplan("conformance", "csv", str(tmp_path / "export"), "--report", str(tmp_path / "report"))
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads((tmp_path / "report" / "csv-coverage.json").read_text("utf-8"))
    assert {"2.4 (1)①", "2.4 (1)②", "2.4 (2)①"} <= set(record["units"]["seen"])
    assert {"3.4 (1)", "3.4 (2)", "3.4 (3)"} <= set(record["units"]["never"])
    assert {"UPKIHON", "UPYOBO"} <= set(record["file_kinds"]["never"])
    assert record["items"]["DLT1KYO"] == {"filled": [1, 2, 3, 4], "never": [], "total": 4}
    sex = record["codes"]["UPHOSOKU No.7 利用者性別"]
    assert sorted(sex["seen"] + sex["never"]) == ["1", "2"]
    assert record["findings"]["errors"] == 0
    page = (tmp_path / "report" / "csv-coverage.html").read_text("utf-8")
    assert "CSV出力の網羅性 / CSV export coverage" in page and "送信単位 / Sending units" in page
    japanese, english, where = done.stdout.splitlines()[-3:]
    assert "ファイル種別" in japanese and "エラー 0 件" in japanese, japanese
    assert english.endswith("sending units exercised; 0 errors, 0 warnings"), english
    assert where == f"報告 / report: {tmp_path / 'report' / 'csv-coverage.html'}"


def test_findings_are_counted_without_the_values_of_the_files() -> None:
    files = list(by_name("field-length").make().items())  # 利用者電話番号 of 16 characters
    record = measure(files)
    assert record["findings"]["errors"] >= 1
    assert all("value" not in f for f in record["findings"]["list"])
    assert "090-1234-5678-90" not in json.dumps(record, ensure_ascii=False)


def test_the_kits_own_3_4_units_are_measured_as_such() -> None:
    sender, recipient = Party(number="1370100016", kind="43"), Party(number="1370100024", kind="A2")
    record = measure(yobo_unit(("UPYOBO", "UPKIHON"), sender, recipient))
    assert record["units"]["seen"] == {"3.4 (2)": 1}
    assert record["findings"]["errors"] == 0


def write_files(files: dict[str, bytes], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


def _listed_texts(record: dict[str, object]) -> str:
    listed = record["findings"]["list"]  # type: ignore[index]
    return json.dumps([{k: v for k, v in f.items() if k not in ("file",)} for f in listed], ensure_ascii=False)


def test_no_value_from_a_record_reaches_the_report_for_any_broken_file() -> None:
    """The report promises no values from the files: a finding's texts that would quote one (「…」が
    書式に合いません, the half-width form of a full-width value) are the rule's own words there."""
    for breakage in BROKEN:
        files = list(breakage.make().items())
        record = measure(files)
        texts = _listed_texts(record)
        values = {
            f.value
            for entry in judge_files(files, strict=breakage.strict)
            for f in entry.findings
            if f.value and f.line is not None and len(f.value) >= 3
        }
        standards_own = " ".join(str(f.get("expected", "")) for f in record["findings"]["list"])  # e.g. 000000
        values = {v for v in values if v not in standards_own}
        leaked = sorted(v for v in values if re.search(rf"(?<![0-9A-Za-z]){re.escape(v)}(?![0-9A-Za-z])", texts))
        assert not leaked, (breakage.name, leaked)


def test_each_listed_finding_reads_japanese_first_with_its_fix() -> None:
    record = measure(list(by_name("field-phone").make().items()))
    (phone,) = [f for f in record["findings"]["list"] if f["rule"].startswith("field.")]
    assert phone["message_ja"] and phone["fix_ja"], phone
    assert "03-1234-567x" not in json.dumps(phone, ensure_ascii=False)
    assert phone["field_name"] and phone["line"], phone


def test_a_file_that_cannot_be_placed_is_judged_as_careplan_validate_judges_it(tmp_path: Path) -> None:
    """A lone UPPLAN saved as UTF-8: not a sending unit, and not MS932 either; validate says both,
    so the coverage report counts both, not the first alone."""
    export = tmp_path / "export"
    export.mkdir()
    name = "UPPLAN_202504_1370100016_43_1370100024_13_20250420093000.CSV"
    (export / name).write_bytes("202407,133231,斎藤\n".encode())
    record = measure([(name, (export / name).read_bytes())])
    rules = {f["rule"] for f in record["findings"]["list"]}
    judged = {f.rule for entry in judge_files([(name, (export / name).read_bytes())]) for f in entry.findings}
    assert rules == judged and any(r.startswith("encoding") for r in rules), rules


def test_a_misspelled_prefix_is_a_finding_not_a_traceback(tmp_path: Path) -> None:
    export = tmp_path / "export"
    write_files(by_name("filename-prefix-misspelled").make(), export)
    done = run_careplan("conformance", "csv", str(export), "--report", str(tmp_path / "report"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    record = json.loads((tmp_path / "report" / "csv-coverage.json").read_text("utf-8"))
    assert any(f["file"].startswith("UPPLN_") for f in record["findings"]["list"] if f.get("file")), record


def test_the_terminal_names_each_rule_found_within_80_columns(tmp_path: Path) -> None:
    export = tmp_path / "export"
    for breakage in ("field-phone", "field-date", "encoding-undecodable"):
        write_files(by_name(breakage).make(), export / breakage)
    done = run_careplan("conformance", "csv", str(export), "--report", str(tmp_path / "report"))
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert all(cell_len(line) <= 80 for line in out.splitlines() if str(tmp_path) not in line), out
    assert f"  careplan validate {export}" in out.splitlines() or f"    {export}" in out.splitlines(), out
    record = json.loads((tmp_path / "report" / "csv-coverage.json").read_text("utf-8"))
    for rule in {f["rule"] for f in record["findings"]["list"]}:
        assert rule in out, (rule, out)
    assert "電話番号" in out and "03-1234-567x" not in out, out
    assert "careplan validate" in out, out  # where each finding's place and value are shown
    page = (tmp_path / "report" / "csv-coverage.html").read_text("utf-8")
    assert "対処 / fix" in page and "03-1234-567x" not in page
    assert ">None<" not in page  # a finding without a line or an item: —


def test_a_folder_that_is_not_there_is_said_on_stderr(tmp_path: Path) -> None:
    done = run_careplan("conformance", "csv", str(tmp_path / "nowhere"), "--report", str(tmp_path / "report"))
    assert done.returncode == 2 and done.stdout == "", done.stdout
    assert "フォルダではありません" in done.stderr, done.stderr
