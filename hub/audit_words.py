"""The words the hub itself writes into a refusal's audit detail: English as the row stores them
(the admin API and `--json` answer them unchanged), Japanese for the operator who reads
`careplan hub audit` (hub.control.render).

Rules this module keeps:
1. Each phrase is written from here (`Phrase.en`) and read back from here (`in_japanese`), so the
   two cannot drift apart.
2. Only the hub's own words are put in Japanese: codes, file names, places, rules and the raise
   site's text stay as recorded. Nothing here adds to what a row holds (never a value from a
   file: hub.retention rule 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Phrase:
    """A phrase with one count in it (`{count}`), in both languages."""

    en: str
    ja: str

    def __call__(self, count: int) -> str:
        """The phrase as the hub writes it into a row."""
        return self.en.format(count=count)

    def translated(self, text: str, *, anchor: str = "{}") -> str:
        """`text` with the phrase (where `anchor` places it: `^{}` at the start, `{}$` at the end)
        in Japanese."""
        english = re.escape(self.en).replace(re.escape("{count}"), r"(?P<count>\d+)")
        return re.sub(anchor.format(english), lambda m: self.ja.format(count=m["count"]), text)


FINDINGS = Phrase(en="{count} finding(s): ", ja="指摘{count}件: ")  # then the places (hub.retention)
MORE_PLACES = Phrase(en=" (+{count} more)", ja="（ほか{count}件）")
HELD_BACK = Phrase(
    en=" [+{count} earlier refusal(s) like this not recorded one by one]",
    ja="（これより前の同様の拒否{count}件は個別に記録していません）",
)
SUMMARY = Phrase(en="{count} more refusal(s) like this", ja="同様の拒否がほかに{count}件ありました")
# Written over older rows by hub.db's migration 5 (a detail that may have quoted a file).
REMOVED = (
    "(removed: may have quoted values from the refused files)",
    "（削除済み: 拒否されたファイルの値を含んでいた可能性があるため）",
)


def in_japanese(detail: str) -> str:
    """A recorded detail with the hub's own words in Japanese (rule 2)."""
    if detail == REMOVED[0]:
        return REMOVED[1]
    text = SUMMARY.translated(detail, anchor="^{}$")
    text = HELD_BACK.translated(text, anchor="{}$")
    findings = FINDINGS.translated(text, anchor="^{}")
    if findings != text:  # the places of a findings row, then how many more
        findings = MORE_PLACES.translated(findings)
    return findings
