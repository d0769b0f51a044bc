"""What the kit says to a vendor, in the project's one-line form "日本語 / English": a verdict's
reason, what was expected and what arrived, why a step did not run. Japanese developers read the
Japanese first; the English beside it keeps the same values (ids, codes, 事業所番号), and a long
list of values (file names) is written once, in the Japanese part.

Rules this module keeps:
1. A text is made as a `Said` (both languages), never as an English or Japanese string alone; it
   becomes one line only when a verdict is recorded (`str`).
2. The real system's messages 「…」 are quoted as they are, in both parts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Said:
    ja: str
    en: str

    def __str__(self) -> str:
        return f"{self.ja} / {self.en}" if self.ja or self.en else ""

    def __bool__(self) -> bool:
        return bool(self.ja or self.en)

    def then(self, more: Said, *, ja: str = "。", en: str = "; ") -> Said:
        """This text followed by `more` (itself when `more` is empty)."""
        return joined((self, more), ja=ja, en=en)


NOTHING = Said("", "")


def joined(parts: Iterable[Said], *, ja: str = "。", en: str = "; ") -> Said:
    """Several texts as one: the Japanese parts, then the English parts (never interleaved)."""
    present = [p for p in parts if p]
    return Said(ja.join(p.ja for p in present), en.join(p.en for p in present))
