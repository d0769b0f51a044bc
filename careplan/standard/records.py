"""Rules that look at several fields of one record, or at all records of one file.

Rules this module keeps:
1. 第6表 (UPPLAN, UPJSK): サービス利用日 in 対象年月, 日割対象日 within the month, 9999 in pairs,
   no 第7表 subtotal codes, TAIS/届出コード for 17/67, 明細判別コード only for 17/67 (decision
   D19), kinds in scope (レイアウト定義書 第6表 notes).
2. 第7表 (UPSIKYU): kind+AAAA/EEEE/ZZZZ and 999999 rows with 0 units and Null discounts, 999999
   with 9999999999, one 全合計 per user (decision D15).
3. 利用者補足情報 (UPHOSOKU): 000000 / 00000000 exclusive (decision D8).
Each rule reads fields by number of the layout; `Emit` reports (rule, field No., message, fix).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from careplan.standard.fields import is_date, is_month, month_days
from careplan.standard.layout import standard

Emit = Callable[..., None]  # emit(rule, no, message, *, value=, expected=, fix=, severity=)
SUBTOTAL_SUFFIXES = ("AAAA", "EEEE", "ZZZZ")
GRAND_TOTAL = "999999"
ALL_NINES = "9999999999"
WELFARE_KINDS = ("17", "67")  # 福祉用具貸与, 介護予防福祉用具貸与


def is_subtotal(code: str) -> bool:
    return code == GRAND_TOTAL or (len(code) == 6 and code[2:] in SUBTOTAL_SUFFIXES)


def plan_day(f: list[str], emit: Emit) -> None:
    """第6表 / 実績: No.10 サービス利用日 in No.5 対象年月 (decision D7)."""
    month, day = f[4], f[9]
    if is_month(month) and is_date(day) and day[:6] != month:
        emit(
            "plan.date_month",
            10,
            f"サービス利用日 {day} が対象年月 {month} の日付ではありません。",
            message_en=f"サービス利用日 {day} is not in 対象年月 {month}",
            value=day,
            expected=f"a date in {month}",
            expected_ja=f"{month} の日付",
            fix="1ファイルには1つのサービス提供年月の情報だけを書いてください。",
            fix_en="One file holds one サービス提供年月 only.",
        )


def plan_record(f: list[str], emit: Emit) -> None:
    """第6表 / 実績 (UPPLAN, UPJSK): No.5 対象年月, 11 日割, 12/13 時刻, 15 コード (No.10: plan_day)."""
    month, hiwari = f[4], f[10]
    if is_month(month) and len(hiwari) == 31 and "1" in hiwari[month_days(month) :]:
        emit(
            "plan.hiwari_month",
            11,
            f"日割対象日が {month} の月末より後の日を指しています。",
            message_en=f"日割対象日 marks days after the end of {month}",
            value=hiwari,
            expected=f"1 only in the first {month_days(month)} positions",
            expected_ja=f"1 は先頭から{month_days(month)}文字目まで",
            fix="n桁目が対象年月のn日です。",
            fix_en="Position n is day n of the 対象年月.",
        )
    if (f[11] == "9999") != (f[12] == "9999"):
        emit(
            "plan.time_9999",
            12,
            "サービス開始/終了時刻の片方だけが 9999 です。",
            message_en="only one of サービス開始/終了時刻 is 9999",
            severity="warning",
            value=f"{f[11]}-{f[12]}",
            expected="both 9999 (時間表示の無いサービス) or both HHMM",
            expected_ja="両方 9999（時間表示の無いサービス）か、両方 HHMM",
            fix="両方を 9999 にするか、両方に時刻を書いてください。",
            fix_en="Write 9999 in both or real times in both.",
        )
    _plan_code(f, emit)


def _plan_code(f: list[str], emit: Emit) -> None:
    code = f[14]
    if len(code) != 6:
        return
    std = standard()
    kind = code[:2]
    if is_subtotal(code):
        emit(
            "plan.subtotal_code",
            15,
            f"サービスコード {code} は第7表の小計・合計のコードです。",
            message_en=f"サービスコード {code} is a 第7表 subtotal/total code",
            value=code,
            expected="a サービスコード of the サービスコード表",
            expected_ja="サービスコード表のサービスコード",
            fix="小計・合計は第7表（UPSIKYU）にだけ書いてください。",
            fix_en="Subtotals and totals belong in 第7表 (UPSIKYU) only.",
        )
    elif kind in std.kinds_out_of_scope or kind not in std.kinds_in_scope:
        emit(
            "plan.kind_scope",
            15,
            f"サービス種類 {kind} は連携の対象外です（標準仕様 1.3/1.4）。",
            message_en=f"サービス種類 {kind} is not in scope (標準仕様 1.3/1.4)",
            severity="warning",
            value=code,
            expected="a kind of 標準仕様 1.3/1.4",
            expected_ja="標準仕様 1.3/1.4 のサービス種類",
            fix=(
                "連携対象外のサービス種類のレコードは出力しないでください"
                "（標準仕様 2.6「連携対象外のサービス種類のレコードは生成しない」）。"
            ),
            fix_en="Do not export records of service kinds outside the data exchange (標準仕様 2.6).",
        )
    if kind in WELFARE_KINDS and not f[15] and not f[16]:
        emit(
            "plan.tais_required",
            16,
            f"サービス {code}（福祉用具貸与）には TAISコード か 福祉用具届出コード が必要です。",
            message_en=f"サービス {code} (福祉用具貸与) needs TAISコード or 福祉用具届出コード",
            value="",
            expected="TAISコード (No.16) or 福祉用具届出コード (No.17)",
            expected_ja="TAISコード（No.16）または福祉用具届出コード（No.17）",
            fix="用具の TAISコード、または届出コードを書いてください。",
            fix_en="Write the TAIS code of the item, or its 届出コード.",
        )
    if f[18] and kind not in WELFARE_KINDS:
        # No.19 note: 「17:福祉用具貸与」以外の場合は「Null（空）」とする; 67 is read as 17 (decision D19).
        emit(
            "plan.meisai",
            19,
            f"明細判別コードはサービス種類 {kind} には設定できません（福祉用具貸与 17・67 のみ）。",
            message_en=f"明細判別コード is only for 17 福祉用具貸与 (and 67, decision D19), not kind {kind}",
            value=f[18],
            expected="Null（空）",
            fix="福祉用具貸与以外のサービスでは明細判別コードを空にしてください。",
            fix_en="Leave 明細判別コード empty for this service.",
        )


def hosoku_record(f: list[str], emit: Emit) -> None:
    """利用者補足情報: No.4 作成（変更）日 00000000 xor No.63 対象年月 000000 (decision D8)."""
    made, month = f[3], f[62]
    if made == "00000000" and month == "000000":
        emit(
            "hosoku.both_zero",
            4,
            "作成（変更）日 00000000 と対象年月 000000 が同時に書かれています。",
            message_en="作成（変更）日 00000000 and 対象年月 000000 together",
            value=f"{made}/{month}",
            expected="00000000 with a real 対象年月 (第6表), or a real date with 000000 (第1表)",
            expected_ja="00000000 と実在する対象年月（第6表）、または実在する日付と 000000（第1表）",
            fix="このレコードが紐づく計画のキーを書いてください。",
            fix_en="Fill in the key of the plan this record belongs to.",
        )
    elif month == "000000" and made and not is_date(made):
        emit(
            "hosoku.needs_date",
            4,
            "第1表に紐づく（対象年月 000000）のに、作成（変更）日が日付ではありません。",
            message_en="linked to 第1表 (対象年月 000000) but 作成（変更）日 is not a date",
            value=made,
            expected="YYYYMMDD",
            fix="第1表の居宅サービス計画作成（変更）日を書いてください。",
            fix_en="Write 第1表's 居宅サービス計画作成（変更）日.",
        )
    elif is_month(month) and made != "00000000":
        emit(
            "hosoku.needs_zero_date",
            4,
            "第6表に紐づく（対象年月あり）のに、作成（変更）日が 00000000 ではありません。",
            message_en="linked to 第6表 (real 対象年月) but 作成（変更）日 is not 00000000",
            value=made,
            expected="00000000",
            fix="第6表/第7表に紐づくときは 00000000 を書いてください。",
            fix_en="Write 00000000 when linked to 第6表/第7表.",
        )


@dataclass(slots=True)
class SikyuTotals:
    """Per-user state of a 第7表 file: 全合計 rows, detail rows per kind, AAAA subtotals."""

    first_line: dict[tuple[str, str], int] = field(default_factory=dict)
    totals: set[tuple[str, str]] = field(default_factory=set)
    details: defaultdict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    subtotals: set[tuple[str, str, str]] = field(default_factory=set)

    def record(self, f: list[str], line: int, emit: Emit) -> None:
        """第7表: No.7 事業所コード, 9 サービスコード, 13 単位数, 14/15 割引, 34 事業所コード."""
        user = (f[1], f[2])
        self.first_line.setdefault(user, line)
        code, office = f[8], f[6]
        if is_subtotal(code):
            _subtotal_row(f, emit)
        if code == GRAND_TOTAL:
            self.totals.add(user)
            if office != ALL_NINES:
                emit(
                    "sikyu.total_office",
                    7,
                    "全合計（999999）のサービス事業所コードは 9999999999 です。",
                    message_en="全合計 (999999) needs サービス事業所コード 9999999999",
                    value=office,
                    expected=ALL_NINES,
                    fix="全合計の行には 9999999999 を書いてください。",
                    fix_en="Write ALL9 for the 全合計 row.",
                )
        elif office == ALL_NINES:
            emit(
                "sikyu.all9_office",
                7,
                "9999999999 は全合計（999999）の行にだけ使えます。",
                message_en="9999999999 is only for the 全合計 row (999999)",
                value=code,
                expected=GRAND_TOTAL,
                fix="実際のサービス事業所コードを書いてください。",
                fix_en="Write the real サービス事業所コード.",
            )
        elif code[2:] == "AAAA":
            self.subtotals.add((*user, code[:2]))
        elif len(code) == 6 and not is_subtotal(code):
            self.details[(*user, code[:2])] += 1
        if f[33] and f[33] != ALL_NINES:
            emit(
                "sikyu.jigyosho_code",
                34,
                "事業所コードは「9999999999を固定でセット」です。",
                message_en="事業所コード is 「9999999999を固定でセット」",
                severity="warning",
                value=f[33],
                expected=ALL_NINES,
                fix="9999999999 を書いてください（出典の行の対応に不確かさあり: open question 9）。",
                fix_en="Write 9999999999 (row assignment uncertain in the source: open question 9).",
            )

    def finish(self, emit_at: Callable[..., None]) -> None:
        for user, line in self.first_line.items():
            if user not in self.totals:
                emit_at(
                    line,
                    "sikyu.total_missing",
                    9,
                    f"被保険者番号 {user[1]} に全合計（999999）の行がありません。",
                    message_en=f"被保険者番号 {user[1]} has no 全合計 row (999999)",
                    value=user[1],
                    expected="one 999999 row per user",
                    expected_ja="被保険者ごとに 999999 の行が1つ",
                    fix="全合計の行（サービスコード 999999、事業所コード 9999999999）を加えてください。",
                    fix_en="Add the 全合計 row: サービスコード 999999, 事業所コード 9999999999.",
                )
        for (insurer, insured, kind), count in self.details.items():
            if count > 1 and (insurer, insured, kind) not in self.subtotals:
                emit_at(
                    self.first_line[(insurer, insured)],
                    "sikyu.subtotal_missing",
                    9,
                    f"被保険者番号 {insured} のサービス種類 {kind} に{count}行ありますが、"
                    f"{kind}AAAA の小計がありません。",
                    message_en=f"kind {kind} has {count} rows for {insured} but no {kind}AAAA subtotal",
                    severity="warning",
                    value=kind,
                    expected=f"{kind}AAAA",
                    fix="同じ種類に複数の行があるときは区分支給対象種類別小計が必要です。",
                    fix_en="区分支給対象種類別小計 is required when a kind has several rows.",
                )


def _subtotal_row(f: list[str], emit: Emit) -> None:
    if f[12] != "0":
        emit(
            "sikyu.subtotal_units",
            13,
            "小計・合計の行の単位数は 0 です。",
            message_en="単位数 of a subtotal/total row must be 0",
            value=f[12],
            expected="0",
            fix=(
                "種類別小計と全合計の行は単位数を 0 にしてください"
                "（レイアウト定義書「種類別小計及び全合計の場合は0固定」）。"
            ),
            fix_en="Write 0 as 単位数 on subtotal and total rows.",
        )
    for index, name in ((13, "割引後率"), (14, "割引後単位数")):
        if f[index]:
            emit(
                "sikyu.subtotal_discount",
                index + 1,
                f"小計・合計の行の{name}は空（Null）です。",
                message_en=f"{name} of a subtotal/total row must be empty",
                value=f[index],
                expected="Null（空）",
                fix=f"種類別小計と全合計の行は{name}を空にしてください（レイアウト定義書「種類別小計及び全合計の場合はNull固定」）。",
                fix_en=f"Leave {name} empty on subtotal and total rows.",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordRule:
    """A rule over one record and the fields (0-based) it reads: its findings depend on them only,
    so a combination of values once found fine needs no second look (validate.py). A rule that
    reads a value changing on every row (the day) is kept apart from the rest, so that the rest's
    combinations repeat across a user's rows."""

    check: Callable[[list[str], Emit], None]
    reads: tuple[int, ...]


_PLAN = (
    RecordRule(check=plan_day, reads=(4, 9)),
    RecordRule(check=plan_record, reads=(4, 10, 11, 12, 14, 15, 16, 18)),
)
RECORD_RULES: dict[str, tuple[RecordRule, ...]] = {
    "UPPLAN": _PLAN,
    "UPJSK": _PLAN,
    "UPHOSOKU": (RecordRule(check=hosoku_record, reads=(3, 62)),),
}
