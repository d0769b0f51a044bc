"""How the `careplan` commands show things to a person: tables, transmission lists, refusals,
progress, times and sizes.

Rules this module keeps:
1. Times: JST with seconds for people (`2026-12-01 15:04:05`), ISO 8601 with the +09:00 offset
   and whole seconds in JSON (`json_times`), the same instant either way.
2. Sizes: one convention everywhere, the progress bar included: 1 KB = 1,024 bytes (the
   platform's "10MB" limit is 10 × 1,024 × 1,024 bytes).
3. Lists fit the terminal (piped: $COLUMNS or 80): below `WIDE` columns a transmission is a block
   of lines with its full ID (so it can be pasted into `download`), a value too long for its line
   (a Japanese file name) continuing below itself; a wide terminal gives the table, and `--wide`
   the table at its full width, nothing folded.
4. Language: explanations and fixes in Japanese unless `--lang en` / CAREPLAN_LANG=en.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.measure import Measurement
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn
from rich.table import Table
from rich.text import Text

from careplan.errors import LANG_ENV, CareplanError, Finding, Lang, parse_lang
from careplan.findings_ja import expected_text, finding_text, value_text, where_text
from careplan.folding import fold, hanging
from careplan.jst import for_json, for_people, json_times
from careplan.sizes import size

WIDE = 150  # columns the seven-column transmission table needs to stay readable


class _Console(Console):
    """rich's Console, except that a reader gone away (`| head`) is a BrokenPipeError for the
    dispatcher to end quietly with 141, as every command does (rich itself would exit with 1)."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


def _console(stderr: bool = False) -> Console:
    """The terminal's width; piped or redirected, $COLUMNS or 80 like any Unix tool, so a list saved
    to a file or mailed reads as on a terminal (values stay whole in blocks, see `blocks`)."""
    return _Console(stderr=stderr, highlight=False, soft_wrap=True)


out = _console()
err = _console(stderr=True)


def capped(width: int) -> Console:
    """A stdout console as wide as the terminal (or $COLUMNS, or 80 when piped), at most `width`:
    for reports that must fit 80 columns whatever the terminal (`careplan up`, `careplan load`)."""
    return _Console(highlight=False, width=min(Console(highlight=False).width, width))


def lang() -> Lang:
    """The language chosen with `--lang` (the dispatcher puts it in CAREPLAN_LANG) or the default."""
    return parse_lang(os.environ.get(LANG_ENV))


def add_lang_option(parser: argparse.ArgumentParser, what: str = "explanations and fixes") -> None:
    """`--lang ja|en` on a command's own parser (the dispatcher also takes it anywhere on the line)."""
    parser.add_argument(
        "--lang", choices=("ja", "en"), default=str(lang()), help=f"language of {what} (default: $CAREPLAN_LANG or ja)"
    )


jst = for_people  # the names the commands use
iso_jst = for_json


def print_json(value: object) -> None:
    print(json.dumps(json_times(value), ensure_ascii=False, indent=2))


LOCAL = "LOCAL"  # no catalogue code: a problem found here, before any hub (exit status 2)


def wire_error(problem: CareplanError | str, language: Lang | str | None = None) -> dict[str, object]:
    """What stopped a command, as its `--json` answer's `error`: a refusal in its wire form (code,
    message, detail, fix, …, in `language`), or a local problem's text as `LOCAL`."""
    if isinstance(problem, CareplanError):
        return problem.to_wire(language or lang())
    return {"code": LOCAL, "detail": problem}


def print_json_error(problem: CareplanError | str, language: Lang | str | None = None) -> None:
    """`{"error": wire_error(problem)}` on stdout: a script reading `--json` gets JSON whatever
    happened (the commands of `careplan hub` print the admin API's refusal itself)."""
    print_json({"error": wire_error(problem, language)})


NO_WRAP = frozenset({"ID", "状態", "送信日時", "ダウンロード日時", "サイズ", "事業所番号"})


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], *, wide: bool = False) -> None:
    """A table on a wide terminal (or with `wide`, or for two columns), else one block per row."""
    if not (wide or out.width >= WIDE or len(columns) <= 2):
        blocks(title, columns, rows)
        return
    grid = Table(title=title, title_justify="left")
    for column in columns:
        grid.add_column(column, no_wrap=column in NO_WRAP, overflow="fold")
    for row in rows:
        grid.add_row(*(Text(cell) for cell in row))  # cells are data, never markup
    if not rows:
        grid.caption = "（該当なし / none）"
    _at_least(Measurement.get(out, out.options.update(width=10_000), grid).maximum if wide else 0).print(grid)


def _at_least(width: int) -> Console:
    """`out`, or a console on the same file `width` columns wide (rich's print caps at its own):
    `--wide` is the whole table, nothing folded, for a wide terminal or `less -S`."""
    if out.width >= width:
        return out
    return _Console(
        file=out.file,
        width=width,
        highlight=False,
        soft_wrap=True,
        force_terminal=out.is_terminal,
        color_system=out.color_system,  # type: ignore[arg-type]
    )


