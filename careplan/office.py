"""Office numbers (事業所番号), insurer numbers (保険者番号) and user IDs (R1.1–R1.3).

Rules this module keeps:
1. Structure is checked strictly: 10 characters, 都道府県番号 01–47, a known 事業所区分 in the 3rd
   place, digits or upper-case letters other than I, O and Q.
2. The check digit (モジュラス10 ウェイト2-1 分割方式, letters A=10 … Z=32 skipping I, O, Q) is only a
   warning unless `strict=True`: real numbers exist whose check digit covers only digits 4–9
   (みなし指定 医療機関等コード, R1.1), and a wrong rule must never reject a real office.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from careplan.errors import Finding

# 事業所区分 (3rd character), R1.1.
OFFICE_CLASSES: dict[str, str] = {
    "0": "地域包括支援センター又は総合事業経過措置",
    "7": "指定",
    "8": "基準該当",
    "9": "地域密着型",
    "A": "総合事業",
    # みなし指定: 医療機関等コード used as office number
    "1": "医科（みなし指定）",
    "3": "歯科（みなし指定）",
    "4": "薬局（みなし指定）",
    "5": "老人保健施設（みなし指定）",
    "6": "訪問看護ステーション（みなし指定）",
}

_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ"  # I, O, Q are never used
_CHAR_VALUE = {str(d): d for d in range(10)} | {c: 10 + i for i, c in enumerate(_ALPHABET)}
_OFFICE_RE = re.compile(r"(0[1-9]|[1-3][0-9]|4[0-7])[0-9A-HJ-NPR-Z]{8}")
_INSURER_RE = re.compile(r"[0-9]{6}")
_KJ_RE = re.compile(r"KJ[0-9A-Za-z]{4,30}")
_PERSONAL_RE = re.compile(r"C[0-9A-Za-z]{4,30}")


def check_digit(body: str) -> str:
    """The モジュラス10 ウェイト2-1 check digit of `body` (9 office characters or 5 insurer digits).

    From the rightmost character, weights 2, 1, 2, 1…; a two-digit product counts as the sum of
    its digits. 117120136 → 9 (a real 訪問介護 number), 13101 → 1 (千代田区 131011).
    """
    total = 0
    for position, char in enumerate(reversed(body)):
        product = _CHAR_VALUE[char] * (2 if position % 2 == 0 else 1)
        total += sum(int(d) for d in str(product))
    return str((10 - total % 10) % 10)


def with_check_digit(body9: str) -> str:
    """Complete a 9-character office number body with its check digit."""
    return body9 + check_digit(body9)


@dataclass(frozen=True, slots=True)
class OfficeNumber:
    """A structurally valid 事業所番号. Construct with `OfficeNumber.parse`."""

    value: str

    @property
    def prefecture(self) -> str:
        return self.value[:2]

    @property
    def office_class(self) -> str:
        return OFFICE_CLASSES[self.value[2]]

    @property
    def check_digit_ok(self) -> bool:
        return check_digit(self.value[:9]) == self.value[9]

    @classmethod
    def parse(cls, text: str) -> OfficeNumber:
        """Raise ValueError (with the reason) unless `text` is structurally a 事業所番号."""
        problems = [f for f in office_number_findings(text) if f.severity == "error"]
        if problems:
            raise ValueError(problems[0].message)
        return cls(text)

    def __str__(self) -> str:
        return self.value


def office_number_findings(text: str, *, strict: bool = False, field: str = "事業所番号") -> list[Finding]:
    """Every problem with `text` as a 事業所番号; the check digit is a warning unless strict."""
    if not _OFFICE_RE.fullmatch(text):
        return [
            Finding(
                rule="office_number.structure",
                message=f"{field} {text!r} is not 10 characters of 都道府県番号(01–47) + 8 digits/letters",
                field_name=field,
                value=text,
                expected="都道府県番号(2)+事業所区分(1)+郡市区番号(2)+番号(4)+チェックデジット(1)",
                section="R1.1",
                fix="Use the 10-character 事業所番号 exactly as on the office's designation.",
            )
        ]
    if text[2] not in OFFICE_CLASSES:
        return [
            Finding(
                rule="office_number.class",
                message=f"{field} {text!r}: 3rd character {text[2]!r} is not a known 事業所区分",
                field_name=field,
                value=text,
                expected="one of " + ", ".join(OFFICE_CLASSES),
                expected_ja=", ".join(OFFICE_CLASSES) + " のいずれか",
                section="R1.1",
                fix="Check the 3rd character of the 事業所番号.",
            )
        ]
    expected = check_digit(text[:9])
    if expected == text[9]:
        return []
    return [
        Finding(
            rule="office_number.check_digit",
            severity="error" if strict else "warning",
            message=f"{field} {text!r}: check digit {text[9]} differs from the computed {expected}",
            field_name=field,
            value=text,
            expected=text[:9] + expected,
            section="R1.1 (モジュラス10 ウェイト2-1)",
            fix="Verify the number against the office's designation; some real みなし指定 numbers "
            "use another check rule, so this is only a warning unless strict mode is on.",
        )
    ]


def is_office_number(text: str) -> bool:
    """Structure only (never the check digit): the test the hub applies before accepting an office."""
    return not any(f.severity == "error" for f in office_number_findings(text))


def insurer_number_ok(text: str) -> bool:
    """保険者番号: 6 digits whose last is the 2-1 check digit of the first five (131011)."""
    return bool(_INSURER_RE.fullmatch(text)) and check_digit(text[:5]) == text[5]


def is_office_user_id(text: str) -> bool:
    """事業所ユーザID from the billing system: begins with KJ (R1.2)."""
    return bool(_KJ_RE.fullmatch(text))


def is_personal_user_id(text: str) -> bool:
    """個人ユーザID issued after 利用申請: begins with C (R1.3)."""
    return bool(_PERSONAL_RE.fullmatch(text))


# 都道府県番号 → 都道府県名 (JIS X 0401), the first two digits of a 事業所番号.
PREFECTURES: dict[str, str] = dict(
    zip(
        (f"{n:02d}" for n in range(1, 48)),
        [
            "北海道",
            "青森県",
            "岩手県",
            "宮城県",
            "秋田県",
            "山形県",
            "福島県",
            "茨城県",
            "栃木県",
            "群馬県",
            "埼玉県",
            "千葉県",
            "東京都",
            "神奈川県",
            "新潟県",
            "富山県",
            "石川県",
            "福井県",
            "山梨県",
            "長野県",
            "岐阜県",
            "静岡県",
            "愛知県",
            "三重県",
            "滋賀県",
            "京都府",
            "大阪府",
            "兵庫県",
            "奈良県",
            "和歌山県",
            "鳥取県",
            "島根県",
            "岡山県",
            "広島県",
            "山口県",
            "徳島県",
            "香川県",
            "愛媛県",
            "高知県",
            "福岡県",
            "佐賀県",
            "長崎県",
            "熊本県",
            "大分県",
            "宮崎県",
            "鹿児島県",
            "沖縄県",
        ],
        strict=True,
    )
)
