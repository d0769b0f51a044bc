"""sort_bulk: many files for many destinations into transmissions (R4.3, decision D18)."""

from __future__ import annotations

from standard_testkit import HELPER, MANAGER

from careplan.office import with_check_digit
from careplan.standard import check_transmission, sort_bulk
from fixtures.samples import sample_plan_set


def _offices(n: int) -> list[str]:
    return [with_check_digit(f"13117{i:04d}") for i in range(1, n + 1)]


def test_sorts_by_destination_and_serial() -> None:
    a, b = _offices(2)
    files: list[tuple[str, bytes]] = []
    for office in (b, a):
        for created in ("20250420093000", "20250421093000"):
            files += sample_plan_set(sender=MANAGER, recipient=office, created=created).items()
    plan = sort_bulk(files, sender=MANAGER)
    assert plan.ok and plan.unplaced == []
    assert [r for r, _ in plan.transmissions] == [a, a, b, b]
    serials = [t[1][0][0].rsplit("_", 1)[1] for t in plan.transmissions]
    assert serials == ["20250420093000.CSV", "20250421093000.CSV"] * 2
    for recipient, group in plan.transmissions:
        assert len(group) == 3
        assert check_transmission(group, sender=MANAGER, recipient=recipient) == []


def test_reports_every_file_it_cannot_place() -> None:
    files = list(sample_plan_set(sender=MANAGER, recipient=HELPER).items())
    other = with_check_digit("131230009")
    stray = sample_plan_set(sender=other, recipient=HELPER, created="20250422093000")
    incomplete = [
        (n, d)
        for n, d in sample_plan_set(sender=MANAGER, recipient=HELPER, created="20250423093000").items()
        if not n.startswith("UPSIKYU")
    ]
    files += [
        ("letter.pdf", b"%PDF-1.4"),
        ("bundle.zip", b"PK\x03\x04rest"),
        ("UPPLAN_broken.CSV", b""),
        files[0],
        *stray.items(),
        *incomplete,
    ]
    plan = sort_bulk(files, sender=MANAGER)
    assert len(plan.transmissions) == 1
    why = {name: f.rule for name, f in plan.unplaced}
    assert why["letter.pdf"] == "bulk.no_destination"
    assert why["bundle.zip"] == "transmission.zip"
    assert why["UPPLAN_broken.CSV"] == "bulk.no_destination"
    broken = next(f for n, f in plan.unplaced if n == "UPPLAN_broken.CSV")
    assert "does not follow the pattern" in broken.message
    assert all(why[n] == "unit.sender_mismatch" for n in stray)
    assert all(why[n] == "unit.combination" for n, _ in incomplete)
    assert [f.rule for n, f in plan.unplaced if n == files[0][0]] == ["unit.duplicate_file"]
    assert not plan.ok


def test_at_most_fifty_transmissions() -> None:
    files: list[tuple[str, bytes]] = []
    for office in _offices(51):
        files += sample_plan_set(sender=MANAGER, recipient=office).items()
    plan = sort_bulk(files)
    assert len(plan.transmissions) == 50
    assert len(plan.unplaced) == 3
    assert {f.rule for _, f in plan.unplaced} == {"bulk.too_many_transmissions"}


def test_the_fifty_count_per_sender_when_no_sender_is_given() -> None:
    """`careplan validate` on a month's folder of several offices: each office's files are its own
    bulk send, so 2 × 30 transmissions are all placed, where they were counted as one send of 60."""
    other = with_check_digit("131230009")
    files: list[tuple[str, bytes]] = []
    for sender in (MANAGER, other):
        for office in _offices(30):
            files += sample_plan_set(sender=sender, recipient=office).items()
    plan = sort_bulk(files)
    assert len(plan.transmissions) == 60 and plan.unplaced == []
    for office in _offices(21):  # the first sender's 51st transmission and on
        files += sample_plan_set(sender=MANAGER, recipient=office, created="20250422093000").items()
    plan = sort_bulk(files)
    assert len(plan.transmissions) == 80
    refused = {name.split("_")[2] for name, f in plan.unplaced if f.rule == "bulk.too_many_transmissions"}
    assert len(plan.unplaced) == 3 and refused == {MANAGER}, plan.unplaced
