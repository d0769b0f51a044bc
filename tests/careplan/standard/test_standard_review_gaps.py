"""Issue 12, round 2: each gap of the review fixed, with its rule (decisions D14, D16, D19–D22)."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standard_testkit import HELPER, MANAGER, errors, name_of, plan_records, plan_set, records_of, rules

from careplan.findings_ja import rule_ja
from careplan.standard import check_transmission, file_name_findings, refusal, validate_csv, write_csv
from careplan.standard import reader as reader_module
from careplan.standard.content import document_kind
from careplan.standard.decoding import unicode_encoding
from fixtures.broken import unit
from fixtures.broken_more import KIHON_UNIT, YOBO_UNIT


def _check(file_id: str, rows: list[list[str]], *, month: str | None = "202504") -> list:
    return validate_csv(name_of(file_id, month=month), write_csv(file_id, rows))


def _rows_of(files: dict[str, bytes], prefix: str) -> tuple[str, list[list[str]]]:
    import csv
    import io

    name = next(n for n in files if n.startswith(prefix + "_") and not n.startswith(prefix + "_SUB"))
    return name, [list(r) for r in csv.reader(io.StringIO(files[name].decode("cp932"), newline=""))]


# --- free text with a 項目長 (D20) ------------------------------------------------------------------
def test_free_text_with_a_length_is_length_checked() -> None:
    files = unit(*YOBO_UNIT)
    name = next(n for n in files if n.startswith("UPYOBO_SUB_"))
    _, rows = _rows_of({name: files[name]}, "UPYOBO_SUB")
    rows[0][4] = "12"
    assert validate_csv(name, write_csv("UPYOBO_SUB", rows)) == []
    rows[0][4] = "123"
    found = validate_csv(name, write_csv("UPYOBO_SUB", rows))
    assert [(f.rule, f.field_no, f.field_name) for f in found] == [("field.length", 5, "課題ＮＯ")]
    assert found[0].message.startswith("課題ＮＯが3文字です") and found[0].message_en


# --- 明細判別コード (D19) ----------------------------------------------------------------------------
@pytest.mark.parametrize(("code", "refused"), [("111211", True), ("171001", False), ("671001", False)])
def test_meisai_only_for_welfare_rental(code: str, refused: bool) -> None:
    rows = plan_records()
    rows[0][14], rows[0][15], rows[0][18] = code, "00001－000010", "1"
    found = _check("UPPLAN", rows)
    assert ("plan.meisai" in rules(found, "error")) is refused
    if refused:
        assert [f.field_no for f in found if f.rule == "plan.meisai"] == [19]


# --- 2400 as an end time only (D16) ------------------------------------------------------------------
def test_2400_is_an_end_time_only() -> None:
    rows = plan_records()
    rows[0][11], rows[0][12] = "2300", "2400"
    assert _check("UPPLAN", rows) == []
    rows[0][11], rows[0][12] = "2400", "2400"
    found = errors(_check("UPPLAN", rows))
    assert [(f.rule, f.field_no) for f in found] == [("field.time", 12)]
    assert "2400 only as an end time" in (found[0].expected or "")


# --- 外字 and bytes outside MS932, named by item and record (D21) --------------------------------
def test_gaiji_names_the_item_and_the_user() -> None:
    name = next(n for n in plan_set() if n.startswith("UPHOSOKU"))
    rows = records_of("UPHOSOKU")
    data = write_csv("UPHOSOKU", rows).replace(rows[1][5].encode("cp932"), rows[1][5].encode("cp932") + b"\xf0\x40", 1)
    (finding,) = validate_csv(name, data)
    assert (finding.rule, finding.line, finding.field_no, finding.field_name) == ("encoding.gaiji", 2, 6, "利用者氏名")
    assert rows[1][2] in finding.message and "No.6 利用者氏名" in finding.message
    assert "byte offset" in (finding.message_en or "")


def test_undecodable_bytes_name_the_item_and_unreadable_records_keep_the_offset() -> None:
    name = next(n for n in plan_set() if n.startswith("UPHOSOKU"))
    data = write_csv("UPHOSOKU", records_of("UPHOSOKU"))
    broken = data.replace(b'","', b'","\x85\x40', 1)  # inside No.6 of the first record
    (finding,) = validate_csv(name, broken)
    assert (finding.rule, finding.field_no, finding.line) == ("encoding.undecodable", 6, 1)
    unreadable = data.replace(b'","', b'"x\x85\x40","', 1)  # a stray quote: the record cannot be read
    found = validate_csv(name, unreadable)
    assert {f.rule for f in found} == {"csv.quoting", "encoding.undecodable"}
    assert next(f for f in found if f.rule == "encoding.undecodable").field_no is None


# --- UTF-8 / UTF-16 (D21) -----------------------------------------------------------------------------
UNICODE = [("utf-8", b"", "UTF-8"), ("utf-8", b"\xef\xbb\xbf", "UTF-8"), ("utf-16", b"", "UTF-16"),
           ("utf-16-le", b"", "UTF-16")]  # fmt: skip


@pytest.mark.parametrize(("encoding", "bom", "named"), UNICODE)
def test_unicode_files_get_one_finding(encoding: str, bom: bytes, named: str) -> None:
    name = next(n for n in plan_set() if n.startswith("UPHOSOKU"))
    data = bom + plan_set()[name].decode("cp932").encode(encoding)
    (finding,) = validate_csv(name, data)
    assert (finding.rule, finding.value) == ("encoding.unicode", named)
    assert "Shift_JIS (MS932)" in finding.message


OLE2 = bytes.fromhex("d0cf11e0a1b11ae1")  # an old Word or Excel file (.doc, .xls)


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (OLE2 + b"\x00" * 3, "ole2 (old Word/Excel)"),  # NULs on the odd side: UTF-16 by its guess
        (OLE2 + b"\x00\x01" * 40, "ole2 (old Word/Excel)"),
        (b"%PDF-1.7\n\xc2", "pdf"),  # valid UTF-8 so far: UTF-8 by its guess
        (b"%PDF-1.7\n%\xc3\xa4\xc3\xb6\n", "pdf"),
    ],
    ids=["ole2-nul", "ole2-halves", "pdf-utf8-cut", "pdf-utf8"],
)
def test_a_document_is_named_even_where_its_bytes_look_like_unicode(data: bytes, named: str) -> None:
    """The Unicode guess ran before the signatures: an old Excel file of its magic and three NULs
    was told it was saved as UTF-16, a PDF whose first binary bytes are valid UTF-8 as UTF-8. A
    signature is no text, whatever follows it: the document is named (csv.not_text)."""
    assert unicode_encoding(data) is not None
    name = next(n for n in plan_set() if n.startswith("UPPLAN_"))
    assert [(f.rule, f.value) for f in validate_csv(name, data)] == [("csv.not_text", named)]


# What a standard CSV holds: every record opens with its key items in ASCII (CSVバージョン,
# 保険者番号, 被保険者番号, dates: 40 characters), then items of any text, quoted.
_ITEM = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
_KEYS = st.tuples(*(st.from_regex(rf"[0-9]{{{n}}}", fullmatch=True) for n in (6, 6, 10, 8, 6)))


def _csv(records: list[tuple[tuple[str, ...], list[str]]]) -> str:
    return "".join(",".join([*keys, *(f'"{t}"' for t in texts)]) + "\r\n" for keys, texts in records)


@settings(max_examples=150, deadline=None)
@given(
    records=st.lists(st.tuples(_KEYS, st.lists(_ITEM, max_size=4)), min_size=1, max_size=4),
    codec=st.sampled_from(["utf-16", "utf-16-le", "utf-16-be"]),
    bom=st.booleans(),
)
def test_utf16_csv_text_is_still_told_it_is_utf16(
    records: list[tuple[tuple[str, ...], list[str]]], codec: str, bom: bool
) -> None:
    """With the signatures checked first, a CSV saved as UTF-16 (with its BOM as Excel writes it,
    or without, little- or big-endian) is still told so: its first two bytes are a BOM or hold a
    NUL (a record opens with digits), which no signature does."""
    data = _csv(records).encode(codec)
    if codec != "utf-16" and bom:
        data = "\ufeff".encode(codec) + data
    assert document_kind(data) is None
    name = next(n for n in plan_set() if n.startswith("UPPLAN_"))
    # Without a BOM, UTF-16 is a guess (NULs on one side only) that Japanese-heavy text may not
    # give: it must still be told where the guess finds it; kana and keys: the next test.
    if bom or codec == "utf-16" or unicode_encoding(data) == "UTF-16":
        assert [(f.rule, f.value) for f in validate_csv(name, data)] == [("encoding.unicode", "UTF-16")]


@settings(max_examples=80, deadline=None)
@given(
    keys=st.lists(_KEYS, min_size=1, max_size=3),
    kana=st.lists(st.text(st.characters(min_codepoint=0x3041, max_codepoint=0x30FA), max_size=40), max_size=3),
    codec=st.sampled_from(["utf-16-le", "utf-16-be"]),
)
def test_utf16_csv_of_keys_and_kana_without_a_bom_is_told_it_is_utf16(
    keys: list[tuple[str, ...]], kana: list[str], codec: str
) -> None:
    """Without a BOM, as a program that writes UTF-16 text may save it: ASCII key items and names
    in kana, the guess's ground (NULs on one side only), are found as UTF-16 with signatures first."""
    data = _csv([(k, kana) for k in keys]).encode(codec)
    name = next(n for n in plan_set() if n.startswith("UPPLAN_"))
    assert [(f.rule, f.value) for f in validate_csv(name, data)] == [("encoding.unicode", "UTF-16")]


