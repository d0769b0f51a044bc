"""Japanese wording of the validator's findings, by rule, for offices that read Japanese.

The findings themselves (careplan.standard) carry English `message`/`fix` texts with the exact
values; this table gives each rule a Japanese sentence saying what is wrong and how to mend it,
shown by `careplan validate` (and the client's findings table) unless `--lang en`. A rule missing
here falls back to the English texts, so a new rule is never hidden (tests list the gaps).

How a finding reads to a person is worded here once, for every report that shows one (the
validator's, the client's refusals and warnings): `finding_text`, `where_text`, `value_text`,
`expected_text`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from rich.cells import cell_len

from careplan.errors import Finding, Lang

# rule: (what is wrong, how to mend it)
RULES_JA: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "bulk.no_destination": (
            "ファイル名から送信先を読み取れません。",
            "標準仕様以外の文書は、一括送信ではなく送信先を指定して送信してください。",
        ),
        "bulk.too_many_transmissions": ("一括送信が50件を超えています。", "50件以下ずつに分けて一括送信してください。"),
        "csv.blank_line": ("空行があります（空行はファイルごとに一度だけ報告します）。", "空行を削除してください。"),
        "csv.free_text_unquoted": (
            'フリーテキストが ""（半角の二重引用符）で囲まれていません。',
            'フリーテキストの項目は ""（半角）で囲んで出力してください（標準仕様 4）。',
        ),
        "csv.not_text": (
            "ファイルの中身が CSV ではありません（PDF、Excel などの文書です）。",
            "介護ソフトから標準仕様の CSV を出力し、そのファイルを送ってください。",
        ),
        "encoding.bom": ("ファイルの先頭に BOM があります。", "BOM なしの Shift_JIS (MS932) で保存してください。"),
        "encoding.unicode": (
            "ファイルが Shift_JIS (MS932) ではなく UTF-8 または UTF-16 で保存されています。",
            "介護ソフトの出力設定または表計算ソフトの保存形式で、文字コードを Shift_JIS (MS932) にしてください。",
        ),
        "filename.extension_case": (
            "拡張子が小文字の .csv です（標準仕様は .CSV）。",
            "拡張子を大文字の .CSV にしてください。",
        ),
        "filename.kind_manager": (
            "居宅介護支援側のサービス種類コードが 43（居宅介護支援）または 46（介護予防支援）ではありません。",
            "ファイル名のケアマネジメント側のサービス種類コードを確かめてください。",
        ),
        "filename.kind_unknown": (
            "サービス事業所側のサービス種類コードが標準仕様 1.3/1.4 のサービス種類にありません。",
            "ファイル名のサービス事業所側のサービス種類コードを確かめてください。",
        ),
        "filename.prefix": (
            "ファイル名の先頭（種別）が標準仕様のファイル名にありません。",
            "標準仕様のファイル名の先頭（UPPLAN など）にしてください。",
        ),
        "filename.prefix_misspelled": (
            "ファイル名の先頭（種別）のつづりが標準仕様と異なります。",
            "示された標準仕様の先頭にファイル名を直してください。",
        ),
        "image.not_jpeg": (
            "家族構成画像ファイルが JPEG ではありません。",
            "家族構成図は JPEG ファイルで送ってください。",
        ),
        "plan.kind_scope": (
            "このサービス種類はデータ連携の対象外です（標準仕様 1.3/1.4）。",
            "連携対象外のサービス種類のレコードは出力しないでください（標準仕様 2.6）。",
        ),
        "plan.meisai": (
            "明細判別コードは福祉用具貸与（17・67）の行にだけ設定できます。",
            "福祉用具貸与以外のサービスの行では明細判別コードを空にしてください。",
        ),
        "plan.time_9999": (
            "サービス開始時刻と終了時刻の片方だけが 9999 です。",
            "両方を 9999 にするか、両方に時刻を書いてください。",
        ),
        "relation.orphaned": (
            "別のファイルのレコードが読めないため、このレコードの親レコードが見つかりません。",
            "読めないレコードを直してください（このレコード自体は直す必要はありません）。",
        ),
        "sikyu.jigyosho_code": ("事業所コードは 9999999999 の固定値です。", "9999999999 を書いてください。"),
        "sikyu.subtotal_missing": (
            "同じサービス種類に複数の行がありますが、区分支給対象種類別小計の行がありません。",
            "同じ種類に複数の行があるときは、種類別小計の行を出力してください。",
        ),
        "csv.empty": ("ファイルにレコードがありません。", "1件以上のレコードがあるファイルを送信してください。"),
        "csv.field_count": (
            "項目の数がレイアウトと合いません。",
            "レイアウトのすべての項目を書き出してください（空の項目もカンマで区切ります）。",
        ),
        "csv.header": ("見出し行は標準仕様にありません。", "見出し行を削除してください。"),
        "csv.month_mixed": (
            "1つのファイルに複数の対象年月があります。",
            "1ファイルには1か月分のサービス提供年月だけを入れてください。",
        ),
        "csv.month_name": (
            "レコードの対象年月がファイル名の年月と異なります。",
            "ファイル名をレコードの対象年月に合わせてください。",
        ),
        "csv.quoting": (
            "レコードを読み取れません（引用符の使い方、または CR だけの改行）。",
            '自由記述は "" で囲み、中の " は2つ重ねてください。',
        ),
        "csv.version": (
            "CSVバージョンが標準仕様のものではありません。",
            "第4.1版のレイアウト（CSVバージョン 202407）で出力し直してください。",
        ),
        "csv.version_mixed": (
            "1つのファイルに複数のCSVバージョンのレコードがあります。",
            "1ファイルのCSVバージョンを1つにそろえてください。",
        ),
        "csv.version_old": (
            "古い版のCSVバージョンです。",
            "第4.1版のレイアウト（CSVバージョン 202407）で出力し直してください。",
        ),
        "encoding.control": (
            "制御文字が含まれています。",
            "外字・制御文字をMS932（シフトJIS）の文字に置き換えてください。",
        ),
        "encoding.gaiji": (
            "外字（ユーザー定義文字）が含まれています。",
            "外字をMS932（シフトJIS）の文字に置き換えてください。",
        ),
        "encoding.undecodable": (
            "MS932（シフトJIS）として読めないバイトがあります。",
            "MS932で保存し、範囲外の文字（𠮷・絵文字など）を置き換えてください。",
        ),
        "field.choice": ("コード表にない値です。", "レイアウトのコード表にある値を使ってください。"),
        "field.date": ("正しい日付（YYYYMMDD）ではありません。", "実在する日付を8桁で書いてください（例: 20250401）。"),
        "field.decimal": ("小数の形式が正しくありません。", "例: 10.00、11.40 のように書いてください。"),
        "field.digits": ("数字以外の文字があります。", "数字だけで書いてください。"),
        "field.hiwari": (
            "日割対象日が0と1の31文字ではありません。",
            "31桁で、日割請求できる日を1にしてください（または空にします）。",
        ),
        "field.insured": (
            "被保険者番号が10桁（生保単独はH＋9桁）ではありません。",
            "10桁の被保険者番号を書いてください（生保単独: H123456789）。",
        ),
        "field.insurer": ("保険者番号が6桁ではありません。", "6桁の保険者番号を書いてください。"),
        "field.insurer_check_digit": (
            "保険者番号のチェックデジットが一致しません。",
            "被保険者証で保険者番号を確かめてください。",
        ),
        "field.integer": ("整数ではありません。", "数字だけで書いてください（減算は先頭にマイナス）。"),
        "field.kind": ("サービス種類コードが2文字ではありません。", "サービス種類コードを書いてください（例: 11）。"),
        "field.length": ("項目長を超えています。", "値を項目長以内に短くしてください。"),
        "field.office_number": ("事業所番号の形式が正しくありません。", "10桁の事業所番号を書いてください（R1.1）。"),
        "field.phone": ("電話番号に数字とハイフン以外の文字があります。", "数字とハイフンだけで書いてください。"),
        "field.postcode": ("郵便番号が XXX-XXXX の形ではありません。", "3桁・ハイフン・4桁で書いてください。"),
        "field.required": ("必須項目が空です。", "この必須項目を入力してください。"),
        "field.service_code": (
            "サービスコードが6文字（種類2桁＋項目4桁）ではありません。",
            "最新のサービスコード表のコードを使ってください。",
        ),
        "field.tais": ("TAISコードの形式が正しくありません。", "TAISに登録されたとおりのコードを書いてください。"),
        "field.time": ("時刻が HHMM（0000〜2359、2400）ではありません。", "4桁で書いてください（例: 0930）。"),
        "field.yyyymm": ("正しい年月（YYYYMM）ではありません。", "6桁で書いてください（例: 202504）。"),
        "filename.extension": ("拡張子が .CSV ではありません。", "拡張子を .CSV にしてください。"),
        "filename.grammar": (
            "ファイル名が標準仕様の命名規則に従っていません。",
            "命名規則どおりのファイル名にしてください。",
        ),
        "filename.kind_out_of_scope": (
            "このサービス種類はデータ連携の対象外です。",
            "このサービス種類のデータは送信しないでください。",
        ),
        "filename.month": ("ファイル名の年月が実在しません。", "レコードの対象年月を書いてください。"),
        "filename.same_office": (
            "送信元と送信先の事業所番号が同じです。",
            "相手の事業所あてのファイルにしてください。",
        ),
        "filename.serial": ("ファイル連番が実在する日時ではありません。", "作成日時をファイル連番にしてください。"),
        "hosoku.both_zero": (
            "作成（変更）日と対象年月が両方とも0です。",
            "このレコードが属する計画のキーを書いてください。",
        ),
        "hosoku.needs_date": (
            "第1表に紐づくのに作成（変更）日が日付ではありません。",
            "第1表の居宅サービス計画作成（変更）日を書いてください。",
        ),
        "hosoku.needs_zero_date": (
            "第6表に紐づくのに作成（変更）日が00000000ではありません。",
            "第6表・第7表に紐づく場合は00000000にしてください。",
        ),
        "office_number.check_digit": (
            "事業所番号のチェックデジットが計算と異なります（警告）。",
            "指定通知の番号と照らし合わせてください（みなし指定の番号は別の規則のことがあります）。",
        ),
        "office_number.class": (
            "事業所番号の3文字目が事業所区分ではありません。",
            "事業所番号の3文字目を確かめてください。",
        ),
        "office_number.structure": (
            "事業所番号が10桁ではありません。",
            "指定どおりの10桁の事業所番号を書いてください。",
        ),
        "plan.date_month": (
            "サービス利用日が対象年月の外です。",
            "1ファイルには1か月分のサービス提供年月だけを入れてください。",
        ),
        "plan.hiwari_month": ("日割対象日が対象年月の末日より後を指しています。", "n文字目が対象年月のn日です。"),
        "plan.subtotal_code": (
            "第7表の小計・合計のコードが第6表にあります。",
            "小計・合計は第7表（UPSIKYU）だけに書いてください。",
        ),
        "plan.tais_required": (
            "福祉用具貸与にTAISコードまたは届出コードがありません。",
            "品目のTAISコードか福祉用具届出コードを書いてください。",
        ),
        "relation.image_missing": (
            "参照されている画像ファイルが送信にありません。",
            "画像ファイルも一緒に送信してください。",
        ),
        "relation.missing_parent": (
            "このレコードが従属する親のファイル（UPPLAN、UP1KYO など）に、同じキーのレコードがありません。",
            "親のファイルに同じキーのレコードを含めて、一緒に送信してください。",
        ),
        "sikyu.all9_office": (
            "9999999999 は全合計の行（999999）だけに使います。",
            "実際のサービス事業所コードを書いてください。",
        ),
        "sikyu.subtotal_discount": (
            "小計・合計の行の割引後率は空にします。",
            "種類別小計と全合計の行は割引後率を空にしてください。",
        ),
        "sikyu.subtotal_units": (
            "小計・合計の行の単位数は0にします。",
            "種類別小計と全合計の行は単位数を0にしてください。",
        ),
        "sikyu.total_missing": (
            "被保険者の全合計の行（999999）がありません。",
            "サービスコード999999・事業所コード9999999999の全合計の行を加えてください。",
        ),
        "sikyu.total_office": (
            "全合計の行（999999）のサービス事業所コードは9999999999にします。",
            "全合計の行には9999999999を書いてください。",
        ),
        "transmission.duplicate_name": ("同じ名前のファイルが2つあります。", "同じファイルは1回だけ送信してください。"),
        "transmission.empty": ("送信するファイルがありません。", "ファイルを指定してください。"),
        "transmission.file_content": (
            "ファイルの中身が拡張子と合いません。",
            "Word・Excelの文書はPDFに変換し、中身に合った拡張子にしてください。",
        ),
        "transmission.file_name": (
            "ファイル名にフォルダが含まれています。",
            "フォルダを含まないファイル名にしてください。",
        ),
        "transmission.file_type": (
            "送信できないファイル形式です。",
            "Word・Excelの文書はPDFに変換してから送信してください（pdf・csv・jpeg・jpg・png・gif・txt）。",
        ),
        "transmission.mixed_kinds": (
            "データ種類の異なるファイルが1回の送信に入っています。",
            "データ種類ごとに分けて送信してください。",
        ),
        "transmission.same_office": (
            "送信元と送信先の事業所番号が同じです。",
            "送信先の事業所番号を確かめてください。",
        ),
        "transmission.too_large": ("1回の送信が10MBを超えています。", "ファイルを分けて、1回10MB以下にしてください。"),
        "transmission.too_many_files": (
            "1回の送信が7ファイルを超えています。",
            "7ファイル以下ずつに分けて送信してください。",
        ),
        "transmission.zip": (
            "zipファイルはそのままでは送信できません。",
            "zipファイルを展開し、中のファイルを送信してください（再実行や再起動では解決しません）。",
        ),
        "unit.combination": (
            "ファイルの組み合わせが標準仕様の送信単位になっていません。",
            "1つの送信単位のファイルを、同じファイル連番でそろえて一緒に送信してください。",
        ),
        "unit.duplicate_file": (
            "同じ種類・連番・送信先のファイルが2つあります。",
            "種類と連番ごとに1ファイルにしてください。",
        ),
        "unit.hosoku_month": (
            "第1表・第2表に紐づく補足情報の提供年月が000000ではありません。",
            "第1表・第2表に紐づく場合は提供年月を000000にしてください。",
        ),
        "unit.month_mismatch": (
            "補足情報・第7表の年月が第6表と異なります。",
            "補足情報と第7表を第6表の年月に合わせてください。",
        ),
        "unit.serial_mismatch": (
            "1つの送信単位のファイルのファイル連番がそろっていません。",
            "同じ送信単位のファイルは同じファイル連番で出力してください。",
        ),
        "unit.recipient_mismatch": (
            "1つの送信単位のファイルの送信先がそろっていません。",
            "同じ送信単位のファイルは同じ送信先あてにしてください。",
        ),
        "unit.sender_mismatch": (
            "ファイル名の送信元が、送信する事業所と異なります。",
            "自事業所の事業所番号のファイルを送信してください。",
        ),
        "writer.field_count": ("項目の数がレイアウトと合いません。", "レイアウトのすべての項目を書き出してください。"),
        "findings.suppressed": (
            "同じ種類の指摘が多いため、以降を省略しました。",
            "まず表示された指摘を直してください。",
        ),
        "findings.stopped": ("指摘が多すぎるため、検査を途中で止めました。", "まず表示された指摘を直してください。"),
    }
)


def rule_ja(rule: str) -> tuple[str, str] | None:
    """(what, fix) in Japanese for `rule`, or for its nearest family (field.office_number.check_digit
    → field.office_number); None when the table has neither."""
    parts = rule.split(".")
    while parts:
        found = RULES_JA.get(".".join(parts))
        if found is not None:
            return found
        parts.pop()
    return None


def finding_text(finding: Mapping[str, object], language: Lang) -> tuple[str, str]:
    """A finding's (what is wrong, how to mend it) for a person reading `language`, as every report
    words it (`careplan validate`, the client's refusals and warnings). In Japanese: a finding
    written Japanese first (it has `message_en`) in its own words, which name the item exactly;
    another (English) finding as its rule's line of the table, the values left to 値/期待値; a rule
    missing from the table in the finding's own texts. In English: `message_en` and `fix_en` where
    the finding has them, else its own texts."""
    message, fix = str(finding.get("message") or ""), str(finding.get("fix") or "")
    if language is Lang.EN:
        return str(finding.get("message_en") or message), str(finding.get("fix_en") or fix)
    if finding.get("message_en"):
        return message, fix
    return rule_ja(str(finding.get("rule", ""))) or (message, fix)


def where_text(finding: Mapping[str, object]) -> str:
    """Where a finding is, 「UPPLAN_….CSV:3 No.6 利用者氏名」: its file, line and item, those it has
    ("" when it has none)."""
    where = ":".join(str(finding[k]) for k in ("file", "line") if finding.get(k) is not None)
    if finding.get("field_no") is not None:
        where += f" No.{finding['field_no']} {finding.get('field_name') or ''}".rstrip()
    return where.lstrip()


def expected_text(finding: Mapping[str, object], language: Lang) -> str:
    """What `finding` (as `Finding.to_dict` gives it) expected, for a person reading `language`:
    in Japanese its `expected_ja` where it has one (「半角数字6桁」 for "6 digits"), else `expected`
    as it is (a value, a code or a pattern reads the same in both); "" when it says nothing."""
    japanese = finding.get("expected_ja") if language is Lang.JA else None
    return str(japanese or finding.get("expected") or "")


VALUE_CELLS = 60  # a value up to this many cells is shown whole
VALUE_HEAD = 40  # of a longer one, the first this many cells and its length: a line of 80 holds them
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def value_text(finding: Mapping[str, object], language: Lang) -> str:
    """A finding's value for a person: whole when short; a longer one (a 5,000-character item, or
    a value the finding carries clipped, see `value_length`) as its beginning and its length,
    「1111…（全5,000文字）」, so that no report prints it whole. Line breaks and control characters
    show as escapes (\\n, \\x1b): a value is data, never the report's layout or a terminal's
    command. The finding itself (JSON) keeps the value as it is."""
    value = finding.get("value")
    if value is None:
        return ""
    text = _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(value))
    length = finding.get("value_length")
    full = length if isinstance(length, int) else len(str(value))
    if full == len(str(value)) and cell_len(text) <= VALUE_CELLS:
        return text
    head = _head(text, VALUE_HEAD)
    return f"{head}…（全{full:,}文字）" if language is Lang.JA else f"{head}… ({full:,} characters)"


def _head(text: str, cells: int) -> str:
    """The longest beginning of `text` within `cells` display cells."""
    used = 0
    for index, char in enumerate(text):
        used += cell_len(char)
        if used > cells:
            return text[:index]
    return text


def warning_ja(finding: Finding) -> str:
    """A warning about a value typed on a command line (`--to`, `--office`), Japanese first: the
    rule's Japanese with the item, the value and what was expected, e.g. 「事業所番号のチェックデジット
    が計算と異なります（警告）。--to: 1370100025（期待値 1370100024）」; the finding's own message
    (English) is for the line after it."""
    what = (rule_ja(finding.rule) or (finding.message, ""))[0]
    said = finding.to_dict()
    shown = expected_text(said, Lang.JA)
    expected = f"（期待値 {shown}）" if shown else ""
    return f"{what}{finding.field_name}: {value_text(said, Lang.JA)}{expected}"
