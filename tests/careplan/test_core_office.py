"""Office numbers, insurer numbers and user IDs (careplan/office.py, R1.1–R1.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careplan.office import (
    OFFICE_CLASSES,
    OfficeNumber,
    check_digit,
    insurer_number_ok,
    is_office_number,
    is_office_user_id,
    is_personal_user_id,
    office_number_findings,
    with_check_digit,
)

LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # R1.1: A=10 … Z=32, no I, O, Q
BODY_CHARS = "0123456789" + LETTERS


def reference_check_digit(body: str) -> str:
    """R1.1 written out independently: weights 2,1,2,1… from the right, products digit-summed."""
    values = {str(d): d for d in range(10)} | {c: 10 + i for i, c in enumerate(LETTERS)}
    total = 0
    for position, char in enumerate(reversed(body)):
        product = values[char] * (2 if position % 2 == 0 else 1)
        total += product // 10 + product % 10
    return str((10 - total % 10) % 10)


# --- check digits -------------------------------------------------------------------------------
def test_real_office_number_checks_out() -> None:
    assert check_digit("117120136") == "9"
    assert with_check_digit("117120136") == "1171201369"
    assert office_number_findings("1171201369") == []
    assert OfficeNumber.parse("1171201369").check_digit_ok


def test_real_insurer_number_checks_out() -> None:
    assert check_digit("13101") == "1"
    assert insurer_number_ok("131011")


@pytest.mark.parametrize("text", ["131012", "13101", "1310111", "13101a", " 13101", ""])
def test_bad_insurer_numbers(text: str) -> None:
    assert not insurer_number_ok(text)


@pytest.mark.parametrize("text", ["１３１０１１", "1310¹1"])
def test_unicode_digits_are_not_an_insurer_number(text: str) -> None:
    assert not insurer_number_ok(text)


def test_letter_values_run_from_a_10_to_z_32_skipping_i_o_q() -> None:
    # "01A000000": A at weight 2 → 20 → 2+0; the 1 at weight 1 → 1; total 3 → check 7.
    assert check_digit("01A000000") == "7"
    # Z = 32 at weight 2 → 64 → 6+4 = 10; + 1 → 11 → check 9.
    assert check_digit("01Z000000") == "9"
    # Z at weight 1 → 32 → 3+2 = 5; + 1 → 6 → check 4.
    assert check_digit("010Z00000") == "4"
    # H = 17, J = 18 (I skipped), N = 22, P = 23 (O skipped), R = 24 (Q skipped).
    for letter, value in {"H": 17, "J": 18, "N": 22, "P": 23, "R": 24, "Z": 32}.items():
        product = value * 2
        total = product // 10 + product % 10 + 1
        assert check_digit(f"01{letter}000000") == str((10 - total % 10) % 10), letter
    assert len(LETTERS) == 23


@pytest.mark.parametrize("letter", ["I", "O", "Q", "a"])
def test_letters_never_used_are_not_office_numbers(letter: str) -> None:
    text = f"1310{letter}00001"
    findings = office_number_findings(text)
    assert [f.rule for f in findings] == ["office_number.structure"]
    assert findings[0].severity == "error"
    assert not is_office_number(text)


@given(st.text(alphabet=BODY_CHARS, min_size=9, max_size=9))
def test_check_digit_matches_the_rule_written_out(body: str) -> None:
    assert check_digit(body) == reference_check_digit(body)


@given(
    st.sampled_from([f"{p:02d}" for p in range(1, 48)]),
    st.sampled_from(sorted(OFFICE_CLASSES)),
    st.text(alphabet=BODY_CHARS, min_size=6, max_size=6),
)
def test_completed_numbers_are_valid_and_one_changed_check_digit_is_a_warning(
    prefecture: str, office_class: str, rest: str
) -> None:
    number = with_check_digit(prefecture + office_class + rest)
    assert office_number_findings(number) == []
    assert office_number_findings(number, strict=True) == []
    wrong = number[:9] + str((int(number[9]) + 1) % 10)
    (warning,) = office_number_findings(wrong)
    assert (warning.rule, warning.severity, warning.expected) == ("office_number.check_digit", "warning", number)
    assert is_office_number(wrong)


# --- structure ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "",
        "117120136",  # 9 characters
        "11712013690",  # 11 characters
        "0071201369",  # prefecture 00
        "4871201369",  # prefecture 48
        "9971201369",
        "1171201 69",
        "11712O1369",  # O is never used
        "1171201３69",  # full-width digit
        "117a201369",  # lower case
        "-171201369",
    ],
)
def test_structure_errors(text: str) -> None:
    findings = office_number_findings(text)
    assert [(f.rule, f.severity) for f in findings] == [("office_number.structure", "error")]
    assert findings[0].value == text
    assert findings[0].section == "R1.1"
    assert not is_office_number(text)
    with pytest.raises(ValueError, match="is not 10 characters"):
        OfficeNumber.parse(text)


@pytest.mark.parametrize("third", ["2", "B", "C", "Z"])
def test_unknown_office_class_is_an_error(third: str) -> None:
    text = with_check_digit(f"13{third}010001")
    (finding,) = office_number_findings(text)
    assert (finding.rule, finding.severity) == ("office_number.class", "error")
    assert not is_office_number(text)
    with pytest.raises(ValueError, match="事業所区分"):
        OfficeNumber.parse(text)


@pytest.mark.parametrize("prefecture", ["01", "13", "47"])
def test_prefecture_bounds_accepted(prefecture: str) -> None:
    assert is_office_number(with_check_digit(f"{prefecture}7010001"))


# --- the check digit is a warning unless strict -------------------------------------------------
def test_check_digit_mismatch_is_a_warning() -> None:
    (finding,) = office_number_findings("1171201368")
    assert finding.rule == "office_number.check_digit"
    assert finding.severity == "warning"
    assert finding.expected == "1171201369"
    assert is_office_number("1171201368")
    parsed = OfficeNumber.parse("1171201368")
    assert str(parsed) == "1171201368"
    assert not parsed.check_digit_ok


def test_check_digit_mismatch_is_an_error_in_strict_mode() -> None:
    (finding,) = office_number_findings("1171201368", strict=True, field="送信元事業所番号")
    assert finding.severity == "error"
    assert finding.field_name == "送信元事業所番号"
    assert "送信元事業所番号" in finding.message


@pytest.mark.parametrize(
    ("third", "meaning"), [("1", "医科"), ("3", "歯科"), ("4", "薬局"), ("5", "老人保健施設"), ("6", "訪問看護")]
)
def test_minashi_classes_are_accepted_even_with_a_foreign_check_digit(third: str, meaning: str) -> None:
    # A 医療機関等コード whose check digit covers only digits 4–9 (R1.1).
    body = f"13{third}123456"
    foreign = body + reference_check_digit(body[3:9])
    assert is_office_number(foreign)
    assert all(f.severity == "warning" for f in office_number_findings(foreign))
    assert meaning in OfficeNumber.parse(foreign).office_class
    assert is_office_number(with_check_digit(body))


def test_office_number_parts() -> None:
    parsed = OfficeNumber.parse("1171201369")
    assert parsed.prefecture == "11"
    assert parsed.office_class == "指定"
    assert OfficeNumber.parse(with_check_digit("13A010001")).office_class == "総合事業"
    assert OfficeNumber.parse(with_check_digit("130010001")).office_class.startswith("地域包括")


def test_trailing_newline_is_not_an_office_number() -> None:
    assert not is_office_number("1171201369\n")


def test_trailing_newline_is_not_a_user_id() -> None:
    assert not is_office_user_id("KJ1171201369\n")
    assert not is_personal_user_id("C117120136901\n")


# --- user IDs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["KJ1171201369", "KJabcd", "KJ" + "9" * 30])
def test_office_user_ids(text: str) -> None:
    assert is_office_user_id(text)
    assert not is_personal_user_id(text)


@pytest.mark.parametrize("text", ["C117120136901", "Cabcd", "C" + "1" * 30])
def test_personal_user_ids(text: str) -> None:
    assert is_personal_user_id(text)
    assert not is_office_user_id(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "KJ",
        "KJ123",
        "kj1234",
        "KJ12-34",
        "KJ1234 ",
        " KJ1234",
        "KJ" + "9" * 31,
        "C123",
        "c12345",
        "C12 345",
        "C" + "1" * 31,
        "1171201369",
    ],
)
def test_not_user_ids(text: str) -> None:
    assert not is_office_user_id(text)
    assert not is_personal_user_id(text)