def test_a_bom_before_ms932_or_ascii_is_only_a_warning() -> None:
    for file_id in ("UPHOSOKU", "UPSIKYU"):
        name = next(n for n in plan_set() if n.startswith(file_id))
        found = validate_csv(name, b"\xef\xbb\xbf" + plan_set()[name])
        assert [(f.rule, f.severity) for f in found] == [("encoding.bom", "warning")]


# --- misspelled prefixes (D22) ------------------------------------------------------------------------
@pytest.mark.parametrize(("typo", "meant"), [("UPPLN", "UPPLAN"), ("UPPLANN", "UPPLAN"), ("UPSIKY", "UPSIKYU"),
                                             ("UPHOSOK", "UPHOSOKU")])  # fmt: skip
def test_a_misspelled_prefix_is_named_with_the_nearest(typo: str, meant: str) -> None:
    files = plan_set()
    wrong = {n.replace(meant + "_", typo + "_", 1) if n.startswith(meant + "_") else n: d for n, d in files.items()}
    found = check_transmission(list(wrong.items()))
    error = refusal(found)
    assert error is not None and error.code == "FORMAT_INVALID"
    assert [f.rule for f in found if f.severity == "error"] == ["filename.prefix_misspelled"]
    finding = found[0]
    assert finding.file and finding.file.startswith(typo + "_") and finding.expected == meant
    assert f"「{meant}」の誤り" in finding.message


