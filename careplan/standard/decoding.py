"""Bytes to lines: MS932 decoding, one block of whole lines at a time (標準仕様 4, decision D4).

Rules this module keeps:
1. Never raise on input: bytes that are not MS932, 外字 and control characters are findings with
   their line and byte offset in the file.
2. Streaming: the data is decoded in blocks of whole physical lines (LF, or CRLF), so memory
   stays one block. Cutting bytes at LF is safe because 0x0A is never an MS932 trail byte.
3. A clean block (it decodes and has no character of BAD_CHARS) is kept as a list of lines for
   the fast reader; a block with a problem is decoded line by line, lazily, so that each finding
   comes with its exact line and byte offset, in reading order.
"""

from __future__ import annotations

import codecs
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from careplan.standard.sink import FindingSink

ENCODING = "cp932"  # Python's cp932 is Microsoft's MS932 table
BOM = b"\xef\xbb\xbf"
SECTION = "標準仕様 4 (文字コード・区切文字)"
MAX_ENCODING_FINDINGS = 20  # then the rest of the file is decoded with replacement
BLOCK = 1 << 16  # bytes decoded at once (whole lines)
FIX_JA = "外字や Shift_JIS (MS932) にない文字を、MS932 の文字に置き換えてください（例: 𠮷 → 吉、絵文字 → 文字）。"
FIX_EN = "Replace characters outside MS932 and 外字 with MS932 characters (e.g. 𠮷 → 吉, emoji → text)."

BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ue000-\uf8ff\ufffd]")
# What BAD_CHARS finds, found by byte and substring searches (`has_bad_chars`): the C0 controls
# and DEL, and the bytes MS932 decodes alone into the private use area (U+F8F1–U+F8F3).
_CONTROL_BYTES = tuple(bytes([b]) for b in (*range(0x20), 0x7F) if b not in b"\t\n\r")
_PRIVATE_USE_BYTES = (b"\xfd", b"\xfe", b"\xff")


def has_bad_chars(block: bytes, text: str) -> bool:
    """Whether BAD_CHARS matches `text`, the MS932 decoding of `block` (same answer, faster).

    MS932 decodes C0 controls and DEL only from their own bytes, which are never part of a
    two-byte character, and C1 controls only from 0x80 (U+0080). Of the private use area
    (U+E000–U+F8FF) it decodes 外字 F040–F9FC to U+E000–U+E757, whose UTF-8 starts with EE
    (as nothing else's does), and the single bytes A0, FD, FE, FF to U+F8F0–U+F8F3 (FD–FF are
    never part of a two-byte character; A0 may be, so U+F8F0 is looked for in the text). Each
    test is a memchr-like search, not a step per character. test_standard_decoding checks
    every character of the table.
    """
    return (
        any(control in block for control in _CONTROL_BYTES)
        or "\x80" in text
        or "\ufffd" in text
        or "\uf8f0" in text
        or any(high in block for high in _PRIVATE_USE_BYTES)
        or b"\xee" in text.encode("utf-8")
    )


def clean_text(block: bytes) -> str | None:
    """The text of `block` when it decodes and holds no character of BAD_CHARS, else None."""
    try:
        text = block.decode(ENCODING)
    except UnicodeDecodeError:
        return None
    return None if has_bad_chars(block, text) else text


def cut_blocks(chunks: Iterable[bytes], start: int = 0) -> Iterator[tuple[int, bytes, str | None]]:
    """(byte offset, bytes, clean text or None) per block of whole lines of the data `chunks` hold
    in order, from byte `start` on: a block ends at the first LF at least BLOCK bytes into it, the
    last holds the rest, whatever the chunks' sizes; one block and one chunk are held at a time,
    not the data (rule 2). Data held whole is one chunk."""
    buffer, at, pos = bytearray(), 0, 0  # buffer[at:] is the data from file offset pos on
    for chunk in chunks:
        if start > 0:  # bytes before `start` (a BOM) are not read
            skipped = min(start, len(chunk))
            chunk, start = chunk[skipped:], start - skipped
            pos += skipped
        del buffer[:at]
        buffer += chunk
        at = 0
        while len(buffer) - at > BLOCK:
            end = buffer.find(b"\n", at + BLOCK)
            if end < 0:
                break
            with memoryview(buffer) as view:  # one copy, not a bytearray and then bytes
                block = bytes(view[at : end + 1])
            yield pos, block, clean_text(block)
            pos, at = pos + len(block), end + 1
    if len(buffer) > at:
        block = bytes(buffer[at:])
        yield pos, block, clean_text(block)


