"""How the CLI shows lists, times and sizes to a person (client/render.py, issue 13)."""

from __future__ import annotations

import argparse
import io
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.progress import Task

from careplan.errors import CareplanError, Lang, Operation
from careplan.folding import NO_LINE_START
from client import render
from tests.conftest import run_careplan

TID = "0b6c2f5e-7d1a-4c3b-9f2e-5a6b7c8d9e0f"
ITEM: dict[str, Any] = {
    "transmission_id": TID,
    "recipient": {"office_number": "1370100024", "name": "ひまわり訪問介護ステーション株式会社 本店営業所"},
    "submitted_at": "2026-12-01T06:04:05.123456+00:00",
    "files": [{"name": "JISSEKI_202612_1370100016_1370100024.CSV"}, {"name": "別紙.pdf"}],
    "total_size": 10 * 1024 * 1024,
    "status": "ダウンロード済",
    "downloaded_at": "2026-12-01T07:00:00+00:00",
}


def _render(width: int, **kwargs: Any) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, highlight=False, soft_wrap=True)
    saved, render.out = render.out, console
    try:
        render.transmissions("送信一覧 / send list", [ITEM], party="recipient", **kwargs)
    finally:
        render.out = saved
    return buffer.getvalue()


def test_at_80_columns_each_transmission_is_a_block_with_everything_whole() -> None:
    text = _render(80)
    assert all(console_width(line) <= 80 for line in text.splitlines()), text
    assert TID in text  # the full ID, ready to paste into `download`
    assert re.search(r"^状態 +ダウンロード済$", text, re.M)
    assert re.search(r"^ダウンロード日時 +2026-12-01 16:00:00$", text, re.M)
    assert "1370100024 ひまわり訪問介護ステーション株式会社 本店営業所" in text
    assert "JISSEKI_202612_1370100016_1370100024.CSV" in text and "別紙.pdf" in text
    assert re.search(r"^送信日時 +2026-12-01 15:04:05$", text, re.M) and "10.0 MB" in text


def test_every_table_of_more_than_two_columns_becomes_blocks_when_narrow() -> None:
    buffer = io.StringIO()
    saved, render.out = render.out, Console(file=buffer, width=80)
    try:
        render.table(
            "一括送信の結果 / bulk send", ["送信先", "ファイル", "結果"], [("1370100024", "A.CSV\nB.CSV", "送信済")]
        )
        render.table("この端末", ["項目", "値"], [("事業所番号", "1370100016")])
    finally:
        render.out = saved
    text = buffer.getvalue()
    assert "一括送信の結果 / bulk send（1件）" in text and re.search(r"^ファイル +A.CSV\n +B.CSV$", text, re.M)
    assert "┃ 項目" in text  # two columns stay a table


def test_wide_gives_the_table() -> None:
    text = _render(200, wide=True)
    assert "┃ ID" in text and TID in text and "ダウンロード日時" in text


def test_an_empty_list_says_so() -> None:
    buffer = io.StringIO()
    saved, render.out = render.out, Console(file=buffer, width=80)
    try:
        render.transmissions("受信一覧 / inbox", [], party="sender")
    finally:
        render.out = saved
    assert "（0件）" in buffer.getvalue() and "該当なし" in buffer.getvalue()


def console_width(line: str) -> int:
    from rich.cells import cell_len

    return cell_len(line)


def test_times_are_jst_with_seconds_for_people_and_iso_with_offset_in_json() -> None:
    assert render.jst("2026-12-01T06:04:05.999999+00:00") == "2026-12-01 15:04:05"
    assert render.jst(None) == "-" and render.jst("-") == "-"
    shown = render.json_times(
        {
            "submitted_at": "2026-12-01T06:04:05.999999+00:00",
            "downloaded_at": None,
            "x": [{"hub_time": ITEM["downloaded_at"]}],
        }
    )
    assert shown == {
        "submitted_at": "2026-12-01T15:04:05+09:00",
        "downloaded_at": None,
        "x": [{"hub_time": "2026-12-01T16:00:00+09:00"}],
    }


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (1023, "1,023 B"), (1536, "1.5 KB"), (10 * 1024 * 1024, "10.0 MB"), (10_500_000, "10.0 MB")],
)
def test_one_size_convention(n: int, text: str) -> None:
    assert render.size(n) == text


