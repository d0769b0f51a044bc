"""careplan_cli.validate: files and folders offline, text (ja/en) and JSON, exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.cells import cell_len
from standard_testkit import HELPER, MANAGER, plan_set

from careplan.standard.judged import judge_files
from careplan_cli.validate import main, render_text
from fixtures.broken import BROKEN
from fixtures.samples import sample_actuals_set


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name, data in plan_set().items():
        (tmp_path / name).write_bytes(data)
    sub = tmp_path / "jsk"
    sub.mkdir()
    for name, data in sample_actuals_set(sender=HELPER, recipient=MANAGER).items():
        (sub / name).write_bytes(data)
    (tmp_path / "letter.pdf").write_bytes(b"%PDF-1.4\n")
    return tmp_path


def test_valid_folder_exits_zero(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(folder)]) == 0
    out = capsys.readouterr().out
    assert out.count("問題なし") == 3 and "エラー 0件" in out


def test_json_report(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(folder), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["ok"] is True
    kinds = sorted(e["kind"] for e in body["entries"])
    assert kinds == ["attachment", "transmission", "transmission"]
    recipients = {e["recipient"] for e in body["entries"] if e["kind"] == "transmission"}
    assert recipients == {HELPER, MANAGER}


def test_errors_exit_one_with_findings(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = next(folder.glob("UPPLAN_*"))
    plan.write_bytes(plan.read_bytes().replace(b"20250403", b"20250431", 1))
    (folder / "bundle.zip").write_bytes(b"PK\x03\x04data")
    assert main([str(folder), "--lang", "en"]) == 1
    out = "".join(capsys.readouterr().out.split())  # without the line breaks of folding
    assert "RefusedFORMAT_INVALID:ケアプランデータの書式フォーマットが正しくありません" in out
    assert "No.10サービス利用日" in out and "value:20250431" in out
    assert "section:レイアウト定義書UPPLANNo.10" in out and "fix:" in out
    assert "DATA_LOAD_FAILED" in out
    assert main([str(folder), "--json"]) == 1
    body = json.loads(capsys.readouterr().out)
    refused = [e for e in body["entries"] if e["refusal"]]
    assert {e["refusal"]["code"] for e in refused} == {"FORMAT_INVALID", "DATA_LOAD_FAILED"}


def test_a_lone_file_is_checked_and_told_what_is_missing(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = next(folder.glob("UPPLAN_*"))
    assert main([str(plan)]) == 1
    out = capsys.readouterr().out
    assert "ファイルの組み合わせが正しくありません" in out and "不足: UPHOSOKU, UPSIKYU" in out
    assert main([str(plan), "--lang", "en"]) == 1
    assert "missingUPHOSOKU,UPSIKYU" in "".join(capsys.readouterr().out.split())  # without folding


def test_strict_turns_check_digits_into_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = HELPER[:9] + str((int(HELPER[9]) + 1) % 10)
    for name, data in plan_set().items():
        (tmp_path / name.replace(HELPER, bad)).write_bytes(data)
    assert main([str(tmp_path)]) == 0
    assert main([str(tmp_path), "--strict"]) == 1
    capsys.readouterr()


def test_bad_path_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing")]) == 2
    assert "cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_report_fits_80_columns_and_keeps_every_word(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    """Every broken variant at once: a report line was up to 255 columns (a transmission's file
    names, a refusal's message, a finding's fix); folded, it says the same, file names whole."""
    monkeypatch.setenv("COLUMNS", "80")
    for breakage in BROKEN:
        folder = tmp_path / breakage.name
        folder.mkdir()
        for name, data in breakage.make().items():
            (folder / name).write_bytes(data)
    assert main([str(tmp_path), "--lang", lang]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert all(cell_len(line) <= 80 for line in lines), max(lines, key=cell_len)
    names = {path.name for path in tmp_path.rglob("*") if path.is_file()}
    shown = {word.rstrip(",:") for line in lines for word in line.split()}
    assert {name for name in names if len(name) <= 70} <= shown | {w.split(":")[0] for w in shown}
    whole = render_text(judge_files(_files(tmp_path)), lang)
    assert "".join(whole.split()) == "".join("\n".join(lines).split())


def _files(folder: Path) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()]


def test_a_file_with_cr_line_ends_is_told_so_not_about_quotes(tmp_path: Path) -> None:
    """A CSV saved with CR alone (Excel for Mac's 'CSV (Macintosh)') was told to quote its free
    text ('レコードを読めません: carriage return (CR) without line feed outside quotes', fix: ""で囲み)."""
    from careplan.standard import validate_csv

    name, data = next((n, d) for n, d in plan_set().items() if n.startswith("UPPLAN"))
    [finding] = [f for f in validate_csv(name, data.replace(b"\r\n", b"\r")) if f.severity == "error"][:1]
    assert finding.rule == "csv.quoting" and "CR だけの改行" in finding.message, finding
    assert finding.fix.startswith("改行コードを CR LF か LF にして保存し直して")
    stray = data.replace(b",", b",\r", 1)  # one lone CR in a CR LF file: the same advice, line ends or a value
    assert any("CR だけの改行" in f.message for f in validate_csv(name, stray))


def test_a_month_past_a_bulk_sends_limit_is_checked_whole_and_warned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """52 transmissions of one sender and 3 of another: every one is checked as a transmission (a
    broken file in the 52nd is found), the first sender is warned once, on its 51st, how many bulk
    sends it takes, and valid files exit 0. It used to refuse the 51st on as 一括送信が50件を超えています
    (exit 1) and check them as loose files only."""
    from careplan.office import with_check_digit
    from fixtures.samples import sample_plan_set

    offices = [with_check_digit(f"13117{i:04d}") for i in range(1, 53)]
    for sender, recipients in ((MANAGER, offices), (with_check_digit("131230009"), offices[:3])):
        for office in recipients:
            for name, data in sample_plan_set(sender=sender, recipient=office).items():
                (tmp_path / name).write_bytes(data)
    assert main([str(tmp_path), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["summary"]["errors"] == 0 and body["summary"]["warnings"] == 1
    transmissions = [e for e in body["entries"] if e["kind"] == "transmission"]
    assert len(transmissions) == 55
    (warned,) = [e for e in transmissions if e["findings"]]
    (finding,) = warned["findings"]
    assert finding["rule"] == "bulk.too_many_transmissions" and finding["severity"] == "warning"
    assert finding["message"].startswith(f"送信元 {MANAGER} の送信は52件で、一括送信1回の上限50件を超えます")
    assert finding["fix"] == "50件以下ずつ、2回に分けて一括送信してください。"
    last = sorted(p for p in tmp_path.glob(f"UPPLAN_*_{MANAGER}_43_{offices[-1]}_*.CSV"))[0]
    last.write_bytes(last.read_bytes().replace(b"202407,", b"2024-7,", 1))
    assert main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "値: 2024-7" in out and "エラー 0件" not in out, out[-400:]
    assert all(cell_len(line) <= 80 for line in out.splitlines())


def _plan_with(tmp_path: Path, index: int, value: str) -> Path:
    """The sample plan set in `tmp_path` with item `index` of the first UPPLAN record set to `value`."""
    from standard_testkit import csv_bytes, plan_records

    records = plan_records()
    records[0][index] = value
    for name, data in plan_set().items():
        (tmp_path / name).write_bytes(csv_bytes("UPPLAN", records) if name.startswith("UPPLAN") else data)
    return tmp_path


def test_the_expectation_reads_in_japanese_and_json_keeps_the_english(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 5-digit 保険者番号 was told 「期待値: 6 digits」 in the Japanese report, although the
    message beside it already said （半角数字6桁）."""
    monkeypatch.setenv("COLUMNS", "80")
    folder = _plan_with(tmp_path, 1, "13101")
    assert main([str(folder)]) == 1
    out = capsys.readouterr().out
    assert "期待値: 半角数字6桁" in out and "6 digits" not in out, out
    assert all(cell_len(line) <= 80 for line in out.splitlines())
    assert main([str(folder), "--lang", "en"]) == 1
    assert "expected: 6 digits" in capsys.readouterr().out
    assert main([str(folder), "--json"]) == 1
    [finding] = [f for e in json.loads(capsys.readouterr().out)["entries"] for f in e["findings"]]
    assert (finding["expected"], finding["expected_ja"]) == ("6 digits", "半角数字6桁")


def test_a_long_value_is_shown_clipped_with_its_length_and_kept_whole_in_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 5,000-character 単位数 was printed whole under 値: 70 lines of 1s for one finding."""
    monkeypatch.setenv("COLUMNS", "80")
    folder = _plan_with(tmp_path, 7, "1" * 5000)  # No.8 単位数, 項目長 6
    assert main([str(folder)]) == 1
    out = capsys.readouterr().out
    assert f"      値: {'1' * 40}…（全5,000文字）\n      期待値: 6文字以内\n" in out, out
    assert "1" * 41 not in out and len(out.splitlines()) < 20
    assert all(cell_len(line) <= 80 for line in out.splitlines())
    assert main([str(folder), "--lang", "en"]) == 1
    assert f"value: {'1' * 40}… (5,000 characters)" in capsys.readouterr().out
    assert main([str(folder), "--json"]) == 1
    [finding] = [f for e in json.loads(capsys.readouterr().out)["entries"] for f in e["findings"]]
    assert finding["value"] == "1" * 5000 and "value_length" not in finding  # whole: nothing to add


def test_a_lone_cr_is_told_that_cr_lf_and_lf_are_both_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file with CR line ends was told 「改行は CR LF です」 and to save with CR LF, and the hub's
    detail called it 引用符の使い方, although LF alone is read as well (decision D2; the sources
    are silent on line ends)."""
    from careplan.errors import MSG_FORMAT_INVALID, Lang
    from careplan.standard import check_transmission, refusal

    monkeypatch.setenv("COLUMNS", "80")
    files = plan_set()
    assert check_transmission([(n, d.replace(b"\r\n", b"\n")) for n, d in files.items()]) == []  # LF: fine
    for name, data in files.items():
        (tmp_path / name).write_bytes(data.replace(b"\r\n", b"\r") if name.startswith("UPPLAN") else data)
    assert main([str(tmp_path)]) == 1
    out = "".join(capsys.readouterr().out.split())  # without the line breaks of folding
    assert "（改行はCRLFまたはLFです）" in out and "期待値:改行はCRLFまたはLF（CRだけは不可）" in out, out
    assert "改行コードをCRLFかLFにして保存し直して" in out and "改行はCRLFです" not in out
    assert main([str(tmp_path), "--json"]) == 1
    [entry] = json.loads(capsys.readouterr().out)["entries"]
    lead = entry["findings"][0]
    assert lead["rule"] == "csv.quoting" and lead["expected"] == "CR LF or LF line ends"
    assert "CR LF or LF" in lead["fix_en"]
    error = refusal(check_transmission(list((p.name, p.read_bytes()) for p in tmp_path.iterdir())))
    assert error is not None and error.message == MSG_FORMAT_INVALID  # the real system's, unchanged
    assert "CR だけの改行" in error.detail_in(Lang.JA) and "CR LF か LF" in error.fix_in(Lang.JA)


def test_a_workbook_under_a_standard_name_is_named_in_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An .xlsx saved as UPPLAN_….CSV was reported as a zip file to unpack (展開して中のファイルを送信)."""
    import io
    import zipfile

    monkeypatch.setenv("COLUMNS", "80")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as book:
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr("xl/workbook.xml", "<workbook/>")
    for name, data in plan_set().items():
        (tmp_path / name).write_bytes(buffer.getvalue() if name.startswith("UPPLAN") else data)
    assert main([str(tmp_path)]) == 1
    out = "".join(capsys.readouterr().out.split())  # without the line breaks of folding
    assert "送信不可DATA_LOAD_FAILED:データの読み込みに失敗しました。" in out  # the real message (R4.6)
    assert "ファイルの中身がCSVではなくExcelブック（.xlsx）です" in out and "Shift_JIS(MS932)" in out, out
    assert main([str(tmp_path), "--json"]) == 1
    body = json.loads(capsys.readouterr().out)
    [entry] = [e for e in body["entries"] if e["refusal"] and e["refusal"]["code"] == "DATA_LOAD_FAILED"]
    lead = entry["findings"][0]
    assert (lead["rule"], lead["value"]) == ("transmission.zip", "xlsx")
    assert "Excel ブック（.xlsx）" in entry["refusal"]["detail"]