_NON_ASCII = re.compile(rb"[\x80-\xff]")


def first_bytes(chunks: Iterator[bytes]) -> bytes:
    """The first bytes of the data `chunks` hold, taken from it: as many as `unicode_encoding`
    reads, so that it answers for them what it answers for the whole data (the first _SNIFF, then
    up to the end of the first BLOCK of the body that holds a non-ASCII byte), or all of them."""
    taken, found, looked = bytearray(), None, 0
    for chunk in chunks:
        taken += chunk
        if len(taken) < _SNIFF:
            continue
        body = len(BOM) if taken.startswith(BOM) else 0
        if found is None:
            match = _NON_ASCII.search(taken, max(body, looked))
            found, looked = (None if match is None else match.start()), len(taken)
        if found is not None and len(taken) >= body + ((found - body) // BLOCK + 1) * BLOCK:
            break
    return bytes(taken)


def _lines(data: bytes, start: int) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset, bytes without the LF) for each physical line."""
    pos, number, size = start, 1, len(data)
    while pos < size:
        end = data.find(b"\n", pos)
        if end < 0:
            end = size
        yield number, pos, data[pos:end]
        pos, number = end + 1, number + 1


class Lines:
    """The physical lines of a file in order, as (line number, text without the LF).

    Iterating hands out lines one by one. A clean block is also open to direct reading: while
    `settle()` is True, `clean[at:]` are the block's unread lines and `first` is the number of
    `clean[0]`; a reader that takes lines from it moves `at` past them.
    """

    def __init__(self, blocks: Iterator[tuple[int, bytes, str | None]], decoder: Decoder) -> None:
        self.blocks = blocks  # `cut_blocks`
        self.decoder = decoder
        self.clean: list[str] = []  # the current block's lines when it is clean
        self.is_clean = True
        self.first = 1
        self.next = 1  # the number of the next block's first line
        self.at = 0  # index in the current block of the next line
        self.size = 0  # lines in the current block
        self.lazy: Iterator[tuple[int, str]] = iter(())  # the current block's lines otherwise

    def __iter__(self) -> Lines:
        return self

    def __next__(self) -> tuple[int, str]:
        if self.settle() is None:
            raise StopIteration
        self.at += 1
        if self.is_clean:
            return self.first + self.at - 1, self.clean[self.at - 1]
        return next(self.lazy)

    def settle(self) -> bool | None:
        """Load blocks until a line is left: whether it is in a clean block, None at the end."""
        while self.at >= self.size:
            item = next(self.blocks, None)
            if item is None:
                return None
            self._load(*item)
        return self.is_clean

    def _load(self, pos: int, block: bytes, text: str | None) -> None:
        number = self.first = self.next
        self.at, self.is_clean = 0, text is not None
        if text is not None:
            self.clean = text[:-1].split("\n") if text.endswith("\n") else text.split("\n")
            self.size = len(self.clean)  # its physical lines: counted by the split, not again
        else:
            self.clean = []
            self.size = block.count(b"\n") + (not block.endswith(b"\n"))
            self.lazy = self.decoder.lines(block, number, pos)
        self.next = number + self.size


@dataclass(frozen=True, slots=True, kw_only=True)
class CharProblem:
    """A character the file may not hold: its line, byte offset, rule and what it is."""

    rule: str  # encoding.undecodable | encoding.gaiji | encoding.control
    line: int
    offset: int
    value: str  # the bytes in hex (undecodable) or U+XXXX

    def where(self) -> tuple[str, str]:
        """What it is and where, in Japanese and in English (for the message)."""
        if self.rule == "encoding.undecodable":
            return (
                f"MS932 の文字ではないバイト {self.value}（ファイル先頭から {self.offset} バイト目）",
                f"byte(s) {self.value} at byte offset {self.offset} are not a character of MS932",
            )
        what_ja, what_en = ("外字", "外字 (user-defined character)") if self.rule == "encoding.gaiji" else (
            "制御文字", "control character")  # fmt: skip
        return (
            f"{what_ja} {self.value}（ファイル先頭から {self.offset} バイト目）",
            f"{what_en} {self.value} at byte offset {self.offset}",
        )


class Decoder:
    """Decodes line by line, reporting undecodable bytes and 外字 with their byte offset.

    With `hold`, problems wait in `pending` (in reading order) for the validator, which names
    the item (No. and name) and the record holding each (`flush` reports the rest as they are).
    """

    def __init__(self, sink: FindingSink, *, hold: bool = False) -> None:
        self.sink = sink
        self.reported = 0
        self.hold = hold
        self.pending: deque[CharProblem] = deque()

    def problem(self, problem: CharProblem, *, item: str | None = None, item_en: str | None = None, **kw: Any) -> None:
        """Report `problem`, inside `item` (e.g. 「3行目（被保険者番号 …）の No.6 利用者氏名」) if known."""
        what_ja, what_en = problem.where()
        self.sink.add(
            problem.rule,
            f"{item}に{what_ja}があります。" if item else f"{what_ja}があります。",
            message_en=f"{what_en} in {item_en}" if item_en else what_en,
            line=kw.pop("line", problem.line),
            value=problem.value,
            expected="MS932 (Shift_JIS) の文字（外字・制御文字を除く）",
            section=kw.pop("section", SECTION),
            fix=FIX_JA,
            fix_en=FIX_EN,
            **kw,
        )

    def flush(self, before: int | None = None) -> None:
        """Report the held problems on lines before `before` (all when None) without an item."""
        while self.pending and (before is None or self.pending[0].line < before):
            self.problem(self.pending.popleft())

    def _add(self, problem: CharProblem) -> None:
        self.reported += 1
        if self.hold:
            self.pending.append(problem)
        else:
            self.problem(problem)

    def lines(self, block: bytes, number: int, pos: int) -> Iterator[tuple[int, str]]:
        """The lines of a block with a problem, decoded one by one as they are read."""
        for line_no, offset, chunk in _lines(block, 0):
            yield number + line_no - 1, self.decode(chunk, number + line_no - 1, pos + offset)

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
        self._add(CharProblem(rule="encoding.undecodable", line=line, offset=at, value=bad.hex(" ")))

    def _bad_chars(self, text: str, line: int, offset: int) -> None:
        for match in BAD_CHARS.finditer(text):
            char = match.group()
            if char == "\ufffd" or self.reported >= MAX_ENCODING_FINDINGS:
                continue
            at = offset + len(text[: match.start()].encode(ENCODING, errors="replace"))
            rule = "encoding.gaiji" if "\ue000" <= char <= "\uf8ff" else "encoding.control"
            self._add(CharProblem(rule=rule, line=line, offset=at, value=f"U+{ord(char):04X}"))


UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_SNIFF = 200  # bytes looked at for the NULs of UTF-16 without a BOM


def unicode_encoding(data: bytes) -> str | None:
    """ "UTF-8" or "UTF-16" when `data` is Unicode text rather than MS932, else None (decision D21).

    UTF-16 is recognised by its BOM or by NULs in a third of its even or odd bytes at the start
    (the high bytes of ASCII characters in UTF-16); UTF-8 by decoding strictly the first block
    that holds a non-ASCII byte. MS932 text is almost never valid UTF-8: its lead bytes 0x81–0x9F
    are UTF-8 continuation bytes, so the decode stops at the first kana or kanji. Memory stays
    one block.
    """
    head = data[:_SNIFF]
    # MS932 text holds no NUL; UTF-16 puts one in the high byte of every ASCII character.
    even, odd = (half.count(0) * 3 >= len(half) for half in (head[0::2], head[1::2]))
    nul_halves = len(head) >= 4 and even != odd  # NULs on one side only: not binary zeros
    if head.startswith(UTF16_BOMS) or nul_halves:
        return "UTF-16"
    body = data[len(BOM) :] if data.startswith(BOM) else data  # ASCII after a BOM is MS932 too (D2)
    for start in range(0, len(body), BLOCK):
        block = body[start : start + BLOCK]
        if block.isascii():
            continue
        # The first block with a non-ASCII byte decides; a character cut at its end is fine.
        try:
            codecs.getincrementaldecoder("utf-8")().decode(block, final=False)
        except UnicodeDecodeError:
            return None
        return "UTF-8"
    return None
