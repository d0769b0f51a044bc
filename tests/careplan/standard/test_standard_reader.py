"""MS932 decoding and CSV quoting (標準仕様 4; decisions D2–D4)."""

from __future__ import annotations

import re

import pytest
from standard_testkit import name_of, records_of, rules

from careplan.errors import is_japanese
from careplan.standard import validate_csv, write_csv
from careplan.standard.reader import FindingSink, Malformed, read_records, split_record


def _read(data: bytes) -> tuple[list[list[str]], FindingSink]:
    sink = FindingSink("T.CSV", 200)
    return [r.fields for r in read_records(data, sink)], sink


def test_crlf_and_lf_and_mixed_read_alike() -> None:
    for data in (b"a,b\r\nc,d\r\n", b"a,b\nc,d\n", b"a,b\r\nc,d\n", b"a,b\r\nc,d"):
        records, sink = _read(data)
        assert records == [["a", "b"], ["c", "d"]]
        assert sink.items == []


def test_quoted_commas_newlines_and_escaped_quotes() -> None:
    data = '1,"東京都, 千代田区","一行目\r\n二行目","彼は""はい""と言った",""\r\n2,x,y,z,\r\n'
    records, sink = _read(data.encode("cp932"))
    assert records == [
        ["1", "東京都, 千代田区", "一行目\r\n二行目", '彼は"はい"と言った', ""],
        ["2", "x", "y", "z", ""],
    ]
    assert sink.items == []


def test_record_lines_count_physical_lines() -> None:
    sink = FindingSink("T.CSV", 200)
    lines = [r.line for r in read_records(b'1,"a\nb\nc"\n2,x\n', sink)]
    assert lines == [1, 4]


def test_quoted_flags() -> None:
    assert split_record('a,"b",') == (["a", "b", ""], ["a", '"b"', ""])
    assert split_record("a,b") == (["a", "b"], None)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('a,"b', "unterminated"),
        ('a,b"c', "quote inside an unquoted field"),
        ('a,"b"c', "text after a closing quote"),
        ("a\rb,c", "carriage return"),
        ('"x"\r,"y"', "text after a closing quote"),
    ],
)
def test_malformed_quoting_is_explained(text: str, reason: str) -> None:
    result = split_record(text)
    assert isinstance(result, Malformed) and reason in result.en


def test_unterminated_quote_at_end_of_file_is_a_finding() -> None:
    records, sink = _read(b'a,"b\nc,d\n')
    assert records == []
    assert [f.rule for f in sink.items] == ["csv.quoting"]


@pytest.mark.parametrize("char", ["〜", "～", "①", "髙", "Ⅲ", "㈱", "﨑"])
def test_ms932_extensions_decode(char: str) -> None:
    records, sink = _read(f'"{char}",x\r\n'.encode("cp932"))
    assert sink.items == []
    # 〜 (U+301C) is written as 0x8160 and reads back as ～ (U+FF5E): decision D4.
    assert records[0][0] == ("～" if char == "〜" else char)


@pytest.mark.parametrize(
    "raw",
    [
        "𠮷".encode(),  # UTF-8 of a character outside MS932
        "😀".encode(),  # an emoji
        b"\x81\x7f",  # a lead byte with an invalid trail byte
        b"\x85\x40",  # unassigned row
    ],
)
def test_bytes_outside_ms932_are_findings_with_line_and_offset(raw: bytes) -> None:
    data = b"a,b\r\nxy," + raw + b",z\r\n"
    records, sink = _read(data)
    found = [f for f in sink.items if f.rule.startswith("encoding.")]
    assert found, sink.items
    assert found[0].line == 2
    offsets = [int(f.message_en.split("byte offset ")[1].split()[0]) for f in found]
    assert all(8 <= o < 8 + len(raw) for o in offsets)  # line 2 starts at 5, "xy," is 3 bytes
    assert len(records) == 2  # the record is still read, with U+FFFD in place


