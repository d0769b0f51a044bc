"""Texts the scenario runner says in more than one place, in the project's one-line form
"日本語 / English" (QA teams read Japanese first; the English keeps the same values)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def unknown_office(label: Any) -> str:
    """An office label that the scenario's `offices:` does not declare."""
    return f"事業所 {label!r} は offices に書かれていません / unknown office {label!r}"


def not_one_of(what: str, value: Any, choices: Iterable[str], *, what_en: str | None = None) -> str:
    """`value` of `what` ("事業所 '居宅A' の licence") is none of `choices`, which are listed once, in
    the Japanese part; `what_en` names it in English when that differs ("office '居宅A': licence")."""
    ja = f"{what} {value!r} は使えません（{', '.join(choices)} のいずれか）"
    return f"{ja} / {what_en if what_en is not None else what} {value!r} is not one of those listed"
