"""Lines to records: the CSV quoting of 標準仕様 4 (decisions D2–D3); decoding is decoding.py.

Rules this module keeps:
1. Never raise on input: every problem is a finding with the line it starts on.
2. Streaming: records are read from `Lines`, one block of whole lines at a time, so memory stays
   one block plus one record, not the file.
3. A record is a line, joined with the next lines while a quoted field is open (at most
   MAX_RECORD_LINES). Quoted fields keep commas, line breaks and "" escapes; a lone CR outside
   quotes, a quote inside an unquoted field and text after a closing quote are errors.
4. Three readers, one result. `_whole` reads a clean block whose lines are each one record,
   and reads a line that repeats the previous one but for its dates (digits of the same width,
   checked against the previous line's text cut around them) without csv.reader, since it would
   give the previous fields with the new dates (a run of lines that differ in one date is one
   row: see `Row`). `_fast` runs csv.reader over a clean block's
   list of lines and keeps only what it can prove equal to the line-by-line reading; any other
   record (it spans the block's end or more than MAX_RECORD_LINES lines, or csv.reader refused
   several lines) is left to `_slow`, which feeds csv.reader line by line and hands back at the
   next clean line.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass

from careplan.standard.decoding import BOM, SECTION, Decoder, Lines, cut_blocks
from careplan.standard.sink import FindingSink

MAX_RECORD_LINES = 1000  # physical lines one record (quoted line breaks) may span
_FIELDS = re.compile(r'(?:^|,)("(?:[^"]|"")*"|[^",\r\n]*)')


@dataclass(frozen=True, slots=True)
class Record:
    """One CSV record: the line it starts on, its fields, and what is known of its quoting.

    `raw` holds the raw tokens when the record was read by `split_record` (exact quoting);
    otherwise only `any_quotes` is known: whether the record's text contains a quote at all.
    """

    line: int
    fields: list[str]
    raw: list[str] | None = None
    any_quotes: bool = False

    def quoted(self, index: int) -> bool:
        """Whether field `index` may have been quoted (exact when `raw` is known)."""
        return quoted(self.raw, self.any_quotes, index)


# What the readers yield, without the cost of an object: (line, fields, raw, any_quotes) of `Record`;
# when the record repeats the one before it but for some dates (`_whole`), those dates' indexes
# (else nothing: a record read on its own); and for a run of such lines that differ in one date
# only, that date's value on each (else None). A run stands for its lines `line`, `line + 1`, …,
# each `fields` with the date at the one index replaced by its value (`run_rows`): one item
# instead of a row per line, as a user's service has a row per day.
Row = tuple[int, list[str], list[str] | None, bool, tuple[int, ...], list[str] | None]


def run_rows(row: Row) -> list[Row]:
    """The rows a run stands for, one per line (a row that is not a run: itself)."""
    line, fields, raw, quotes, repeat, run = row
    if run is None:
        return [row]
    (index,) = repeat
    return [
        (line + offset, [*fields[:index], value, *fields[index + 1 :]], raw, quotes, repeat, None)
        for offset, value in enumerate(run)
    ]


def quoted(raw: list[str] | None, any_quotes: bool, index: int) -> bool:
    """Whether field `index` of a record may have been quoted (exact when `raw` is known)."""
    if raw is not None:
        return raw[index][:1] == '"'
    return any_quotes


@dataclass(frozen=True, slots=True)
class Malformed:
    """Why a record cannot be read, in English and in Japanese, and the item (No.) where the
    reading broke when it is known (decision D23: what the office reads is Japanese)."""

    en: str
    ja: str
    field_no: int | None = None


_CR_ONLY = Malformed(  # a record cut by a lone CR
    "carriage return (CR) without line feed outside quotes", "引用符の外に CR だけの改行があります"
)


def _locate(text: str) -> Malformed:
    """Why a record with quotes does not parse (slow path, only for broken records)."""
    pos, size, no = 0, len(text), 1
    while pos <= size:
        if pos < size and text[pos] == '"':
            close = pos + 1
            while True:
                close = text.find('"', close)
                if close < 0:
                    return Malformed("unterminated quoted field", '引用符（"）が閉じられていません', no)
                if text.startswith('""', close):
                    close += 2
                    continue
                break
            pos = close + 1
            if pos < size and text[pos] != ",":
                return Malformed(
                    f"text after a closing quote at character {pos + 1}",
                    f'閉じる引用符（"）の後に文字があります（レコードの{pos + 1}文字目）',
                    no,
                )
        else:
            end = text.find(",", pos)
            end = size if end < 0 else end
            piece = text[pos:end]
            if '"' in piece:
                at = pos + piece.index(chr(34)) + 1
                return Malformed(
                    f"quote inside an unquoted field at character {at}",
                    f'引用符で囲まれていない項目に引用符（"）があります（レコードの{at}文字目）',
                    no,
                )
            if "\r" in piece:
                return _CR_ONLY
            pos = end
        pos += 1
        no += 1
    return Malformed("malformed record", "レコードの形が正しくありません")


def split_record(text: str) -> tuple[list[str], list[str] | None] | Malformed:
    """Fields and raw tokens of one record's text, or why it is malformed."""
    if '"' not in text:
        if "\r" in text:
            return _CR_ONLY
        return text.split(","), None
    found = _FIELDS.findall(text)
    # Tokens are consecutive and comma-separated, so they cover the whole text exactly when
    # the record is well formed (a stray quote stops a token and leaves a gap).
    if sum(map(len, found)) + len(found) - 1 != len(text):
        return _locate(text)
    return [t[1:-1].replace('""', '"') if t[:1] == '"' else t for t in found], found


