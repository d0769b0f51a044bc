"""The V4.1 CSV layouts, sending units and relations, read once from package data.

Rules this module keeps:
1. The standard lives in `careplan/data/careplan-csv-layout-v4.1.json` (a transcription of the
   レイアウト定義書 and 標準仕様); this module interprets it and never restates a layout in code.
2. Our own readings of open questions live beside it in `careplan/data/decisions-v4.1.json`
   (month fields, special values, field overrides, limits); each carries its reason there.
3. Everything here is immutable and built once (`standard()` is cached): no module-level state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

LAYOUT_RESOURCE = "careplan-csv-layout-v4.1.json"
DECISIONS_RESOURCE = "decisions-v4.1.json"
FREE_TEXT = "フリーテキスト"
IMAGE_ID = "UPKIHON_IMAGE"


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    """One item (項目) of a layout: レイアウト定義書 <file> No.<no>."""

    no: int
    name: str
    length: int | None  # None: 「―」 free length
    required: bool
    format: str | None
    choices: Mapping[str, str] | None = None
    special: frozenset[str] = frozenset()  # special values accepted besides the format

    def __post_init__(self) -> None:
        if self.no < 1:
            raise ValueError(f"field number {self.no} < 1")

    @property
    def free_text(self) -> bool:
        return self.format == FREE_TEXT


@dataclass(frozen=True, slots=True, kw_only=True)
class Layout:
    """The record layout of one file kind (CSV), or the JPEG family image with no fields."""

    file_id: str
    name_ja: str
    fields: tuple[Field, ...]
    month_in_name: bool
    month_field: int | None  # No. of the one 対象年月 per file, when the standard demands one
    is_csv: bool = True

    def __post_init__(self) -> None:
        if [f.no for f in self.fields] != list(range(1, len(self.fields) + 1)):
            raise ValueError(f"{self.file_id}: fields are not numbered 1..n")

    @property
    def field_count(self) -> int:
        return len(self.fields)

    def field(self, no: int) -> Field:
        return self.fields[no - 1]

    def field_no(self, name: str) -> int:
        """The number of the first field called `name` (KeyError if none)."""
        for f in self.fields:
            if f.name == name:
                return f.no
        raise KeyError(f"{self.file_id} has no field {name!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SendingUnit:
    """A combination of files that travels as one transmission (標準仕様 2.4/3.4)."""

    section: str  # e.g. "2.4 (1)②"
    label: str
    files: frozenset[str]
    companions: frozenset[str] = frozenset()

    @property
    def downstream(self) -> bool:
        """True when care management sends to the service office (plans, deletes of plans)."""
        return not (self.files & {"UPJSK", "DLTJSK"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Relation:
    """Child files whose records hang on a parent's key (標準仕様 2.3/3.3)."""

    section: str
    parent: str
    children: tuple[str, ...]
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    max_files: int
    max_bytes: int
    max_transmissions: int
    max_findings_per_file: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Standard:
    """The whole standard as the validator needs it."""

    csv_version: str
    older_versions: Mapping[str, str]  # CSVバージョン -> the 版 it belongs to
    layouts: Mapping[str, Layout]
    units: tuple[SendingUnit, ...]
    relations: tuple[Relation, ...]
    kinds_in_scope: Mapping[str, str]  # サービス種類コード -> name (1.3/1.4)
    kinds_out_of_scope: Mapping[str, str]
    care_manager_kinds: Mapping[str, str]
    attachment_extensions: frozenset[str]
    limits: Limits

    @property
    def prefixes(self) -> tuple[str, ...]:
        """File-name prefixes, longest first so UPKIHON_SUB1 wins over UPKIHON."""
        return tuple(sorted(self.layouts, key=len, reverse=True))

    def layout(self, file_id: str) -> Layout:
        return self.layouts[file_id]


def _read(name: str) -> Any:
    return json.loads(resources.files("careplan").joinpath("data", name).read_text("utf-8"))