def test_the_progress_bar_counts_sizes_like_the_list() -> None:
    task = Task(0, "送信中", 10 * 1024 * 1024, 10 * 1024 * 1024, _get_time=lambda: 0.0)  # type: ignore[arg-type]
    assert str(render.SizeColumn().render(task)) == "10.0 MB / 10.0 MB"


@pytest.mark.parametrize(("columns", "width"), [(None, 80), ("100", 100)])
def test_piped_output_is_as_wide_as_columns_says_or_80(
    monkeypatch: pytest.MonkeyPatch, columns: str | None, width: int
) -> None:
    """A list saved to a file or piped to `less` reads as on an 80-column terminal (it was 220)."""
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    console = render._console()
    assert not console.is_terminal and console.width == width


def test_a_long_japanese_file_name_continues_below_itself_within_80_columns() -> None:
    name = "居宅サービス計画書（第1表・第2表）_さくら居宅介護支援事業所_令和7年4月分_利用者全員.pdf"
    office = "ひまわり訪問介護ステーション株式会社 本店営業所 サービス提供責任者室（第二事業部）"
    item = ITEM | {"files": [{"name": name}], "recipient": {"office_number": "1370100024", "name": office}}
    buffer = io.StringIO()
    saved, render.out = render.out, Console(file=buffer, width=80, highlight=False, soft_wrap=True)
    try:
        render.transmissions("送信一覧 / send list", [item], party="recipient")
    finally:
        render.out = saved
    lines = buffer.getvalue().splitlines()
    assert all(console_width(line) <= 80 for line in lines), max(lines, key=console_width)
    start = next(i for i, line in enumerate(lines) if line.startswith("ファイル"))
    pieces = [lines[start].removeprefix("ファイル").strip(), lines[start + 1].strip()]
    assert "".join(pieces) == name and lines[start + 1].startswith(" " * 18)  # continues below itself
    assert TID in buffer.getvalue()


def test_wide_gives_the_whole_table_even_on_a_narrow_console() -> None:
    text = _render(80, wide=True)
    assert "┃ ID" in text and TID in text, "the ID whole, not squeezed into 80 columns"
    assert "JISSEKI_202612_1370100016_1370100024.CSV" in text


def test_more_pages_puts_the_cursor_whole_on_a_line_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    from client.cli import _show_list
    from client.hubclient import Page

    cursor = "WyJzZW50IiwiMjAyNi0xMi0wMlQwMTo1NToxNC41NDQ3MjcrMDA6MDAiLCIzYmZmY2E5ZTIwZjc0NzNlOGRlODlmZTJkNDAzY2E0MSJd"
    buffer = io.StringIO()
    monkeypatch.setattr(render, "err", Console(file=buffer, width=80, highlight=False, soft_wrap=True))
    monkeypatch.setattr(render, "out", Console(file=io.StringIO(), width=80))
    args = argparse.Namespace(json=False, wide=False)
    _show_list("送信一覧 / send list", Page(transmissions=[ITEM], next_cursor=cursor), args, party="recipient")
    lines = buffer.getvalue().splitlines()
    assert f"  --cursor {cursor}" in lines and "--all" in lines[0]
    assert all(console_width(line) <= 80 for line in lines if cursor not in line)


@pytest.mark.parametrize(("limit", "said"), [("0", "'0' は1〜500の整数"), ("501", "from 1 to 500"), ("x", "'x'")])
def test_limit_out_of_bounds_is_a_usage_error_before_any_hub(tmp_path: Path, limit: str, said: str) -> None:
    for command in ("sent", "inbox"):
        done = run_careplan("client", "--home", str(tmp_path), command, "--limit", limit)
        unfolded = "".join(done.stderr.split())  # the lines as folded to the terminal's width, joined
        assert done.returncode == 2 and "".join(said.split()) in unfolded and "Traceback" not in done.stderr


def test_folding_never_starts_a_line_with_a_closing_mark_and_keeps_numbers_whole() -> None:
    text = "ユーザIDが登録されていないか、パスワードが正しくありません。"
    pieces = render.fold(text, 58)  # 。would be the 59th and 60th cells
    assert "".join(pieces) == text and not any(p[0] in NO_LINE_START for p in pieces), pieces
    assert all(console_width(p) <= 58 for p in pieces)
    office = "1370100024 ひまわり訪問介護ステーション株式会社本店営業所サービス提供責任者室"
    assert render.fold(office, 62)[0].startswith("1370100024 ひまわり")  # folds Japanese, not after the number
    assert render.fold("A.CSV", 20) == ["A.CSV"]