def test_a_misspelled_file_alone_is_not_an_attachment() -> None:
    name = next(n for n in plan_set() if n.startswith("UPPLAN_"))
    found = check_transmission([(name.replace("UPPLAN_", "UPPLN_"), plan_set()[name])])
    # Refused and named; read as UPPLAN it is still not a unit alone, a root cause of its own.
    assert refusal(found) is not None and refusal(found).code == "COMBINATION_INVALID"  # type: ignore[union-attr]
    assert [f.rule for f in found] == ["filename.prefix_misspelled", "unit.combination"]
    _, own = file_name_findings(name.replace("UPPLAN_", "UPPLN_"))
    assert [f.rule for f in own] == ["filename.prefix_misspelled"]
    letter = check_transmission([("連絡メモ_20250401.txt", "連絡".encode("cp932"))])
    assert refusal(letter) is None  # a document outside the standard stays one


# --- root causes first, the code follows them (D14) ------------------------------------------------
def test_one_broken_first_table_record_is_a_format_error_with_orphans_after_it() -> None:
    files = unit("UP1KYO", "UP2KYO", "UP3KYO", "UPHOSOKU")
    name = next(n for n in files if n.startswith("UP1KYO_"))
    files[name] = files[name].replace(b",\r\n", b"\r\n", 1)
    error = refusal(check_transmission(list(files.items())))
    assert error is not None and error.code == "FORMAT_INVALID"
    rules_in_order = [f["rule"] for f in error.findings]
    assert rules_in_order[0] == "csv.field_count"
    assert set(rules_in_order[1:]) == {"relation.orphaned"}
    orphan = error.findings[1]
    assert f"{name} の 1行目が読めないため" in str(orphan["message"]) and orphan["file"] != name