class _Feed:
    """Lines for csv.reader, remembering the raw text and first line of the record being read.

    csv.reader pulls one line at a time with no read-ahead, so after each row `take()` returns
    exactly that row's lines. A record may not span more than MAX_RECORD_LINES lines: past it,
    the feed closes the open quote itself and marks the record as overflowed, so an unterminated
    quote costs one bounded record instead of the rest of the file.
    """

    def __init__(self, lines: Lines) -> None:
        self.lines = lines
        self.pending: list[str] = []
        self.first = 0
        self.quotes = False
        self.overflow = False

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        if len(self.pending) >= MAX_RECORD_LINES:
            self.overflow = True
            self.pending.append("")  # not a line of the file: line numbers skip it
            return '"\n'
        number, text = next(self.lines)
        if not self.pending:
            self.first = number
        self.pending.append(text)
        if '"' in text:
            self.quotes = True
        return text + "\n"

    def take(self) -> tuple[str, bool, bool, int]:
        raw = "\n".join(self.pending)
        taken = (raw[:-1] if raw.endswith("\r") else raw, self.quotes, self.overflow, self.first)
        self.pending, self.quotes, self.overflow = [], False, False
        return taken


_OVERFLOW = Malformed(
    f"unterminated quoted field (more than {MAX_RECORD_LINES} lines)",
    f'引用符（"）が閉じられていません（{MAX_RECORD_LINES}行を超えるレコード）',
)


def _quoting(sink: FindingSink, line: int, reason: Malformed) -> None:
    sink.lost.append(line)
    if reason is _CR_ONLY:  # a file saved with CR line ends (Excel for Mac's 'CSV (Macintosh)'): not quoting
        # The sources say nothing of line ends: CR LF and LF are both read (decision D2), CR alone is not.
        sink.add(
            "csv.quoting",
            "レコードを読めません: 引用符の外に CR だけの改行があります（改行は CR LF または LF です）。",
            message_en=f"record cannot be read: {reason.en} (line ends are CR LF or LF)",
            line=line,
            section=f"{SECTION}; decision D2",
            expected="CR LF or LF line ends",
            expected_ja="改行は CR LF または LF（CR だけは不可）",
            fix="改行コードを CR LF か LF にして保存し直してください（Excel for Mac の「CSV（Macintosh）」は CR"
            ' だけで改行します）。項目の中の改行は""で囲んでください。',
            fix_en="Save the file again with CR LF or LF line ends (Excel for Mac's 'CSV (Macintosh)' ends lines "
            'with CR only); enclose a line break inside a value in "".',
        )
        return
    no = reason.field_no
    named = no is not None and 0 < no <= len(sink.fields)
    sink.add(
        "csv.quoting",
        f"レコードを読めません: {reason.ja}。",
        message_en=f"record cannot be read: {reason.en}",
        line=line,
        field_no=no if named else None,
        field_name=sink.fields[no - 1].name if named and no is not None else None,
        section="標準仕様 4 (フリーテキストの囲み)",
        expected='free text in "", " as ""',
        expected_ja='フリーテキストは""で囲み、中の"は""',
        fix='フリーテキストは""で囲み、中の"は""と2つ重ねてください。',
        fix_en='Enclose free text in "" and double every " inside it.',
    )


