"""The layouts as data: every file of the standard, its field count, units, relations."""

from __future__ import annotations

import pytest

from careplan.standard import decisions, standard

# Field counts from the companion notes of careplan-csv-layout-v4.1.md.
FIELD_COUNTS = {
    "UPHOSOKU": 63,
    "UP1KYO": 28,
    "DLT1KYO": 4,
    "UP2KYO": 22,
    "UP3KYO": 13,
    "UPPLAN": 25,
    "UPJSK": 25,
    "DLTPLAN": 4,
    "DLTJSK": 6,
    "UPSIKYU": 37,
    "UPKIHON": 71,
    "DLTKIHON": 4,
    "UPKIHON_SUB1": 7,
    "UPKIHON_SUB2": 11,
    "UPKIHON_IMAGE": 0,
    "UPYOBO": 57,
    "DLTYOBO": 4,
    "UPYOBO_SUB": 17,
}


@pytest.mark.parametrize(("file_id", "count"), FIELD_COUNTS.items())
def test_every_file_has_its_layout(file_id: str, count: int) -> None:
    layout = standard().layout(file_id)
    assert layout.field_count == count
    if count:
        assert layout.field(1).name == "CSVバージョン"
        assert layout.field(2).name == "保険者番号"


def test_upjsk_shares_the_upplan_layout() -> None:
    std = standard()
    assert std.layout("UPJSK").fields == std.layout("UPPLAN").fields
    assert std.layout("UPJSK").month_field == 5


def test_month_in_name_follows_the_grammar() -> None:
    with_month = {f for f, lay in standard().layouts.items() if lay.month_in_name}
    assert with_month == {"UPHOSOKU", "UPPLAN", "UPJSK", "DLTPLAN", "DLTJSK", "UPSIKYU"}


def test_decisions_are_recorded_with_reasons() -> None:
    recorded = decisions()
    assert len(recorded) >= 15
    assert all(d["decision"] and d["reason"] for d in recorded)


def test_overrides_applied() -> None:
    assert standard().layout("UPPLAN").field(19).length == 2
    assert standard().layout("UPSIKYU").field(30).length == 5


def test_sending_units_and_relations() -> None:
    std = standard()
    sets = {u.files for u in std.units}
    assert frozenset({"UPPLAN", "UPSIKYU", "UPHOSOKU"}) in sets
    assert frozenset({"UP1KYO", "UP2KYO", "UP3KYO", "UPHOSOKU"}) in sets
    assert frozenset({"UPJSK"}) in sets
    parents = {(r.parent, c) for r in std.relations for c in r.children}
    assert {
        ("UPPLAN", "UPSIKYU"),
        ("UPPLAN", "UPHOSOKU"),
        ("UP1KYO", "UP2KYO"),
        ("UP1KYO", "UP3KYO"),
        ("UP1KYO", "UPHOSOKU"),
    } <= parents


def test_service_kinds_in_scope() -> None:
    std = standard()
    assert {"11", "2A", "A1", "A8", "67", "2B"} <= set(std.kinds_in_scope)
    assert {"33", "41", "51", "44"} <= set(std.kinds_out_of_scope)
    assert std.limits.max_bytes == 10 * 1024 * 1024
