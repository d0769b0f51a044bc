"""`careplan conformance csv`: a CSV export judged and measured against the standard."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.csvcoverage import measure
from conformance.units import Party, yobo_unit
from fixtures.broken import by_name
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