def _blank(sink: FindingSink, line: int) -> None:
    sink.blank_lines += 1
    if sink.blank_lines == 1:
        sink.add(
            "csv.blank_line",
            "空行を読み飛ばしました（空行はファイルごとに一度だけ報告します）。",
            message_en="blank line skipped (blank lines are reported once per file)",
            severity="warning",
            line=line,
            section=SECTION,
            fix="空行を削除してください。",
            fix_en="Remove blank lines.",
        )


def _exact(raw: str, sink: FindingSink, line: int, quotes: bool) -> Iterator[Row]:
    """Our own reading of a record csv.reader could not judge exactly (quotes inside values)."""
    split = split_record(raw)
    if isinstance(split, Malformed):
        _quoting(sink, line, split)
        return
    yield line, split[0], split[1], quotes, (), None


def bom(data: bytes, sink: FindingSink) -> int:
    """The length of the BOM `data` starts with (a warning), else 0; `data` may be its first bytes."""
    if not data.startswith(BOM):
        return 0
    sink.add(
        "encoding.bom",
        "ファイルの先頭に UTF-8 の BOM があります。",
        message_en="the file starts with a UTF-8 byte order mark",
        severity="warning",
        line=1,
        section=SECTION,
        expected="MS932 without BOM",
        expected_ja="BOM なしの MS932",
        fix="BOM なしの MS932 (Shift_JIS) で保存してください。",
        fix_en="Save as MS932 (Shift_JIS) without BOM.",
    )
    return len(BOM)


def _slow(lines: Lines, sink: FindingSink) -> Iterator[Row]:
    """Records read line by line through `_Feed`, until a record ends before a clean line.

    csv.reader (strict) does the splitting; a record whose values contain a quote, or that
    csv.reader refuses, is re-read by `split_record`, which is exact about stray quotes and says
    why a record is malformed. At least one record is read.
    """
    feed = _Feed(lines)
    reader = csv.reader(feed, strict=True)
    while True:
        try:
            row: list[str] | None = next(reader)
        except StopIteration:
            return
        except csv.Error:
            row = None
        raw, quotes, overflow, start = feed.take()
        if overflow:
            _quoting(sink, start, _OVERFLOW)
        elif row == [] or (row is not None and not raw):
            _blank(sink, start)
        elif row is None or (quotes and '"' in "".join(row)):
            yield from _exact(raw, sink, start, quotes)
        else:
            yield start, row, None, quotes, (), None
        if lines.settle():
            return


def _several(lines: list[str]) -> tuple[list[str], str] | None:
    """csv.reader's row and the raw text of lines read with their line breaks, if one record."""
    if len(lines) > MAX_RECORD_LINES:
        return None
    try:
        rows = list(csv.reader([line + "\n" for line in lines], strict=True))
    except csv.Error:
        return None
    return (rows[0], "\n".join(lines)) if len(rows) == 1 and rows[0] else None


