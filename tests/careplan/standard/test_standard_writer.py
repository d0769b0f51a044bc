"""write_csv: MS932, CRLF, quoting of free text, clear errors; round trip through the validator."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standard_testkit import name_of, records_of

from careplan.errors import CareplanError
from careplan.standard import validate_csv, write_csv
from careplan.standard.reader import FindingSink, read_records


def test_bytes_are_ms932_with_crlf_and_quoted_free_text() -> None:
    rows = records_of("UPHOSOKU")[:1]
    rows[0][9] = '東京都千代田区, "丸の内"\n1-1'
    data = write_csv("UPHOSOKU", rows)
    assert data.endswith(b"\r\n") and data.count(b"\r\n") == 1
    text = data.decode("cp932")
    assert '"東京都千代田区, ""丸の内""\n1-1"' in text
    assert ',"ヤマダ タロウ","山田 太郎",1,' in text
    assert not data.startswith(b"\xef\xbb\xbf")


def test_empty_free_text_is_null() -> None:
    rows = records_of("UPHOSOKU")[:1]
    rows[0][10] = ""
    assert ",,03-1234-5678," in write_csv("UPHOSOKU", rows).decode("cp932")


@pytest.mark.parametrize(("char", "hint"), [("𠮷", "吉"), ("😀", None), ("\ue000", None), ("\x07", None)])
def test_characters_outside_ms932_are_a_clear_error(char: str, hint: str | None) -> None:
    rows = records_of("UPHOSOKU")[:1]
    rows[0][5] = f"{char}田 太郎"
    with pytest.raises(CareplanError) as caught:
        write_csv("UPHOSOKU", rows)
    error = caught.value
    assert error.code == "FORMAT_INVALID"
    finding = error.findings[0]
    assert finding["field_no"] == 6 and finding["field_name"] == "利用者氏名"
    assert f"U+{ord(char):04X}" in str(finding["message"])
    if hint:
        assert hint in str(finding["fix"])


def test_wave_dash_is_written_as_ms932() -> None:
    rows = records_of("UPHOSOKU")[:1]
    rows[0][10] = "1〜3号室"
    data = write_csv("UPHOSOKU", rows)
    assert "1～3号室" in data.decode("cp932")
    assert validate_csv(name_of("UPHOSOKU"), data) == []


def test_field_count_and_unknown_ids() -> None:
    with pytest.raises(CareplanError, match="FORMAT_INVALID"):
        write_csv("UPPLAN", [["202407"]])
    with pytest.raises(KeyError):
        write_csv("NOPE", [])
    with pytest.raises(ValueError, match="not a CSV"):
        write_csv("UPKIHON_IMAGE", [])


# Free text drawn from MS932-safe characters, with the CSV-special ones included.
_TEXT = st.text(alphabet=st.sampled_from(list('あいう漢字髙①ｱｲ ,"\r\nabc123-～・「」')), max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=_TEXT.filter(bool),
    kana=_TEXT.filter(bool),
    address=_TEXT,
    day=st.integers(1, 30),
    units=st.integers(-999, 99999),
    start=st.integers(0, 23),
    minute=st.integers(0, 59),
)
def test_round_trip_of_generated_valid_records(
    name: str, kana: str, address: str, day: int, units: int, start: int, minute: int
) -> None:
    hosoku = records_of("UPHOSOKU")
    hosoku[0][4], hosoku[0][5], hosoku[0][9] = kana, name, address
    data = write_csv("UPHOSOKU", hosoku)
    assert validate_csv(name_of("UPHOSOKU"), data) == []
    sink = FindingSink("x", 10)
    assert [r.fields for r in read_records(data, sink)] == hosoku
    plan = records_of("UPPLAN")
    plan[0][9] = f"202504{day:02d}"
    plan[0][7] = str(units)
    plan[0][11] = f"{start:02d}{minute:02d}"
    plan[0][6] = name
    data = write_csv("UPPLAN", plan)
    assert validate_csv(name_of("UPPLAN"), data) == []
    assert [r.fields for r in read_records(data, FindingSink("x", 10))] == plan
