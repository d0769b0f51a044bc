"""How the CLI shows lists, times and sizes to a person (client/render.py, issue 13)."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from rich.console import Console
from rich.progress import Task

from client import render

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