def test_json_and_profile_also_work_after_the_command(tmp_path: Path) -> None:
    """`careplan client sent --json --profile kyotaku` (it was 'unrecognized arguments: --json')."""
    import json

    for argv in (
        ["--home", str(tmp_path), "sent", "--json", "--profile", "kyotaku"],
        ["sent", "--json", "--profile", "kyotaku", "--home", str(tmp_path)],  # --home too
    ):
        done = run_careplan("client", *argv)
        assert done.returncode == 2, done.stderr  # no such profile here: a local problem, said in JSON
        error = json.loads(done.stdout)["error"]
        assert error["code"] == "LOCAL" and "'kyotaku'" in error["detail"]
        assert str(tmp_path) in "".join(error["detail"].split()), error


def _stderr_lines(error: CareplanError, language: Lang, width: int = 80) -> list[str]:
    buffer = io.StringIO()
    saved, render.err = render.err, Console(file=buffer, width=width, highlight=False, soft_wrap=True)
    try:
        render.refusal(error, language)
    finally:
        render.err = saved
    return buffer.getvalue().splitlines()


@pytest.mark.parametrize("language", [Lang.JA, Lang.EN])
def test_a_refusal_with_its_findings_fits_80_columns_and_keeps_every_word(language: Lang) -> None:
    """The refusal an office reads most was printed line by line unfolded (95–104 columns for a
    FILE_TYPE_NOT_ALLOWED, 139 for a missing file): now each part continues below itself."""
    finding = {
        "severity": "error",
        "rule": "transmission.file_type",
        "file": "居宅サービス計画書（第1表・第2表）_さくら居宅介護支援事業所_令和7年4月分_利用者全員.docx",
        "section": "R4.2",
        "expected": "csv, gif, jpeg, jpg, pdf, png, txt",
        "message": "This file type cannot be sent.",
        "fix": "Convert Word and Excel documents to PDF (pdf, csv, jpeg, jpg, png, gif, txt) before sending them.",
    }
    error = CareplanError(
        "FILE_TYPE_NOT_ALLOWED",
        operation=Operation.SEND,
        detail="エラー 1件: 居宅サービス計画書（第1表・第2表）_さくら居宅介護支援事業所.docx (transmission.file_type)",
        detail_en="1 error: 居宅サービス計画書（第1表・第2表）_さくら居宅介護支援事業所.docx (transmission.file_type)",
        findings=[finding],
    )
    lines = _stderr_lines(error, language)
    assert all(console_width(line) <= 80 for line in lines), max(lines, key=console_width)
    text = "".join("".join(line.split()) for line in lines)
    for whole in (error.message, error.fix_in(language), error.detail_in(language), finding["file"]):
        assert "".join(str(whole).split()) in text
    assert "jpeg" in text.replace("jpe\n", "")  # a word is not cut (careplan.folding rule 4)
    assert not any(line.lstrip().startswith(("g・", "g,")) for line in lines), lines


