"""How `careplan hub …` shows the control plane's answers to people (QA teams, trainers on a
projector); `--json` prints the answers themselves instead (`print_json`).

Rules this module keeps:
1. Every line fits `width()` display columns: at most 80 (a CJK glyph counts 2, measured with
   rich's cell widths), less on a narrower terminal. An ID, a cursor, a route or a path is never
   broken: it sits whole in a column or a line as wide as it; text folds by careplan.folding
   (Japanese at the width, 行頭禁則, ASCII words whole), the rule the client's lines follow too.
   One exception: a page's next cursor (base64, ~100 characters) is alone on the last line, whole,
   so that it can be pasted after --cursor (the terminal wraps it for the eye only). A terminal
   too narrow for a table's whole columns side by side gets one block of lines a row instead.
2. Headers and labels are bilingual, Japanese first (`送信日時 / submitted`); an empty list says so
   (`（0件）`); times are JST as every command shows them (careplan.jst.for_people).
3. Pure: an answer (the admin API's JSON) in, lines out. Printing is the CLI's (hub/control/cli.py);
   hub never imports client, so the house style of client/render.py is followed; what both need
   to agree on (folding) is shared through careplan/.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from careplan.errors import CATALOGUE, Lang
from careplan.folding import fold
from careplan.jst import for_people, in_jst, json_times
from careplan.sizes import size
from hub.audit_words import in_japanese
from hub.banner import pair

WIDTH = 80
EMPTY = "（該当なし / none）"
Lines = list[str]
Render = Callable[[Mapping[str, Any], int], Lines]  # an answer and the width in cells → its lines


def width() -> int:
    """The terminal's width (piped: $COLUMNS or 80), at most WIDTH."""
    return min(Console(highlight=False).width, WIDTH)


def print_json(answer: object) -> None:
    """The answer as the admin API gave it, times in JST with their offset (the output scripts parse)."""
    print(json.dumps(json_times(answer), ensure_ascii=False, indent=2))


def _console(cells: int) -> Console:
    return Console(width=cells, file=io.StringIO(), color_system=None, highlight=False, emoji=False)


def _rendered(table: Table, cells: int) -> Lines:
    console = _console(cells)
    with console.capture() as captured:
        console.print(table)
    return [line.rstrip() for line in captured.get().splitlines()]


def table(
    title: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]], cells: int, *, whole: int = 0
) -> Lines:
    """`title（N件）` over a table of `columns` (Japanese, English) headers. The first `whole` columns
    never fold (IDs, times): they are as wide as their longest line; the others share what is left."""
    lines = [f"{title}（{len(rows)}件）"]
    if not rows:
        return [*lines, EMPTY]
    longest = [max(cell_len(part) for row in rows for part in row[i].split("\n")) for i in range(len(columns))]
    if sum(longest[:whole]) + 3 * (len(columns) - 1) + 6 * (len(columns) - whole) > cells:
        return lines + _blocks(columns, rows, cells)  # a narrow terminal: whole columns would be cut
    multi = any("\n" in cell for row in rows for cell in row)
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, leading=1 if multi else 0)
    for i, (ja, en) in enumerate(columns):
        if i < whole:
            grid.add_column(f"{ja}\n{en}", no_wrap=True, min_width=longest[i])
        else:
            grid.add_column(f"{ja}\n{en}", overflow="fold")
    for row in rows:
        grid.add_row(*(Text(cell) for cell in row))  # cells are data, never markup
    return lines + _rendered(grid, cells)


def _blocks(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]], cells: int) -> Lines:
    """Each row as `header` lines with the cell's lines indented below: for a terminal too narrow
    for the table's whole columns side by side."""
    lines: Lines = []
    for row in rows:
        lines.append("─" * min(cells, 40))
        for (ja, en), cell in zip(columns, row, strict=True):
            lines += [f"{ja} / {en}", *("  " + part for text in cell.split("\n") for part in fold(text, cells - 2))]
    return lines


def pairs(title: str, items: Sequence[tuple[str, str]], cells: int) -> Lines:
    """A one-record answer: its title, then `label  value` lines (a long value whole below its label)."""
    column = max(cell_len(label) for label, _ in items) + 4
    return [title, *(line for label, value in items for line in pair(label, value, cells, column))]


