"""Bytes to records: MS932 decoding and the CSV quoting of 標準仕様 4 (decisions D2–D4).

Rules this module keeps:
1. Never raise on input: every problem is a finding with the line and, for bytes that are not
   MS932, the byte offset in the file.
2. Streaming: the data is decoded in blocks of whole physical lines (LF, or CRLF), a block
   with a problem line by line, so memory stays one block plus one record, not the file.
   Cutting bytes at LF is safe because 0x0A, 0x0D, 0x22 and 0x2C are never MS932 trail bytes.
3. A record is a line, joined with the next lines while a quoted field is open (at most
   MAX_RECORD_LINES). Quoted fields keep commas, line breaks and "" escapes; a lone CR outside
   quotes, a quote inside an unquoted field and text after a closing quote are errors.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass

from careplan.errors import Finding

ENCODING = "cp932"  # Python's cp932 is Microsoft's MS932 table
BOM = b"\xef\xbb\xbf"
SECTION = "標準仕様 4 (文字コード・区切文字)"
MAX_ENCODING_FINDINGS = 20  # then the rest of the file is decoded with replacement
BLOCK = 1 << 16  # bytes decoded at once (whole lines)
MAX_RECORD_LINES = 1000  # physical lines one record (quoted line breaks) may span

BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ue000-\uf8ff\ufffd]")
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
        if self.raw is not None:
            return self.raw[index][:1] == '"'
        return self.any_quotes


class FindingSink:
    """Collects the findings of one file, at most `cap` of them (decision D13)."""

    def __init__(self, file: str, cap: int) -> None:
        self.file = file
        self.cap = cap
        self.items: list[Finding] = []
        self.suppressed = 0
        self.errors = 0
        self.stopped_at: int | None = None  # reading stopped here after `cap` errors
        self.blank_lines = 0

    def add(self, rule: str, message: str, *, severity: str = "error", **kw: object) -> None:
        if severity == "error":
            self.errors += 1
        if len(self.items) >= self.cap:
            self.suppressed += 1
            return
        self.items.append(Finding(rule=rule, message=message, severity=severity, file=self.file, **kw))  # type: ignore[arg-type]

    def extend(self, findings: list[Finding]) -> None:
        for f in findings:
            self.errors += f.severity == "error"
            if len(self.items) < self.cap:
                self.items.append(f)
            else:
                self.suppressed += 1

    def result(self) -> list[Finding]:
        if self.stopped_at is not None:
            stop = Finding(
                rule="findings.stopped",
                file=self.file,
                line=self.stopped_at,
                message=f"validation stopped at line {self.stopped_at} after {self.cap} errors",
                fix="Fix the findings shown and validate again.",
            )
            return [*self.items, stop]
        if not self.suppressed:
            return list(self.items)
        more = Finding(
            rule="findings.suppressed",
            severity="error" if self.errors else "warning",
            file=self.file,
            message=f"{self.suppressed} more findings not shown",
            fix="Fix the findings shown and validate again.",
        )
        return [*self.items, more]


def _lines(data: bytes, start: int) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset, bytes without the LF) for each physical line."""
    pos, number, size = start, 1, len(data)
    while pos < size:
        end = data.find(b"\n", pos)
        if end < 0:
            end = size
        yield number, pos, data[pos:end]
        pos, number = end + 1, number + 1


def _decoded_lines(data: bytes, start: int, decoder: _Decoder) -> Iterator[tuple[int, str]]:
    """(line number, text without the LF), decoding blocks of whole lines in one call.

    A block that decodes cleanly is split in C; a block with a problem is decoded line by line
    so that each finding gets its exact line and byte offset. Memory stays one block.
    """
    pos, number, size = start, 1, len(data)
    while pos < size:
        end = data.find(b"\n", min(pos + BLOCK, size - 1))
        end = size if end < 0 else end + 1
        block = data[pos:end]
        try:
            text = block.decode(ENCODING)
        except UnicodeDecodeError:
            text = None
        if text is None or BAD_CHARS.search(text):
            for line_no, offset, chunk in _lines(block, 0):
                yield number + line_no - 1, decoder.decode(chunk, number + line_no - 1, pos + offset)
        else:
            yield from enumerate(text[:-1].split("\n") if text.endswith("\n") else text.split("\n"), number)
        number += block.count(b"\n") + (not block.endswith(b"\n"))
        pos = end


