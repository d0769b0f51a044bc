"""Never raise on arbitrary bytes; stay within bounded memory on a 10 MB file (decision D13)."""

from __future__ import annotations

import time
import tracemalloc

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standard_testkit import HELPER, MANAGER, name_of, records_of

from careplan.standard import check_transmission, refusal, sort_bulk, validate_csv, write_csv

TEN_MB = 10 * 1024 * 1024
# Peak traced memory while validating a 10 MB file, on top of the input bytes themselves.
# Streaming keeps it to a few records plus per-user key sets; 16 MB leaves room for the
# interpreter's caches while failing loudly if the file were ever decoded or split whole.
MEMORY_BOUND = 16 * 1024 * 1024

_FIXED_NAMES = st.sampled_from(
    [
        name_of("UPPLAN"),
        name_of("UPSIKYU"),
        name_of("UPHOSOKU"),
        name_of("UP1KYO", month=None),
        name_of("DLTJSK", sender=HELPER, kind="11", recipient=MANAGER, recipient_kind="43"),
        f"UPKIHON_IMAGE_{MANAGER}_46_{HELPER}_A2_20250420093000_0001.jpg",
        "memo.txt",
        "x.pdf",
        "UPPLAN_.CSV",
        "",
    ]
)
_NAMES = st.one_of(_FIXED_NAMES, st.text(max_size=40), _FIXED_NAMES.map(lambda n: n.replace("_", "_X", 1)))
_CSVISH = st.lists(
    st.sampled_from(
        [
            b"202407",
            b",",
            b'"',
            b'""',
            b"\r\n",
            b"\n",
            b"\r",
            b"\x81",
            b"\x82\xa0",
            b"\xf0\x40",
            b"\xef\xbb\xbf",
            b"0",
            b"9999",
            b"H123456789",
            b"PK\x03\x04",
            b"\x00",
        ]
    ),
    max_size=80,
).map(b"".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=_NAMES, data=st.one_of(st.binary(max_size=600), _CSVISH))
def test_validate_csv_never_raises(name: str, data: bytes) -> None:
    for finding in validate_csv(name, data):
        assert finding.severity in ("error", "warning")
        assert finding.rule and finding.message


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=st.lists(st.tuples(_NAMES, st.one_of(st.binary(max_size=200), _CSVISH)), max_size=9))
def test_check_transmission_and_sort_bulk_never_raise(files: list[tuple[str, bytes]]) -> None:
    found = check_transmission(files, sender=MANAGER, recipient=HELPER)
    error = refusal(found)
    assert error is None or error.findings
    plan = sort_bulk(files)
    assert len(plan.transmissions) <= 50


def _ten_mb_plan() -> bytes:
    """A valid UPPLAN of just under 10 MB: the sample records again and again, new users each time."""
    chunk = write_csv("UPPLAN", records_of("UPPLAN"))
    copies = TEN_MB // len(chunk)
    return b"".join(chunk.replace(b"0001234567", b"%010d" % i) for i in range(copies))


def test_ten_megabytes_in_bounded_memory_and_time() -> None:
    data = _ten_mb_plan()
    assert len(data) > 9 * 1024 * 1024
    tracemalloc.start()
    try:
        started = time.perf_counter()
        found = validate_csv(name_of("UPPLAN"), data)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found == []
    assert peak < MEMORY_BOUND, f"peak {peak / 1e6:.1f} MB"
    assert elapsed < 15


def test_ten_megabytes_of_garbage_is_capped() -> None:
    data = (b'\x81\x7f,"x' * (TEN_MB // 6))[:TEN_MB]
    found = validate_csv(name_of("UPPLAN"), data)
    assert 0 < len(found) <= 201