def _zipped(inner: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(inner, "x")
    return buffer.getvalue()


@pytest.mark.parametrize("inner", ["UPPLAN.CSV", "[Content_Types].xml"], ids=["zip", "xlsx"])
def test_a_standard_file_sent_zipped_is_not_also_missing_from_its_unit(inner: str) -> None:
    """A zip archive or an Excel workbook under UPPLAN's name was refused for the zip and then
    for a unit missing UPPLAN (「不足: UPPLAN」), which the office did send. Its name takes part in
    the unit, as a misspelled prefix does (D22): the zip is the one thing to mend."""
    files = plan_set()
    name = next(n for n in files if n.startswith("UPPLAN_"))
    files[name] = _zipped(inner)
    found = check_transmission(list(files.items()), sender=MANAGER, recipient=HELPER)
    assert [f.rule for f in found] == ["transmission.zip"]
    assert refusal(found).code == "DATA_LOAD_FAILED"  # type: ignore[union-attr]
    alone = check_transmission([(name, _zipped(inner))])
    assert [f.rule for f in alone] == ["transmission.zip", "unit.combination"]  # still not a unit alone


@pytest.mark.parametrize(
    "broken",
    [
        lambda data: data.decode("cp932").encode("utf-8"),
        lambda data: data.decode("cp932").encode("utf-16"),
        lambda data: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        lambda data: b"",
    ],
    ids=["utf-8", "utf-16", "pdf", "empty"],
)
def test_a_parent_file_that_cannot_be_read_orphans_each_child_file_once(broken) -> None:  # type: ignore[no-untyped-def]
    """UPPLAN saved as UTF-8 (or a PDF under its name, or empty) gave its one finding and then
    one finding per record of UPSIKYU and UPHOSOKU, up to 20 a file, each saying that record
    needs no change (or, empty, that its parent is missing). Now one a child file, with its count
    of keys, after the cause."""
    files = plan_set()
    name = next(n for n in files if n.startswith("UPPLAN_"))
    children = sorted(n for n in files if not n.startswith("UPPLAN_"))
    counts = {n: len({tuple(r[1:4]) for r in records_of(n.split("_")[0])}) for n in children}  # users' keys
    files[name] = broken(files[name])
    error = refusal(check_transmission(list(files.items()), sender=MANAGER, recipient=HELPER))
    assert error is not None and error.code == "FORMAT_INVALID"
    assert [f["rule"] for f in error.findings][1:] == ["relation.orphaned"] * 2
    for orphan in error.findings[1:]:
        assert orphan["file"] in children and orphan.get("line") is None
        why = "にレコードが1件もないため" if error.findings[0]["rule"] == "csv.empty" else "を読めなかったため"
        assert orphan["message"] == (
            f"{name} {why}、このファイルのレコードの親（UPPLAN）を確かめられません"
            f"（保険者番号・被保険者番号・対象年月が{counts[orphan['file']]}組）。"
        )
        assert "直す必要はありません" in orphan["fix"]


def test_a_refusal_detail_names_the_parent_and_the_encoding_it_found() -> None:
    """The detail read each rule from the table of rules, whose line for a missing parent named
    第1表（UP1KYO） whatever the parent was (UPPLAN here), and for Unicode said 「UTF-8 または
    UTF-16」. Both findings' own words hold names only, so the detail says them."""
    files = plan_set()
    plan = next(n for n in files if n.startswith("UPPLAN_"))
    files[plan] = write_csv("UPPLAN", [r for r in records_of("UPPLAN") if r[2] != "H123456789"])
    error = refusal(check_transmission(list(files.items())))
    assert error is not None and "UP1KYO" not in error.detail
    assert "UPPLAN に同じ保険者番号・被保険者番号・対象年月のレコードがありません。" in error.detail
    assert "H123456789" not in error.detail and "H123456789" not in error.detail_en
    assert "no UPPLAN record with this 保険者番号/被保険者番号/対象年月" in error.detail_en
    what, fix = rule_ja("relation.missing_parent")  # type: ignore[misc]
    assert "UP1KYO）の" not in what and "UP1KYO" not in fix
    files = plan_set()
    files[plan] = files[plan].decode("cp932").encode("utf-8")
    error = refusal(check_transmission(list(files.items())))
    assert (
        error is not None and "ファイルが UTF-8 で保存されています。" in error.detail and "または" not in error.detail
    )
    assert "the file is saved as UTF-8" in error.detail_en


def test_a_refusal_detail_names_places_and_rules_not_values() -> None:
    rows = records_of("UPHOSOKU")
    rows[0][11] = "03-1234-567x"
    files = plan_set()
    hosoku = next(n for n in files if n.startswith("UPHOSOKU"))
    files[hosoku] = write_csv("UPHOSOKU", rows)
    error = refusal(check_transmission(list(files.items())))
    assert error is not None and "field.phone" in error.detail and "567x" not in error.detail
    assert error.detail.startswith("エラー 1件") and error.detail_en.startswith("1 error(s)")


# --- the fast path: repeated rows are judged as a full look judges them -------------------------------
def _repeated_plan(change: int) -> bytes:
    rows = plan_records()
    first = rows[0]
    many = [[*first[:9], f"202504{d:02d}", *first[10:]] for d in range(1, 29)]
    if change == 1:
        many[5][9] = "20250431"  # not a date
    elif change == 2:
        many[6][9] = "20250501"  # a date of another month
    elif change == 3:
        many[7][6] = "別の 担当者"  # free text differs: no repeat
    elif change == 4:
        many[8][9] = "2025,401"  # same width, but a comma moves the fields
    return (
        write_csv("UPPLAN", many)
        if change != 4
        else write_csv("UPPLAN", many[:8]) + (",".join(many[8]).encode("cp932") + b"\r\n")
    )


@pytest.mark.parametrize("change", [0, 1, 2, 3, 4])
def test_repeated_rows_give_the_findings_of_a_full_look(change: int, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _repeated_plan(change)
    name = name_of("UPPLAN")
    fast = validate_csv(name, data)
    monkeypatch.setattr(reader_module, "_cut", lambda *_: ([("\n", 0)], []))
    assert validate_csv(name, data) == fast
    assert (fast == []) is (change in (0, 3))


def test_sample_offices_are_still_what_the_kit_says() -> None:
    assert MANAGER != HELPER and KIHON_UNIT[0] == "UPKIHON"


# --- full-width digits (what a spreadsheet or an IME writes) ----------------------------------------
def test_a_full_width_value_is_told_the_half_width_one_it_meant() -> None:
    """「２０２５０４２０」 was refused as not YYYYMMDD, which reads as if the date were wrong. The
    finding now says it holds full-width characters and which half-width value passes, and the
    fix is to write that; a value wrong besides is told both, with its rule's own fix."""
    rows = records_of("UPSIKYU")
    rows[0][3], rows[0][6], rows[1][15] = "２０２５０４２０", "１３１１７０００２３", "４"
    rows[2][3], rows[2][15] = "２０２５１３０１", "x"
    found = {(f.line, f.field_no): f for f in _check("UPSIKYU", rows)}
    date, office, count = found[1, 4], found[1, 7], found[2, 16]
    assert date.rule == "field.date" and date.message.endswith("全角の文字が入っています（半角なら「20250420」）。")
    assert date.fix == "全角の数字・英字・記号を半角にしてください（「２０２５０４２０」→「20250420」）。"
    assert date.fix_en == "Write it in half-width characters: '20250420', not '２０２５０４２０'."
    assert office.rule == "field.office_number.structure" and "半角なら「1311700023」" in office.message
    assert count.rule == "field.integer" and "半角なら「4」" in count.message
    wrong = found[3, 4]  # month 13: half-width would not pass either
    assert wrong.message.endswith("全角の文字も入っています（半角で書きます）。")
    assert wrong.fix == "実在する日付を8桁の数字で書いてください（例: 20250401）。"
    plain = found[3, 16]
    assert "全角" not in plain.message and "full-width" not in (plain.message_en or "")


# --- a record of the wrong number of items: what its line shows of the cause -------------------------
def _hosoku_lines(change) -> list:  # type: ignore[no-untyped-def]
    name = next(n for n in plan_set() if n.startswith("UPHOSOKU"))
    rows = records_of("UPHOSOKU")
    text = "".join(change(row) + "\r\n" for row in rows)
    return [f for f in validate_csv(name, text.encode("cp932")) if f.rule == "csv.field_count"]


@pytest.mark.parametrize(
    ("change", "said", "fix"),
    [
        (lambda row: ",".join(row) + ",", "行末に余分なカンマがあります", "最後の項目のあとのカンマを削除"),
        (lambda row: "\t".join(row), "項目がタブで区切られています。", "カンマ（,）で区切った CSV"),
        (lambda row: ";".join(row), "項目がセミコロン（;）で区切られています。", "カンマ（,）で区切った CSV"),
    ],
    ids=["trailing-comma", "tabs", "semicolons"],
)
def test_a_wrong_count_of_items_says_the_cause_its_line_shows(change, said: str, fix: str) -> None:  # type: ignore[no-untyped-def]
    """「項目数が64です。レイアウトの項目数は63です。」 and a fix about empty items and quoting, for
    every line of a file whose lines end in a comma, or that a spreadsheet saved with tabs or
    semicolons: the cause is on the line, so the finding says it and how to mend it."""
    found = _hosoku_lines(change)
    assert found and all(said in f.message and fix in (f.fix or "") for f in found), found[0]
    assert all(f.fix_en and "comma" in f.fix_en for f in found)


def test_a_wrong_count_of_items_without_a_visible_cause_keeps_the_general_fix() -> None:
    found = _hosoku_lines(lambda row: ",".join(row[:-2]))
    assert found and all("カンマの間を空に" in (f.fix or "") and "区切られて" not in f.message for f in found)