class _Decoder:
    """Decodes line by line, reporting undecodable bytes and 外字 with their byte offset."""

    def __init__(self, sink: FindingSink) -> None:
        self.sink = sink
        self.reported = 0

    def decode(self, chunk: bytes, line: int, offset: int) -> str:
        try:
            text = chunk.decode(ENCODING)
        except UnicodeDecodeError:
            text = self._slow(chunk, line, offset)
        if BAD_CHARS.search(text):
            self._bad_chars(text, line, offset)
        return text

    def _slow(self, chunk: bytes, line: int, offset: int) -> str:
        parts: list[str] = []
        pos = 0
        while self.reported < MAX_ENCODING_FINDINGS:
            try:
                parts.append(chunk[pos:].decode(ENCODING))
                return "".join(parts)
            except UnicodeDecodeError as e:
                parts.append(chunk[pos : pos + e.start].decode(ENCODING))
                self._report(chunk[pos + e.start : pos + e.end], line, offset + pos + e.start)
                parts.append("\ufffd")
                pos += e.end
        parts.append(chunk[pos:].decode(ENCODING, errors="replace"))
        return "".join(parts)

    def _report(self, bad: bytes, line: int, at: int) -> None:
        self.reported += 1
        self.sink.add(
            "encoding.undecodable",
            f"byte(s) {bad.hex(' ')} at byte offset {at} are not a character of MS932",
            line=line,
            value=bad.hex(" "),
            expected="MS932 (Shift_JIS) text",
            section=SECTION,
            fix="Save the file as MS932/Shift_JIS and replace characters outside it (e.g. 𠮷 → 吉, emoji → text).",
        )

    def _bad_chars(self, text: str, line: int, offset: int) -> None:
        for match in BAD_CHARS.finditer(text):
            char = match.group()
            if char == "\ufffd" or self.reported >= MAX_ENCODING_FINDINGS:
                continue
            self.reported += 1
            at = offset + len(text[: match.start()].encode(ENCODING, errors="replace"))
            gaiji = "\ue000" <= char <= "\uf8ff"
            self.sink.add(
                "encoding.gaiji" if gaiji else "encoding.control",
                f"{'外字 (user-defined character)' if gaiji else 'control character'} "
                f"U+{ord(char):04X} at byte offset {at}",
                line=line,
                value=f"U+{ord(char):04X}",
                expected="MS932 characters without 外字",
                section=SECTION,
                fix="Replace 外字 and control characters with MS932 characters.",
            )


def _locate(text: str) -> str:
    """Why a record with quotes does not parse (slow path, only for broken records)."""
    pos, size = 0, len(text)
    while pos <= size:
        if pos < size and text[pos] == '"':
            close = pos + 1
            while True:
                close = text.find('"', close)
                if close < 0:
                    return "unterminated quoted field"
                if text.startswith('""', close):
                    close += 2
                    continue
                break
            pos = close + 1
            if pos < size and text[pos] != ",":
                return f"text after a closing quote at character {pos + 1}"
        else:
            end = text.find(",", pos)
            end = size if end < 0 else end
            piece = text[pos:end]
            if '"' in piece:
                return f"quote inside an unquoted field at character {pos + piece.index(chr(34)) + 1}"
            if "\r" in piece:
                return "carriage return (CR) without line feed outside quotes"
            pos = end
        pos += 1
    return "malformed record"


