"""Rules for one field value, as tables: by 書式 (format) and by item name (decisions D1, D16, D17).

Rules this module keeps:
1. A layout is compiled once into a list of `FieldCheck` (index, field, rules) so that checking a
   record is a loop over precompiled predicates; empty optional fields cost one comparison.
2. 項目長 is a maximum in characters (decision D1). Fixed formats are exact through their rule.
3. Special values (000000, 00000000, 9999, 9999999999) bypass the format rule of their field only.
4. Office numbers and 保険者番号 are checked with careplan.office: structure is an error, the check
   digit a warning unless strict (R1.1).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

from careplan.errors import Finding
from careplan.office import check_digit, office_number_findings
from careplan.standard.layout import Field, Layout, standard

Test = Callable[[str], bool]
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def month_days(yyyymm: str) -> int:
    """Days in the month YYYYMM (a real month is assumed)."""
    year, month = int(yyyymm[:4]), int(yyyymm[4:6])
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return 29 if month == 2 and leap else _DAYS[month - 1]


@lru_cache(maxsize=1024)
def is_month(value: str) -> bool:
    return len(value) == 6 and value.isascii() and value.isdigit() and "01" <= value[4:] <= "12"


@lru_cache(maxsize=4096)
def is_date(value: str) -> bool:
    if not (len(value) == 8 and value.isascii() and value.isdigit() and is_month(value[:6])):
        return False
    return 1 <= int(value[6:]) <= month_days(value[:6]) and value[:4] != "0000"


def is_time(value: str) -> bool:
    """HHMM of an end time: 0000–2359, or 2400 (decision D16)."""
    return value == "2400" or is_start_time(value)


def is_start_time(value: str) -> bool:
    """HHMM of a start time: 0000–2359; 2400 ends a day and starts none (decision D16)."""
    return len(value) == 4 and value.isascii() and value.isdigit() and value[:2] <= "23" and value[2:] <= "59"


def _regex(pattern: str) -> Test:
    # ASCII: \d is 0-9 only. Unicode \d also takes full-width ０-９, which MS932 can carry and which
    # no item of the standard accepts as digits (int() reads them, so a total would even add up).
    compiled = re.compile(pattern, re.ASCII)
    return lambda value: compiled.fullmatch(value) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldRule:
    """One predicate a non-empty value must satisfy."""

    rule: str
    expected: str
    test: Test
    fix: str  # English
    fix_ja: str = ""  # Japanese, what the office reads first
    expected_ja: str = ""  # the expectation in the Japanese message (`expected` stays as it was)
    severity: str = "error"


# By 書式 (レイアウト定義書 書式 column; 標準仕様 4 for dates).
FORMAT_RULES: dict[str, FieldRule] = {
    "YYYYMM": FieldRule(
        rule="field.yyyymm",
        expected="YYYYMM (a real year and month)",
        test=is_month,
        fix="Write the year and month as 6 digits, e.g. 202504.",
        fix_ja="年月を6桁の数字で書いてください（例: 202504）。",
        expected_ja="YYYYMM、実在する年月",
    ),
    "YYYYMMDD": FieldRule(
        rule="field.date",
        expected="YYYYMMDD (a real date)",
        test=is_date,
        fix="Write a real date as 8 digits, e.g. 20250401.",
        fix_ja="実在する日付を8桁の数字で書いてください（例: 20250401）。",
        expected_ja="YYYYMMDD、実在する日付",
    ),
    "HHMM": FieldRule(
        rule="field.time",
        expected="HHMM (0000–2359; 2400 as an end time)",
        test=is_time,
        fix="Write the time as 4 digits, e.g. 0930.",
        fix_ja="時刻を4桁の数字で書いてください（例: 0930）。",
        expected_ja="HHMM、0000～2359（終了時刻は2400も可）",
    ),
    "XXX-XXXX": FieldRule(
        rule="field.postcode",
        expected="XXX-XXXX",
        test=_regex(r"\d{3}-\d{4}"),
        fix="Write the postcode as 3 digits, a hyphen and 4 digits.",
        fix_ja="郵便番号は「3桁-4桁」で書いてください（例: 100-0005）。",
        expected_ja="XXX-XXXX、半角数字3桁・ハイフン・4桁",
    ),
    "整数": FieldRule(
        rule="field.integer",
        expected="an integer",
        test=_regex(r"-?\d+"),
        fix="Write digits only (a leading minus for 減算).",
        fix_ja="数字だけで書いてください（減算は先頭にマイナス）。",
        expected_ja="半角数字の整数",
    ),
    "99.99 形式で入力": FieldRule(
        rule="field.decimal",
        expected="99.99",
        test=_regex(r"\d{1,2}\.\d{2}"),
        fix="Write e.g. 10.00 or 11.40.",
        fix_ja="10.00、11.40 のように半角で書いてください。",
        expected_ja="99.99、半角数字1～2桁・小数点・2桁",
    ),
}

# A start time (開始時刻, 開始時間) may not be 2400: D16 allows it as the end of a day only.
START_TIME = FieldRule(
    rule="field.time",
    expected="HHMM 0000–2359 (2400 only as an end time, decision D16)",
    test=is_start_time,
    fix="Write the start time as 0000–2359; a service starting at midnight starts at 0000.",
    fix_ja="開始時刻は0000～2359で書いてください。2400は終了時刻にだけ使えます（0時開始は0000）。",
    expected_ja="HHMM、0000～2359（2400は終了時刻だけ）",
)
_DIGITS = FieldRule(
    rule="field.digits",
    expected="digits",
    test=_regex(r"\d+"),
    fix="Write digits only.",
    fix_ja="半角数字だけで書いてください。",
    expected_ja="半角数字",
)
_OFFICE_NAMES = frozenset(
    {
        "プラン担当業者コード",
        "介護支援事業者コード",
        "サービス事業者コード",
        "更新業者コード",
        "サービス事業所コード",
        "同意書受付業者",
        "事業所コード",
    }
)

# By item name (レイアウト定義書 notes of each item), first match wins.
NAME_RULES: tuple[tuple[re.Pattern[str], FieldRule], ...] = (
    (
        re.compile(r"^保険者番号$"),
        FieldRule(
            rule="field.insurer",
            expected="6 digits",
            test=_regex(r"\d{6}"),
            fix="Write the 6-digit 保険者番号.",
            fix_ja="6桁の保険者番号を書いてください。",
            expected_ja="半角数字6桁",
        ),
    ),
    (
        re.compile(r"^被保険者番号$"),
        FieldRule(
            rule="field.insured",
            expected="10 digits, or H + 9 digits (生保単独)",
            test=_regex(r"\d{10}|H\d{9}"),
            fix="Write the 10-digit 被保険者番号 (生保単独: H123456789).",
            fix_ja="10桁の被保険者番号を書いてください（生保単独: H123456789）。",
            expected_ja="半角数字10桁、生保単独は H＋半角数字9桁",
        ),
    ),
    (
        re.compile(r"サービス種類コード$"),
        FieldRule(
            rule="field.kind",
            expected="a 2-character サービス種類コード",
            test=_regex(r"[0-9A-Z]{2}"),
            fix="Write the サービス種類コード, e.g. 11.",
            fix_ja="サービス種類コードを書いてください（例: 11）。",
            expected_ja="半角英数字2文字のサービス種類コード",
        ),
    ),
    (
        re.compile(r"^サービスコード$"),
        FieldRule(
            rule="field.service_code",
            expected="6 characters: サービス種類コード(2) + 項目コード(4)",
            test=_regex(r"[0-9A-Z]{6}"),
            fix="Use the サービスコード of the latest サービスコード表.",
            fix_ja="最新のサービスコード表のサービスコードを書いてください。",
            expected_ja="半角英数字6文字: サービス種類コード2文字＋項目コード4文字",
        ),
    ),
    (
        re.compile(r"^日割対象日$"),
        FieldRule(
            rule="field.hiwari",
            expected="31 characters of 0/1 (day n = position n)",
            test=_regex(r"[01]{31}"),
            fix="Write 31 digits, 1 on each 日割請求可能日, or leave it empty.",
            fix_ja="31桁で、日割請求できる日を1にしてください（日割でなければ空にします）。",
            expected_ja="0と1の31文字（n文字目がn日）",
        ),
    ),
    (
        re.compile(r"^(TAISコード|福祉用具届出コード)$"),
        FieldRule(
            rule="field.tais",
            expected="5 digits, a hyphen (- or －) and 6 digits, e.g. 00001－000010",
            test=_regex(r"\d{5}[-－]\d{6}"),
            fix="Write the code as registered with TAIS.",
            fix_ja="TAISに登録されたとおりのコードを書いてください。",
            expected_ja="半角数字5桁・ハイフン（- または －）・半角数字6桁（例: 00001－000010）",
        ),
    ),
    (
        re.compile(r"電話番号$|Fax番号$"),
        FieldRule(
            rule="field.phone",
            expected="digits and hyphens",
            test=_regex(r"[0-9()\-]+"),
            fix="Write the number with digits and hyphens only.",
            fix_ja="半角数字とハイフンだけで書いてください。",
            expected_ja="半角数字とハイフン",
        ),
    ),
    (re.compile(r"ＮＯ$|枝番$|^サービス回数$|日数$|単位数$|基準額$|該当数|階数$"), _DIGITS),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldCheck:
    """The compiled checks of one field of a layout."""

    index: int
    field: Field
    rules: tuple[FieldRule, ...]
    office: bool = False  # checked with careplan.office (structure error, check digit warning)
    insurer: bool = False  # 保険者番号 check digit (warning unless strict)
    free_text: bool = False
    required: bool = False


def _rules_for(field: Field) -> tuple[FieldRule, ...]:
    if field.free_text:
        return ()
    if field.choices:
        choices = field.choices
        return (
            FieldRule(
                rule="field.choice",
                expected="one of " + ", ".join(f"{k}:{v}" for k, v in choices.items()),
                test=choices.__contains__,
                fix="Use a code of the layout's list.",
                fix_ja="レイアウト定義書の一覧にあるコードを書いてください。",
                expected_ja="コード表の値（" + ", ".join(f"{k}:{v}" for k, v in choices.items()) + "）",
            ),
        )
    if field.format == "HHMM" and "開始" in field.name:
        return (START_TIME,)
    if field.format in FORMAT_RULES:
        return (FORMAT_RULES[field.format],)
    for pattern, rule in NAME_RULES:
        if pattern.search(field.name):
            return (rule,)
    return ()


@cache
def compile_layout(file_id: str) -> tuple[FieldCheck, ...]:
    """Precompiled checks for every field of `file_id` (built once per layout)."""
    layout: Layout = standard().layout(file_id)
    return tuple(
        FieldCheck(
            index=f.no - 1,
            field=f,
            rules=_rules_for(f),
            free_text=f.free_text,
            required=f.required,
            office=f.name in _OFFICE_NAMES,
            insurer=f.name == "保険者番号",
        )
        for f in layout.fields
    )


# Quick checks of a record: (field index, values that need no look), and fields that need a value.
Quick = tuple[list[tuple[int, Container[str]]], list[int]]
_NOTHING: frozenset[str] = frozenset()


def quick_checks(checks: Sequence[FieldCheck], valid: Sequence[set[str]], unquoted: set[int]) -> tuple[Quick, Quick]:
    """Quick checks for records with quotes and for records without any (rule 1, faster).

    `valid[i]` holds the values of field i known to pass its rules (special values, "" when
    optional, values already checked). A record whose values all pass the quick checks has no
    field finding. With quotes, free text was quoted and needs only a value when required;
    without, free text must be empty until its field was reported unquoted (`unquoted`).
    """
    quoted: Quick = ([], [])
    bare: Quick = ([], [])
    for c, v in zip(checks, valid, strict=True):
        if not c.free_text:
            quoted[0].append((c.index, v))
            bare[0].append((c.index, v))
            continue
        if c.required:
            quoted[1].append(c.index)
        if c.index not in unquoted:
            bare[0].append((c.index, _NOTHING if c.required else {""}))
        elif c.required:
            bare[1].append(c.index)
    return quoted, bare


# careplan.office's findings about an item, in Japanese (decision D23): (message, fix) templates.
OFFICE_JA: dict[str, tuple[str, str]] = {
    "office_number.structure": (
        "{name}「{value}」が事業所番号の形（都道府県番号2桁＋半角数字・英大文字8文字）ではありません。",
        "指定どおりの10文字の事業所番号を書いてください（R1.1）。",
    ),
    "office_number.class": (
        "{name}「{value}」の3文字目が事業所区分（0, 7, 8, 9, A、みなし指定の 1, 3, 4, 5, 6）ではありません。",
        "事業所番号の3文字目を確かめてください（R1.1）。",
    ),
    "office_number.check_digit": (
        "{name}「{value}」のチェックデジットが計算（{expected}）と異なります。",
        "指定通知の番号と照らし合わせてください（みなし指定の番号は別の規則のことがあります）。同じ値は一度だけ報告します。",
    ),
}


@lru_cache(maxsize=4096)
def office_problem(value: str, strict: bool) -> Finding | None:
    """The first problem of an office number (careplan.office), or None if fine (memoised)."""
    for f in office_number_findings(value, strict=strict):
        return f
    return None


@lru_cache(maxsize=4096)
def insurer_check_digit_ok(value: str) -> bool:
    return check_digit(value[:5]) == value[5]