def refusal(answer: Mapping[str, Any], cells: int) -> Lines:
    """A refusal of the admin API: its code, the message, what was wrong and the fix (Japanese)."""
    lines = [f"エラー / error {answer.get('code')}"]
    lines += fold(str(answer.get("message") or ""), cells)
    for label, key in (("詳細 / detail", "detail"), ("対処 / fix", "fix")):
        if answer.get(key):
            lines += [f"  {label}:", *(f"    {part}" for part in fold(str(answer[key]), cells - 4))]
    return lines


def is_refusal(answer: object) -> bool:
    return isinstance(answer, dict) and "code" in answer


# --- lists ------------------------------------------------------------------------------------------
def transmissions(answer: Mapping[str, Any], cells: int) -> Lines:
    """Every office's transmissions: ID with the send (and download) time, sender → recipient, status."""
    rows = []
    for t in answer["transmissions"]:
        when = f"{t['transmission_id']}\n送信 {for_people(t['submitted_at'])}"
        if t.get("downloaded_at"):
            when += f"\n受信 {for_people(t['downloaded_at'])}"
        sender, recipient = t["sender"], t["recipient"]
        who = f"{sender['office_number']} {sender['name']}\n→ {recipient['office_number']} {recipient['name']}"
        rows.append((when, who, f"{t['status']}\n{t['file_count']}件 {size(int(t['total_size']))}"))
    columns = [("送信ID・日時", "ID · at"), ("送信元 → 送信先", "from → to"), ("状態・ファイル", "status · files")]
    lines = table("送信一覧（全事業所） / transmissions", columns, rows, cells, whole=1)
    if answer.get("next_cursor"):  # alone on its line, whole even past 80 columns: it is pasted, not read
        lines += ["続きがあります（--all で全件） / more pages (--all for every one): --cursor", answer["next_cursor"]]
    return lines


def sessions(answer: Mapping[str, Any], cells: int) -> Lines:
    rows = [
        (kind, s["user_id"], s["office_number"], for_people(s["created_at"]), for_people(s["expires_at"]))
        for kind, key in (("端末", "client"), ("Web", "website"))
        for s in answer[key]
    ]
    columns = [("種別", "kind"), ("ユーザID", "user"), ("事業所番号", "office"), ("開始", "since"), ("期限", "expires")]
    return table("開いているセッション / open sessions", columns, rows, cells, whole=5)


def corrections(answer: Mapping[str, Any], cells: int) -> Lines:
    rows = [
        (
            str(c["id"]),
            f"{c['office_number']}\n{for_people(c['received_at'])}",
            f"{c['field']}: {c['value']}",
            str(c["contact"]),
            str(c["status"]),
        )
        for c in answer["corrections"]
    ]
    columns = [("番号", "id"), ("事業所番号・受付", "office · at"), ("項目: 内容", "field: value"),
               ("連絡先", "contact"), ("状態", "status")]  # fmt: skip
    return table("掲載情報の修正依頼 / directory corrections", columns, rows, cells, whole=2)


def correction_set(answer: Mapping[str, Any], cells: int) -> Lines:
    number, status = answer["id"], answer["status"]
    return fold(f"修正依頼 {number} を「{status}」にしました / request {number} is now {status}", cells)


MODES = {"real": "実時間 / real", "offset": "ずらし / offset", "frozen": "固定 / frozen"}


def _clock(clock: Mapping[str, Any]) -> str:
    """The clock's mode, and its time unless it is the real time (a snapshot's, as saved)."""
    mode = MODES.get(clock["mode"], clock["mode"])
    return mode if clock["mode"] == "real" else f"{mode}\n{for_people(clock['now'])}"


def snapshot_list(answer: Mapping[str, Any], cells: int) -> Lines:
    rows = [
        (str(s["name"]), for_people(s["saved_at"]), str(s["offices"]), str(s["transmissions"]), _clock(s["clock"]))
        for s in answer["snapshots"]
    ]
    columns = [("名前", "name"), ("保存日時", "saved"), ("事業所", "offices"), ("送信", "sent"), ("時計", "clock")]
    # the name is typed back after `restore` and the time is one: neither is broken mid-way
    return table("スナップショット / snapshots", columns, rows, cells, whole=2)