def _fast(lines: Lines, sink: FindingSink) -> Generator[Row, None, bool]:
    """The records of the clean block at `lines`; True when one is left to `_slow`.

    Read without line breaks, a line's end closes a record exactly as its LF would, so a record
    of one line is the same row; a record of several lines is read again with its line breaks
    (`_several`). A record still open at the block's end, or refused over several lines, or
    longer than MAX_RECORD_LINES is where this reader stops.
    """
    skip = lines.at
    block = lines.clean[skip:] if skip else lines.clean
    first, done, reader = lines.first + skip, 0, csv.reader(block, strict=True)
    while True:
        try:
            for row in reader:
                end = reader.line_num
                if end - done == 1:
                    text = block[done]
                else:
                    again = _several(block[done:end])
                    if again is None:
                        break
                    row, text = again
                start, done = first + done, end
                if not row:
                    _blank(sink, start)
                elif '"' not in text:
                    yield start, row, None, False, (), None
                elif '"' not in "".join(row):
                    yield start, row, None, True, (), None
                else:
                    yield from _exact(text[:-1] if text.endswith("\r") else text, sink, start, True)
            else:
                lines.at = skip + done
                return False
            lines.at = skip + done
            return True
        except csv.Error:
            end = reader.line_num
            if end - done > 1 or end == len(block):
                lines.at = skip + done
                return True
            text, start, done = block[done], first + done, end
            yield from _exact(text[:-1] if text.endswith("\r") else text, sink, start, '"' in text)


@dataclass(frozen=True, slots=True)
class Template:
    """What a reader may know of a layout to read repeated records without csv.reader: the
    indexes of its fixed-width date items and of its free text (written in "" by write_csv)."""

    dates: tuple[int, ...]  # in increasing order
    free_text: frozenset[int]


class _OneLine:
    """The input of a csv.reader that is handed one line at a time (it asks for no more)."""

    __slots__ = ("line",)

    def __init__(self) -> None:
        self.line: str | None = None

    def __iter__(self) -> _OneLine:
        return self

    def __next__(self) -> str:
        line, self.line = self.line, None
        if line is None:
            raise StopIteration
        return line


Cut = tuple[list[tuple[str, int]], list[tuple[int, int, int]]]
_NEVER: Cut = ([("\n", 0)], [])  # a piece no line holds: never a repeat


def _cut(fields: list[str], text: str, template: Template, following: str) -> Cut:
    """`text` cut around the dates that differ in `following` (a line of the same length): the
    pieces between them with their offsets, and each such date's (index, start, end). A date
    equal in both lines stays in its piece, so a run of one service's rows, which differ in
    サービス利用日 only, is checked with two comparisons a line. `_NEVER` unless `text` is
    exactly `fields` as write_csv writes them (free text in "", nothing else quoted), which
    makes the offsets certain."""
    cells, dates = fields[:], template.dates
    count = len(cells)
    for index in template.free_text:
        if index < count and cells[index]:
            cells[index] = '"' + cells[index] + '"'
    if not dates or dates[-1] >= count or ",".join(cells) != text.removesuffix("\r"):
        return _NEVER
    pieces, spans, at = [], [], 0
    for index in dates:
        start = sum(map(len, cells[:index])) + index  # the cells before it and their commas
        end = start + len(cells[index])
        if text[start:end] == following[start:end]:
            continue  # the same date: part of the piece
        pieces.append((text[at:start], at))
        spans.append((index, start, end))
        at = end
    pieces.append((text[at:], at))
    return pieces, spans


def _whole(lines: Lines, sink: FindingSink, into: list[Row], template: Template | None) -> bool:
    """The rows of the clean block at `lines`, each line one record (the common case: no quoted
    line breaks); True when the block is done, False at a line csv.reader cannot read alone
    (`lines.at` is left there for `_fast`).

    A line that repeats the previous one but for its dates is not given to csv.reader at all,
    and its row says so (Row's last item): rows of one user's service differ by the day only,
    and the validator then looks only at what a date can change.
    """
    skip = lines.at
    block = lines.clean[skip:] if skip else lines.clean
    one = _OneLine()
    reader = csv.reader(one, strict=True)
    first = lines.first + skip
    at, count = 0, len(block)
    while at < count:
        text = block[at]
        one.line = text
        try:
            row = next(reader)
        except csv.Error:
            lines.at = skip + at
            return False
        number, at = first + at, at + 1
        if not row:
            _blank(sink, number)
            continue
        if '"' not in text:
            quotes = False
        elif '"' not in "".join(row):
            quotes = True
        else:
            into += _exact(text[:-1] if text.endswith("\r") else text, sink, number, True)
            continue
        into.append((number, row, None, quotes, (), None))
        if template is not None and at < count and len(block[at]) == len(text):
            at = _repeats(block, at, first, row, quotes, _cut(row, text, template, block[at]), into)
    lines.at = skip + count
    return True