def blocks(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Each row as lines of `column  value`, within the console's width: a value too long for its
    line continues on the next, below itself (an ID, 32 or 36 characters, always fits whole)."""
    out.print(Text(f"{title}（{len(rows)}件）", style="bold"))
    if not rows:
        out.print("（該当なし / none）")
    width = max((cell_len(c) for c in columns), default=0) + 2
    room = max(20, out.width - width)
    for row in rows:
        out.print(Text("─" * min(out.width, 60), style="dim"))
        for column, cell in zip(columns, row, strict=True):
            first, *more = [part for line in (cell or "-").split("\n") for part in fold(line, room)]
            out.print(Text.assemble((_pad(column, width), "dim"), first))
            for line in more:
                out.print(Text(" " * width + line))


WARNINGS_SHOWN = 10  # a send's warnings shown before it goes; `careplan validate` shows them all


def warnings(recipient: str, findings: Sequence[Finding], language: Lang) -> None:
    """The pre-check's warnings for a send to `recipient`, on stderr before the upload, Japanese
    first: the send goes on (warnings never refuse), but the office sees what to mend next time."""
    count = len(findings)
    err_folded(f"送信前の確認で警告が {count}件あります（送信は続けます）→ {recipient}", "注意: ", style="bold yellow")
    err_folded(f"the pre-check found {count} warning(s); the send to {recipient} goes on", "warning: ")
    for finding in findings[:WARNINGS_SHOWN]:
        said = finding.to_dict()
        message, fix = finding_text(said, language)
        err_folded(where_text(said) or finding.rule, "  ・")
        err_folded(message, "    ")
        if fix:
            err_folded(fix, "    対処: " if language is Lang.JA else "    fix: ", style="dim")
    if count > WARNINGS_SHOWN:
        more = count - WARNINGS_SHOWN
        err_folded(f"ほか {more}件は careplan validate で確認できます / {more} more: see careplan validate", "  ")


def _pad(label: str, cells: int) -> str:
    return label + " " * max(1, cells - cell_len(label))


def transmissions(title: str, items: Sequence[Mapping[str, Any]], *, party: str, wide: bool = False) -> None:
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
    table(title, ["ID", label, "送信日時", "ファイル", "サイズ", "状態", "ダウンロード日時"], rows, wide=wide)


_LABELS = {
    Lang.JA: {"error": "エラー", "detail": "詳細", "fix": "対処", "own": "（この文言はシミュレータ独自のものです）"},
    Lang.EN: {"error": "error", "detail": "detail", "fix": "fix", "own": "(the message text is the simulator's own)"},
}


def refusal(error: CareplanError, language: Lang | None = None) -> None:
    """A refusal as an office reads it: the real message, what it means, what was wrong, the fix;
    each folded to stderr's width (a terminal's, else $COLUMNS or 80), continuing below itself."""
    language = language or lang()
    labels = _LABELS[language]
    err.print(f"[bold red]{labels['error']} {error.code}[/] ({error.operation})")
    err_folded(error.message)
    err_folded(error.explanation_in(language), "  ")
    if error.detail_in(language):
        err_folded(error.detail_in(language), f"  {labels['detail']}: ")
    err_folded(error.fix_in(language), f"  {labels['fix']}: ")
    if not error.spec.real:
        err.print(f"  {labels['own']}", style="dim")
    findings = [f for f in error.findings if f]
    if findings:
        _findings(findings, language)


def err_folded(text: str, lead: str = "", *, style: str = "") -> None:
    """`lead` then `text` on stderr within its width: text folded as Japanese reads it
    (careplan.folding), each line after the first indented as far as the first line's text; the
    text is data, never markup, and `style` is the lead's."""
    folded(err, text, lead, style=style)


def folded(console: Console, text: str, lead: str = "", *, style: str = "") -> None:
    """`err_folded` on any console (`out` for what a command says when it did its work)."""
    for line in hanging(lead, text, console.width):  # the lead (or its indent) styled, the text as it is
        console.print(Text.assemble((line[: len(lead)], style), line[len(lead) :]))


def _findings(findings: Sequence[Mapping[str, object]], language: Lang) -> None:
    """The findings: a table on a wide terminal, one block each on a narrow one."""
    if err.width < WIDE:
        _finding_blocks(findings, language)
        return
    grid = Table(title="指摘事項 / findings", title_justify="left")
    for column in ("severity", "rule", "where", "value", "expected", "message"):
        grid.add_column(column, overflow="fold")
    for f in findings:
        what, how = finding_text(f, language)
        message = f"{what}\n{how}" if how else what
        expected = expected_text(f, language)
        cells = (f.get("severity", ""), f.get("rule", ""), where_text(f), value_text(f, language), expected, message)
        grid.add_row(*(Text(str(x or "")) for x in cells))
    err.print(grid)


def _finding_blocks(findings: Sequence[Mapping[str, object]], language: Lang) -> None:
    labels = ("値", "期待値", "根拠", "対処") if language is Lang.JA else ("value", "expected", "section", "fix")
    err.print(Text("指摘事項 / findings", style="italic"))
    for f in findings:
        message, fix = finding_text(f, language)
        err_folded(f"{f.get('rule', '')}  {where_text(f)}".rstrip(), f"・[{f.get('severity', '')}] ")
        if message:
            err_folded(message, "    ")
        shown = (value_text(f, language), expected_text(f, language), f.get("section"), fix)
        for label, value in zip(labels, shown, strict=True):
            if value not in (None, ""):
                err_folded(str(value), "    " + _pad(label, 8), style="dim")


class SizeColumn(ProgressColumn):
    """`3.2 MB / 10.0 MB  1.1 MB/s` in the convention of `size` (rich's columns count 1 KB = 1,000)."""

    def render(self, task: Task) -> Text:
        speed = f"  {size(task.speed)}/s" if task.speed else ""
        return Text(f"{size(task.completed)} / {size(task.total or 0)}{speed}")


@contextmanager
def progress_bar(description: str, total: int, *, enabled: bool) -> Iterator[Any]:
    """Yields a callback taking a byte count; shows a bar on stderr unless disabled (--json) or
    stderr is not a terminal (a log or a pipe gets no bar, not even the blank line rich leaves)."""
    if not enabled or not err.is_terminal:
        yield lambda _n: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        SizeColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