def _counts(answer: Mapping[str, Any]) -> list[tuple[str, str]]:
    items = [("事業所 / offices", f"{answer['offices']}件")]
    if "transmissions" in answer:
        items.append(("送信 / transmissions", f"{answer['transmissions']}件"))
    if "clock" in answer:
        items.append(("時計 / clock", _clock(answer["clock"]).replace("\n", " ")))
    if "seconds" in answer:
        items.append(("所要 / took", f"{answer['seconds']:.2f} 秒 s"))
    return items


def snapshot_saved(answer: Mapping[str, Any], cells: int) -> Lines:
    items = [("名前 / name", str(answer["name"])), ("保存日時 / saved", for_people(answer["saved_at"]))]
    return pairs("スナップショットを保存しました / snapshot saved", items + _counts(answer), cells)


def snapshot_restored(answer: Mapping[str, Any], cells: int) -> Lines:
    items = [("名前 / name", str(answer["restored"])), ("保存日時 / saved", for_people(answer["saved_at"]))]
    return pairs("スナップショットに戻しました / snapshot restored", items + _counts(answer), cells)


def snapshot_deleted(answer: Mapping[str, Any], cells: int) -> Lines:
    return fold(f"スナップショット「{answer['deleted']}」を削除しました / snapshot deleted", cells)


def reset(answer: Mapping[str, Any], cells: int) -> Lines:
    to = "seed（careplan up の初期状態 / as seeded）" if answer["reset_to"] == "seed" else "empty（空 / nothing）"
    return pairs("ハブをリセットしました / hub reset", [("戻し先 / to", to), *_counts(answer)], cells)


_FAULT_DOES = {  # what a rule of each kind does, from its own fields
    "latency": lambda r: f"+{r['latency_ms']} ms",
    "http_error": lambda r: f"{r['status']} {r['code']}" + f"\nRetry-After {r['retry_after']}" * bool(r["retry_after"]),
    "cut_upload": lambda r: f"{r['after_bytes']:,} B で切断 / cut",
    "cut_download": lambda r: f"{r['after_bytes']:,} B で切断 / cut",
}  # fmt: skip


def _fault_when(rule: Mapping[str, Any], seed: int) -> str:
    parts = [str(rule[k]) for k in ("route", "operation", "office", "transmission") if rule.get(k)]
    if rule.get("probability", 1) < 1:
        parts.append(f"p={rule['probability']:g} seed={seed}")
    return "\n".join(parts) or "すべて / all"


def faults(answer: Mapping[str, Any], cells: int, title: str = "障害の規則 / fault rules") -> Lines:
    rows = []
    for f in answer["faults"]:
        rule = f["rule"]
        does = _FAULT_DOES.get(rule["kind"], lambda _r: "")(rule)
        left = "解除まで" if f["remaining"] is None else str(f["remaining"])
        rows.append((str(f["id"]), f"{rule['kind']}\n{does}".rstrip(), _fault_when(rule, f["seed"]), left,
                     f"{f['matched']}/{f['injected']}"))  # fmt: skip
    columns = [("番号", "id"), ("種類・内容", "kind · does"), ("対象", "matches"), ("残り", "left"),
               ("一致/注入", "hit/done")]  # fmt: skip
    return table(title, columns, rows, cells, whole=1)


def faults_added(answer: Mapping[str, Any], cells: int) -> Lines:
    return faults(answer, cells, "規則を追加しました。現在の規則 / rule added; rules now")


def faults_cleared(answer: Mapping[str, Any], cells: int) -> Lines:
    return [f"障害の規則を{answer['cleared']}件削除しました / {answer['cleared']} rule(s) cleared"]