def test_a_local_problem_fits_80_columns(tmp_path: Path) -> None:
    missing = (
        tmp_path / ("とても長いフォルダの名前" * 3) / "UPPLAN_202504_1370100016_43_1370100024_11_20250420093000.CSV"
    )
    result = run_careplan(
        "client",
        "--home",
        str(tmp_path),
        "--profile",
        "nosuch",
        "send",
        str(missing),
        "--to",
        "1370100024",
        env={"COLUMNS": "80"},
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert all(console_width(line) <= 80 for line in lines), lines
    assert lines[0].startswith("エラー 手元の問題で実行できません / a local problem")


def test_a_check_digit_warning_on_the_command_line_is_japanese_first(tmp_path: Path) -> None:
    """`--to` and `ca issue --office` warned in English only: 'warning: --to '1370100025': check digit
    5 differs from the computed 4'."""
    sent = run_careplan(
        "client", "--home", str(tmp_path), "--profile", "p", "send", str(tmp_path / "x.pdf"), "--to", "1370100025"
    )
    assert run_careplan("ca", "--dir", str(tmp_path / "ca"), "init").returncode == 0
    issued = run_careplan(
        "ca", "--dir", str(tmp_path / "ca"), "issue", "--office", "1370100025", "--user", "KJ1370100025",
        "--name", "テスト", "--password", "pw", "--out", str(tmp_path / "t.p12"),
    )  # fmt: skip
    for done, field in ((sent, "--to"), (issued, "事業所番号")):
        lines = done.stderr.splitlines()
        [at] = [n for n, line in enumerate(lines) if line.startswith("注意: ")]
        said = "".join("".join(lines[at:]).split())
        assert said.startswith(f"注意:事業所番号のチェックデジットが計算と異なります（警告）。{field}:1370100025"), (
            lines
        )
        assert "（期待値1370100024）warning:" in said and "check digit 5 differs from the computed 4" in done.stderr


_INSURER = {
    "severity": "error",
    "rule": "field.insurer",
    "file": "UPPLAN_202504_1312300013_43_1311700023_11_20250420093000.CSV",
    "line": 1,
    "field_no": 2,
    "field_name": "保険者番号",
    "value": "13101",
    "expected": "6 digits",
    "expected_ja": "半角数字6桁",
    "section": "レイアウト定義書 UPPLAN No.2",
    "message": "保険者番号「13101」が書式に合いません（半角数字6桁）。",
    "message_en": "保険者番号 '13101' is not 6 digits",
    "fix": "6桁の保険者番号を書いてください。",
    "fix_en": "Write the 6-digit 保険者番号.",
}


@pytest.mark.parametrize("width", [80, 160])
def test_a_refusals_findings_show_the_expectation_in_the_language_asked(width: int) -> None:
    """The hub's findings carry `expected_ja` beside `expected`; the client showed the English
    one (「期待値 6 digits」) in a Japanese refusal, in its table and in its blocks alike."""
    error = CareplanError("FORMAT_INVALID", operation=Operation.SEND, findings=[_INSURER])
    japanese = "\n".join(_stderr_lines(error, Lang.JA, width))
    assert "半角数字6桁" in japanese and "6 digits" not in japanese, japanese
    assert "6 digits" in "\n".join(_stderr_lines(error, Lang.EN, width))


@pytest.mark.parametrize("width", [80, 160])
@pytest.mark.parametrize("language", [Lang.JA, Lang.EN])
def test_a_long_value_in_a_refusal_is_clipped_with_its_length(width: int, language: Lang) -> None:
    """The hub's findings carry a value whole (a 5,000-character item): the client printed all of
    it, folded over some 130 lines, in its blocks and in its table alike."""
    finding = _INSURER | {
        "rule": "field.length",
        "value": "あ" * 5000,
        "expected": "≤ 6 characters",
        "expected_ja": "6文字以内",
    }
    lines = _stderr_lines(CareplanError("FORMAT_INVALID", findings=[finding]), language, width)
    text = "".join("".join(line.split()) for line in lines)
    assert ("…（全5,000文字）" if language is Lang.JA else "…(5,000characters)") in text, lines
    assert "あ" * 21 not in text and len(lines) < 30
    assert all(console_width(line) <= width for line in lines), max(lines, key=console_width)


@pytest.mark.parametrize("language", [Lang.JA, Lang.EN])
def test_a_finding_about_the_whole_transmission_ends_its_line_at_its_rule(language: Lang) -> None:
    """A finding without a file (8 files in one send) printed its rule and then the two spaces
    that lead to its place, at the end of the line; one without a message, a line of spaces."""
    finding = {"severity": "error", "rule": "transmission.too_many_files", "value": "8", "section": "R4.3"}
    error = CareplanError("TOO_MANY_FILES", operation=Operation.SEND, findings=[finding])
    lines = _stderr_lines(error, language)
    assert any(line.endswith("transmission.too_many_files") for line in lines), lines
    assert [line for line in lines if line != line.rstrip()] == []


@pytest.mark.parametrize("json_flag", [True, False], ids=["--json", "for people"])
def test_ctrl_c_is_said_and_with_json_as_json_too(
    tmp_path: Path, json_flag: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C during a command: exit 130 as before, and with --json `{"error": …}` on stdout (a
    script read nothing at all before)."""
    import json

    from client import cli

    async def interrupted(args: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_run", interrupted)
    assert cli.main(["--home", str(tmp_path), "inbox", *(["--json"] if json_flag else [])]) == 130
    printed = capsys.readouterr()
    assert "中断しました / interrupted" in printed.err and "Traceback" not in printed.err
    if json_flag:
        error = json.loads(printed.out)["error"]
        assert error["code"] == "LOCAL" and "中断しました" in error["detail"], error
    else:
        assert printed.out == ""
