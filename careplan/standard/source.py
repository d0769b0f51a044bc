"""A file's bytes, whole or read back chunk by chunk: `Content` (bytes | Streamed).

Rules this module keeps:
1. The checks look at a file in three ways only: its size (R4.3), its first bytes (type sniffing,
   the BOM, the Unicode check) and its bytes in order (the validator, one block of lines at a
   time). `Streamed` offers exactly these, so that the hub can check a 10 MB unit from its staging
   file without holding its plaintext whole (issue 10: "the standard check streams too").
2. The same checks give the same findings for a file whole or streamed, however it is chunked
   (tests/careplan/standard/test_streamed_source.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

HEAD = 8192  # first bytes a Streamed carries: what type sniffing reads (content.SNIFF)


@dataclass(frozen=True, slots=True)
class Streamed:
    """A file as its holder reads it back: `size` bytes, the first HEAD of them (all, for a smaller
    file), and `chunks()`, which reads them again from the start, in order, each call."""

    size: int
    head: bytes
    chunks: Callable[[], Iterable[bytes]]


Content = bytes | Streamed


def size_of(content: Content) -> int:
    return content.size if isinstance(content, Streamed) else len(content)


def head_of(content: Content) -> bytes:
    """The first HEAD bytes (all of a smaller file)."""
    return content.head if isinstance(content, Streamed) else content[:HEAD]