def clock(answer: Mapping[str, Any], cells: int) -> Lines:
    offset = dt.timedelta(seconds=float(answer.get("offset_seconds") or 0))
    sign, offset = ("-", -offset) if offset < dt.timedelta(0) else ("+", offset)
    items = [
        ("ハブ時刻 / hub time", f"{for_people(answer['now'])} JST"),
        ("モード / mode", MODES.get(answer["mode"], answer["mode"])),
        ("実時間との差 / offset", f"{sign}{offset.days}日 days {dt.timedelta(seconds=offset.seconds)}"),
    ]
    return pairs("ハブの時計 / hub clock", items, cells)


def keys(answer: Mapping[str, Any], cells: int) -> Lines:
    items = [
        ("使用中の鍵 / active key", str(answer["active_key"])),
        *(("保管中の鍵 / on disk", str(k)) for k in answer["keys_on_disk"]),
        ("再暗号化 / re-encrypted", f"{answer['rewritten']}件"),
    ]
    return pairs("保存データの暗号鍵を更新しました / payload key rotated", items, cells)


AUDIT_OPERATIONS = MappingProxyType(
    {
        "login": "ログイン / login",
        "send": "送信 / send",
        "receive": "受信 / receive",
        "load": "読み込み / load",
        "admin": "管理 / admin",
    }
)
_AUDIT_COLUMNS = (("日時（JST）", "at"), ("操作", "operation"), ("コード", "code"), ("接続元", "peer"))


def _spaced(texts: Sequence[str], widths: Sequence[int]) -> str:
    """`texts` two spaces apart, each but the last padded to its width in display cells."""
    padded = [text + " " * (w - cell_len(text)) for text, w in zip(texts[:-1], widths, strict=True)]
    return "  ".join([*padded, texts[-1]]).rstrip()


def _audit_head(row: Sequence[str], widths: Sequence[int], cells: int) -> Lines:
    """One refusal's line under the headers. A peer that does not fit (an office and its
    certificate's serial) goes whole on the next line, under the operation (or from the margin)."""
    line = _spaced(row, widths)
    if cell_len(line) <= cells:
        return [line]
    indent = widths[0] + 2 if widths[0] + 2 + cell_len(row[-1]) <= cells else 0
    return [_spaced([*row[:-1], ""], widths), " " * indent + row[-1]]


def _audit_notes(refusal: Mapping[str, Any]) -> list[str]:
    """What the code means (the catalogue's Japanese), then the detail as recorded with the hub's
    own words in Japanese (hub.audit_words)."""
    spec = CATALOGUE.get(str(refusal["code"]))
    notes = [spec.explanation_in(Lang.JA)] if spec is not None else []
    return notes + ([in_japanese(str(refusal["detail"]))] if refusal.get("detail") else [])


def audit(answer: Mapping[str, Any], cells: int) -> Lines:
    """The audit's refusals, newest first, Japanese first: `日時  操作  コード  接続元` under their
    headers, each refusal's meaning and detail folded below it (codes, file names, lines and items
    only: hub.retention rule 2). A terminal too narrow for the columns folds each line instead."""
    refusals = answer["refusals"]
    lines = [f"拒否の記録 / refusals（{len(refusals)}件）"]
    if not refusals:
        return [*lines, EMPTY]
    rows = [
        (
            for_people(r["at"]),
            AUDIT_OPERATIONS.get(r["operation"], str(r["operation"])),
            str(r["code"]),
            str(r.get("peer") or "-"),
        )
        for r in refusals
    ]
    widths = [max(cell_len(text) for text in (*_AUDIT_COLUMNS[i], *(row[i] for row in rows))) for i in range(3)]
    aligned = sum(widths) + 2 * len(widths) + cell_len(_AUDIT_COLUMNS[-1][0]) <= cells
    japanese, english = zip(*_AUDIT_COLUMNS, strict=True)
    if aligned:
        heads = [_audit_head(row, widths, cells) for row in rows]
        lines += [_spaced(japanese, widths), _spaced(english, widths)]
        lines.append("─" * max(cell_len(line) for head in heads for line in (head[0], _spaced(english, widths))))
    else:
        heads = [fold("  ".join(row), cells) for row in rows]
        lines += fold("・".join(japanese) + " / " + ", ".join(english), cells)
    for head, refusal in zip(heads, refusals, strict=True):
        lines += [*head, *(f"    {part}" for note in _audit_notes(refusal) for part in fold(note, cells - 4))]
    return lines