def _field(raw: Mapping[str, Any], special: frozenset[str], override: Mapping[str, Any]) -> Field:
    choices = raw.get("choices")
    return Field(
        no=int(raw["no"]),
        name=str(raw["name"]),
        length=override.get("length", raw.get("length")),
        required=bool(raw.get("required")),
        format=raw.get("format"),
        choices=MappingProxyType(dict(choices)) if choices else None,
        special=special,
    )


def _fields(file_id: str, raw_fields: list[dict[str, Any]], decisions: Mapping[str, Any]) -> tuple[Field, ...]:
    specials = decisions["special_values"].get(file_id, {})
    overrides = {int(o["no"]): o for o in decisions["field_overrides"] if o["file"] == file_id}
    return tuple(
        _field(f, frozenset(specials.get(str(f["no"]), ())), overrides.get(int(f["no"]), {})) for f in raw_fields
    )


def _layouts(raw: Mapping[str, Any], decisions: Mapping[str, Any]) -> dict[str, Layout]:
    by_id = {f["id"]: f for f in raw["files"]}
    with_month = set(raw["common"]["filename_grammar"]["with_yyyymm"])
    layouts: dict[str, Layout] = {}
    for file_id, spec in by_id.items():
        source = by_id[spec["same_layout_as"]] if spec.get("same_layout_as") else spec
        layouts[file_id] = Layout(
            file_id=file_id,
            name_ja=str(spec["name_ja"]),
            fields=_fields(str(source["id"]), source.get("fields") or [], decisions),
            month_in_name=file_id in with_month,
            month_field=decisions["month_field"].get(file_id),
            is_csv=file_id != IMAGE_ID,
        )
    return layouts


def _units(raw: Mapping[str, Any]) -> tuple[SendingUnit, ...]:
    return tuple(
        SendingUnit(
            section=f"{u['source_section']} {u['item']}",
            label=str(u["label_ja"]),
            files=frozenset(u["files"]),
            companions=frozenset(u.get("companions", ())),
        )
        for u in raw["sending_units"]
    )


def _relations(raw: Mapping[str, Any]) -> tuple[Relation, ...]:
    """Parent/child links among files sent together (deletes and cascades are not links)."""
    return tuple(
        Relation(
            section=str(r["source_section"]),
            parent=str(r["parent"]),
            children=tuple(c for c in r["children"] if c != IMAGE_ID),
            keys=tuple(r["keys"]),
        )
        for r in raw["relations"]
        if r["children"] and "cascade_delete_of" not in r
    )


def _older_versions(raw: Mapping[str, Any], current: str) -> dict[str, str]:
    rows = raw["csv_version_history"]["rows"]
    return {
        r["csv_version"]: f"{r['remark'].split('：')[0]} (applies from {r['applies_from']})"
        for r in rows
        if r["csv_version"] != current
    }


@cache
def standard() -> Standard:
    """The V4.1 standard with our decisions applied (built once, immutable)."""
    raw = _read(LAYOUT_RESOURCE)
    decisions = _read(DECISIONS_RESOURCE)
    kinds = raw["service_kinds_in_scope"]
    in_scope = {**kinds["介護給付"], **kinds["予防給付"], **kinds["総合事業"]}
    limits = decisions["limits"]
    return Standard(
        csv_version=str(raw["csv_version"]),
        older_versions=MappingProxyType(_older_versions(raw, str(raw["csv_version"]))),
        layouts=MappingProxyType(_layouts(raw, decisions)),
        units=_units(raw),
        relations=_relations(raw),
        kinds_in_scope=MappingProxyType(in_scope),
        kinds_out_of_scope=MappingProxyType(dict(kinds["対象外"])),
        care_manager_kinds=MappingProxyType(dict(decisions["care_manager_kinds"])),
        attachment_extensions=frozenset(decisions["attachments"]["extensions"]),
        limits=Limits(
            max_files=int(limits["max_files_per_transmission"]),
            max_bytes=int(limits["max_bytes_per_transmission"]),
            max_transmissions=int(limits["max_transmissions_per_bulk"]),
            max_findings_per_file=int(limits["max_findings_per_file"]),
        ),
    )


def decisions() -> list[dict[str, str]]:
    """The recorded decisions (id, topic, decision, reason), for documentation and the CLI."""
    return list(_read(DECISIONS_RESOURCE)["decisions"])