def split_record(text: str) -> tuple[list[str], list[str] | None] | str:
    """Fields and raw tokens of one record's text, or the reason it is malformed."""
    if '"' not in text:
        if "\r" in text:
            return "carriage return (CR) without line feed outside quotes"
        return text.split(","), None
    found = _FIELDS.findall(text)
    # Tokens are consecutive and comma-separated, so they cover the whole text exactly when
    # the record is well formed (a stray quote stops a token and leaves a gap).
    if sum(map(len, found)) + len(found) - 1 != len(text):
        return _locate(text)
    return [t[1:-1].replace('""', '"') if t[:1] == '"' else t for t in found], found


class _Feed:
    """Decoded lines for csv.reader, remembering the raw text of the record being read.

    csv.reader pulls one line at a time with no read-ahead, so after each row `take()` returns
    exactly that row's lines. A record may not span more than MAX_RECORD_LINES lines: past it,
    the feed closes the open quote itself and marks the record as overflowed, so an unterminated
    quote costs one bounded record instead of the rest of the file.
    """

    def __init__(self, lines: Iterator[tuple[int, str]]) -> None:
        self.lines = lines
        self.pending: list[str] = []
        self.quotes = False
        self.overflow = False
        self.injected = 0

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        if len(self.pending) >= MAX_RECORD_LINES:
            self.overflow = True
            self.injected += 1  # not a line of the file: line numbers skip it
            self.pending.append("")
            return '"\n'
        _, text = next(self.lines)
        self.pending.append(text)
        if '"' in text:
            self.quotes = True
        return text + "\n"

    def take(self) -> tuple[str, bool, bool]:
        raw = "\n".join(self.pending)
        taken = (raw[:-1] if raw.endswith("\r") else raw, self.quotes, self.overflow)
        self.pending, self.quotes, self.overflow = [], False, False
        return taken


def _quoting(sink: FindingSink, line: int, reason: str) -> None:
    sink.add(
        "csv.quoting",
        f"record cannot be read: {reason}",
        line=line,
        section="標準仕様 4 (フリーテキストの囲み)",
        expected='free text in "", " as ""',
        fix='Enclose free text in "" and double every " inside it.',
    )


def _exact(raw: str, sink: FindingSink, line: int) -> tuple[list[str], list[str] | None] | None:
    """Our own reading of a record csv.reader could not judge exactly (quotes inside values)."""
    split = split_record(raw)
    if isinstance(split, str):
        _quoting(sink, line, split)
        return None
    return split


def _bom(data: bytes, sink: FindingSink) -> int:
    if not data.startswith(BOM):
        return 0
    sink.add(
        "encoding.bom",
        "the file starts with a UTF-8 byte order mark",
        severity="warning",
        line=1,
        section=SECTION,
        expected="MS932 without BOM",
        fix="Save as MS932 (Shift_JIS) without BOM.",
    )
    return len(BOM)


def read_records(data: bytes, sink: FindingSink) -> Iterator[Record]:
    """The records of `data`; problems go to `sink`. Blank lines are skipped with a warning.

    csv.reader (strict) does the splitting; a record whose values contain a quote, or that
    csv.reader refuses, is re-read by `split_record`, which is exact about stray quotes and says
    why a record is malformed.
    """
    feed = _Feed(_decoded_lines(data, _bom(data, sink), _Decoder(sink)))
    reader = csv.reader(feed, strict=True)
    line = 1
    while True:
        try:
            row: list[str] | None = next(reader)
        except StopIteration:
            return
        except csv.Error:
            row = None
        raw, quotes, overflow = feed.take()
        start, line = line, reader.line_num + 1 - feed.injected
        if overflow:
            _quoting(sink, start, f"unterminated quoted field (more than {MAX_RECORD_LINES} lines)")
        elif row == [] or (row is not None and not raw):
            sink.blank_lines += 1
            if sink.blank_lines == 1:
                sink.add(
                    "csv.blank_line",
                    "blank line skipped (blank lines are reported once per file)",
                    severity="warning",
                    line=start,
                    section=SECTION,
                    fix="Remove blank lines.",
                )
        elif row is None or (quotes and '"' in "".join(row)):
            exact = _exact(raw, sink, start)
            if exact is not None:
                yield Record(start, exact[0], exact[1], quotes)
        else:
            yield Record(start, row, None, quotes)