def _repeats(block: list[str], at: int, first: int, fields: list[str], quotes: bool, cut: Cut, into: list[Row]) -> int:
    """The rows of the lines from `at` that repeat `fields`' line (cut as `cut`) but in its
    dates, which are digits of the same width there (so no comma, quote or CR moves a field):
    csv.reader would read `fields` with the new dates. Returns the index of the first other line."""
    pieces, spans = cut
    if len(spans) == 1:  # the common case (one サービス利用日 a row), unrolled, read as one run
        (head, _), (tail, end) = pieces
        index, start, _ = spans[0]
        size, count, run, line = len(tail) + end, len(block), [], first + at
        while at < count:
            text = block[at]
            if len(text) != size or not text.startswith(head) or not text.startswith(tail, end):
                break
            value = text[start:end]
            if not value.isdigit():
                break
            run.append(value)
            at += 1
        if run:
            into.append((line, fields, None, quotes, (index,), run))
        return at
    size, count = len(pieces[-1][0]) + pieces[-1][1], len(block)
    changed = tuple(index for index, _, _ in spans)
    while at < count:
        text = block[at]
        if len(text) != size or not all(text.startswith(piece, offset) for piece, offset in pieces):
            break
        fields = fields[:]
        for index, start, end in spans:
            value = fields[index] = text[start:end]
            if not value.isdigit():
                return at
        into.append((first + at, fields, None, quotes, changed, None))
        at += 1
    return at


def _drain(rows: Iterator[Row], into: list[Row]) -> bool:
    """Append what a reader yields to `into`; its return value (whether `_slow` must go on)."""
    while True:
        try:
            into.append(next(rows))
        except StopIteration as stop:
            return bool(stop.value)


def read_batches(
    data: bytes, sink: FindingSink, decoder: Decoder | None = None, template: Template | None = None
) -> Iterator[list[Row]]:
    """The records of `data` as lists of rows, about a block at a time; problems go to `sink`.

    A `decoder` built with `hold=True` keeps character problems for the caller to place; a
    `template` lets repeated records be read without csv.reader (`_whole`)."""
    return read_blocks(cut_blocks([data], bom(data, sink)), sink, decoder, template)


def read_blocks(
    source: Iterator[tuple[int, bytes, str | None]],
    sink: FindingSink,
    decoder: Decoder | None = None,
    template: Template | None = None,
) -> Iterator[list[Row]]:
    """`read_batches` of the blocks of a file (decoding.py `cut_blocks` of its chunks, past its
    BOM: `bom`)."""
    lines = Lines(source, decoder or Decoder(sink))
    while (clean := lines.settle()) is not None:
        rows: list[Row] = []
        if clean:
            if _whole(lines, sink, rows, template):
                yield rows
                continue
            if not _drain(_fast(lines, sink), rows):
                yield rows
                continue
        _drain(_slow(lines, sink), rows)
        yield rows


def read_rows(data: bytes, sink: FindingSink, decoder: Decoder | None = None) -> Iterator[Row]:
    """The records of `data` as rows; problems go to `sink`. Blank lines are skipped with a warning."""
    for batch in read_batches(data, sink, decoder):
        yield from batch


def read_records(data: bytes, sink: FindingSink) -> Iterator[Record]:
    """The records of `data`; problems go to `sink`. Blank lines are skipped with a warning."""
    for row in read_rows(data, sink):
        yield Record(*row[:4])