def crl(answer: Mapping[str, Any], cells: int) -> Lines:
    """The CRL in force (or none: nothing revoked) and a published file the hub refused, with why."""
    force, refused = answer["in_force"], answer["refused"]
    items = [("ファイル / file", str(answer["file"]))]
    if force is None:
        items.append(("適用中 / in force", "なし（失効なし） / none: nothing is revoked"))
    else:
        items += [
            ("適用中 / in force", f"CRL number {force['crl_number']}, {force['revoked_count']} revoked"),
            ("発行 / issued", f"{for_people(force['last_update'])} JST"),
            ("次回更新 / next update", f"{for_people(force['next_update'])} JST" if force["next_update"] else "-"),
        ]
    if refused is None:
        items.append(("不採用 / refused", "なし（公開ファイルが適用中の CRL） / none"))
    else:
        items.append(("不採用 / refused", f"{refused['reason']}（{for_people(refused['noticed_at'])} JST）"))
    lines = pairs("失効リスト / CRL", items, cells)
    if refused is not None:
        lines += [f"    {part}" for part in fold(str(refused["detail"]), cells - 4)]
    return lines


# --- the journal ------------------------------------------------------------------------------------
def journal_day(entry: Mapping[str, Any]) -> str:
    """The JST date the entry falls on: the journal prints it once, above that day's entries."""
    return in_jst(entry["at"]).strftime("%Y-%m-%d")


def _flow(first: str, items: Sequence[str], cells: int) -> Lines:
    """`first`, then `items` in order: on the first line while they fit, the rest on a second line
    (two spaces apart, or one when that makes them fit); never an item broken."""
    line, rest = first, list(items)
    while rest and cell_len(f"{line}  {rest[0]}") <= cells:
        line += f"  {rest.pop(0)}"
    if not rest:
        return [line]
    for gap in ("  ", " "):
        second = "  " + gap.join(rest)
        if cell_len(second) <= cells:
            return [line, second]
    lines = [line, " "]  # more than two lines only if one entry carries everything at once (see README)
    for item in rest:
        if cell_len(f"{lines[-1]} {item}") > cells and lines[-1].strip():
            lines.append(" ")
        lines[-1] += f" {item}"
    return lines


def journal_entry(entry: Mapping[str, Any], cells: int, *, day: str | None = None) -> Lines:
    """One request in at most two lines (time, status, method, route; then code, who, transmission,
    fault, duration, as many on the first line as fit), its date above it when it differs from `day`
    (the previous entry's), a submission's checks indented below with their notes folded."""
    lines = [f"── {journal_day(entry)}（JST） ──"] if journal_day(entry) != day else []
    office, user = entry.get("office"), entry.get("user_id")
    who = user if user and office and office in user else " ".join(x for x in (office, user) if x)
    tail = [entry.get("code") or "", who, entry.get("transmission") or ""]
    tail.append(f"⚡{entry['fault']['kind']}" if entry.get("fault") else "")
    tail.append(f"{entry['duration_ms']:.0f}ms")
    head = f"{in_jst(entry['at']).strftime('%H:%M:%S')} {entry['status']} {entry['method']:<6} {entry['route']}"
    lines += _flow(head, [x for x in tail if x], cells)
    for d in entry.get("decisions") or []:
        lines += _decision(d, cells)
    return lines


def _decision(d: Mapping[str, Any], cells: int) -> Lines:
    """`step  outcome  note`, the note folded below itself (below the step's column when the
    outcome leaves it too little room)."""
    line = f"    {d['step']:<13} {d['outcome']}"
    note = str(d.get("note") or "")
    if not note:
        return [line]
    indent = cell_len(line) + 2 if cell_len(line) + 2 <= cells // 2 else 18
    parts = fold(note, cells - indent)
    if indent == 18:
        return [line, *(" " * indent + part for part in parts)]
    return [f"{line}  {parts[0]}", *(" " * indent + part for part in parts[1:])]