def test_gaiji_and_control_characters() -> None:
    _, sink = _read(b"a,\xf0\x40\r\nb,\x01\r\n")
    assert [f.rule for f in sink.items] == ["encoding.gaiji", "encoding.control"]
    assert [f.line for f in sink.items] == [1, 2]
    assert "byte offset 2" in sink.items[0].message_en


def test_bom_is_skipped_with_a_warning() -> None:
    records, sink = _read(b"\xef\xbb\xbfa,b\r\n")
    assert records == [["a", "b"]]
    assert [(f.rule, f.severity) for f in sink.items] == [("encoding.bom", "warning")]


def test_blank_lines_are_skipped_with_a_warning() -> None:
    records, sink = _read(b"a,b\r\n\r\nc,d\r\n")
    assert records == [["a", "b"], ["c", "d"]]
    assert [(f.rule, f.line) for f in sink.items] == [("csv.blank_line", 2)]


def test_many_bad_bytes_are_capped() -> None:
    data = b"\x81\x7f" * 10_000
    found = validate_csv(name_of("UPPLAN"), data)
    assert len(found) <= 202
    assert "encoding.undecodable" in rules(found)


def test_sink_caps_and_summarises() -> None:
    sink = FindingSink("T.CSV", 2)
    for _ in range(5):
        sink.add("x", "m")
    result = sink.result()
    assert len(result) == 3 and result[-1].rule == "findings.suppressed"
    assert "3 more" in result[-1].message


def test_stray_quote_in_a_record_with_quotes_is_an_error() -> None:
    records, sink = _read('"名前",a"b,c\r\n"ok",x,y\r\n'.encode("cp932"))
    assert records == [["ok", "x", "y"]]
    assert [(f.rule, f.line) for f in sink.items] == [("csv.quoting", 1)]
    assert "quote inside an unquoted field" in (sink.items[0].message_en or "")


def test_text_after_closing_quote_is_an_error() -> None:
    records, sink = _read(b'"a"b,c\r\nd,e\r\n')
    assert records == [["d", "e"]]
    assert [(f.rule, f.line) for f in sink.items] == [("csv.quoting", 1)]


def test_an_unterminated_quote_costs_one_bounded_record() -> None:
    data = b'1,"never closed\r\n' + b"2,x\r\n" * 200_000
    records, sink = _read(data)
    assert [f.rule for f in sink.items] == ["csv.quoting"]
    assert "1000行を超える" in sink.items[0].message
    sink = FindingSink("T.CSV", 200)
    records = list(read_records(data, sink))
    assert len(records) == 200_000 - 999  # reading resumes after the capped record
    assert records[0].line == 1001 and records[-1].line == 200_001


def test_very_long_free_text_is_read() -> None:
    long_text = "あ" * 200_000  # beyond csv.field_size_limit(): read by our own tokenizer
    records, sink = _read(f'1,"{long_text}",2\r\n'.encode("cp932"))
    assert sink.items == []
    assert records == [["1", long_text, "2"]]


@pytest.mark.parametrize(
    ("broken", "reason"),
    [(b'"X"Y', "text after a closing quote"), (b'X"Y', "quote inside an unquoted field")],
)
def test_a_record_that_cannot_be_read_names_its_item_in_japanese(broken: bytes, reason: str) -> None:
    """csv.quoting said 「レコードを読めません: text after a closing quote at character 53」: English
    after the Japanese, and a character count where the office looks for an item (decision D23)."""
    rows = records_of("UPPLAN")
    rows[0][6] = "X"  # No.7 プラン担当者名, free text
    data = write_csv("UPPLAN", rows).replace(b'"X"', broken, 1)
    [found] = [f for f in validate_csv(name_of("UPPLAN"), data) if f.rule == "csv.quoting"]
    assert (found.line, found.field_no, found.field_name) == (1, 7, "プラン担当者名")
    assert is_japanese(found.message) and not re.search(r"[a-z]{2,}", found.message), found.message
    assert reason in (found.message_en or "")
