"""How the client CLI shows things to a person: tables, refusals, progress, times in JST."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table
from rich.text import Text

from careplan.errors import CareplanError

JST = dt.timezone(dt.timedelta(hours=9), "JST")


def _console(stderr: bool = False) -> Console:
    """Piped output gets a wide console, so IDs and file names are never cut."""
    console = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console = Console(stderr=stderr, highlight=False, soft_wrap=True, width=220)
    return console


out = _console()
err = _console(stderr=True)


def jst(iso: str | None) -> str:
    if not iso:
        return "-"
    return dt.datetime.fromisoformat(iso).astimezone(JST).strftime("%Y-%m-%d %H:%M:%S")


def size(n: int) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def print_json(value: object) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


NO_WRAP = frozenset({"ID", "状態", "送信日時", "ダウンロード日時", "サイズ", "事業所番号"})


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    grid = Table(title=title, title_justify="left")
    for column in columns:
        grid.add_column(column, no_wrap=column in NO_WRAP, overflow="fold")
    for row in rows:
        grid.add_row(*(Text(cell) for cell in row))  # cells are data, never markup
    if not rows:
        grid.caption = "（該当なし / none）"
    out.print(grid)


def transmissions(title: str, items: Sequence[Mapping[str, Any]], *, party: str) -> None:
    """The send list (party='recipient') or the inbox (party='sender')."""
    label = "送信先" if party == "recipient" else "送信元"
    rows = [
        (
            t["transmission_id"],
            f"{t[party]['office_number']} {t[party]['name']}",
            jst(t["submitted_at"]),
            "\n".join(f["name"] for f in t["files"]),
            size(int(t["total_size"])),
            t["status"],
            jst(t["downloaded_at"]),
        )
        for t in items
    ]
    table(title, ["ID", label, "送信日時", "ファイル", "サイズ", "状態", "ダウンロード日時"], rows)


def refusal(error: CareplanError) -> None:
    err.print(f"[bold red]エラー {error.code}[/] ({error.operation})")
    err.print(error.message, markup=False)
    if error.detail:
        err.print(f"  理由 / detail: {error.detail}", markup=False)
    if error.fix:
        err.print(f"  対処 / fix:    {error.fix}", markup=False)
    if not error.spec.real:
        err.print("  (この文言はシミュレータ独自のものです / message text is the simulator's own)", style="dim")
    findings = [f for f in error.findings if f]
    if findings:
        grid = Table(title="指摘事項 / findings", title_justify="left")
        for column in ("severity", "rule", "where", "value", "expected", "message"):
            grid.add_column(column)
        for f in findings:
            where = ":".join(str(f[k]) for k in ("file", "line") if f.get(k) is not None)
            if f.get("field_no") is not None:
                where += f" No.{f['field_no']} {f.get('field_name') or ''}"
            grid.add_row(
                *(
                    str(x)
                    for x in (
                        f.get("severity", ""),
                        f.get("rule", ""),
                        where,
                        f.get("value") or "",
                        f.get("expected") or "",
                        f.get("message", ""),
                    )
                )
            )
        err.print(grid)


@contextmanager
def progress_bar(description: str, total: int, *, enabled: bool) -> Iterator[Any]:
    """Yields a callback taking a byte count; shows a bar on stderr unless disabled (--json)."""
    if not enabled:
        yield lambda _n: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
