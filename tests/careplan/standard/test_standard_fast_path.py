"""Issue 12 (speed): the validator's shortcuts give exactly the findings of a full look.

The shortcuts are the reader's repeated lines (reader.py `_whole`/`_cut`: a line equal to the
previous one but for its dates is not parsed), the validator's cache of rule inputs found fine,
its values known from earlier files and its look at only the unknown items of a record
(validate.py `_Shared`, `_misses`). The full look turns them off; every broken fixture variant and
hypothesis-made runs of 第6表 rows must then give the same findings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standard_testkit import name_of, plan_records

from careplan.errors import Finding
from careplan.standard import parse_file_name, validate_csv, write_csv
from careplan.standard import reader as reader_module
from careplan.standard import validate as validate_module
from careplan.standard.sink import FindingSink
from fixtures.broken import BROKEN


@contextmanager
def _full_look() -> Iterator[None]:
    """No shortcut: every line parsed, every record rule run.

    The cache of valid values stays, emptied (nothing known from files read before): it is also
    what reports a check-digit warning once per value (its rule), not only a shortcut."""
    state = validate_module._FileState
    saved = (reader_module._cut, validate_module.RULE_CACHE, validate_module._SHARED, state._misses)
    reader_module._cut = lambda *_: reader_module._NEVER  # type: ignore[assignment]
    validate_module.RULE_CACHE = 0
    validate_module._SHARED = validate_module._Shared(validate_module.SHARED_CACHE)
    state._misses = lambda *_: None  # type: ignore[method-assign]  # every field of every record
    try:
        yield
    finally:
        reader_module._cut, validate_module.RULE_CACHE, validate_module._SHARED, state._misses = saved


def _both(name: str, data: bytes, strict: bool = False) -> tuple[list[Finding], list[Finding]]:
    fast = validate_csv(name, data, strict=strict)
    with _full_look():
        slow = validate_csv(name, data, strict=strict)
    return fast, slow


def _is_csv(name: str) -> bool:
    try:
        return parse_file_name(name).file_id != "UPKIHON_IMAGE"
    except Exception:
        return False


@pytest.mark.parametrize("breakage", BROKEN, ids=lambda b: b.name)
def test_every_broken_variant_gets_the_findings_of_a_full_look(breakage) -> None:  # type: ignore[no-untyped-def]
    for name, data in breakage.make().items():
        if _is_csv(name):
            fast, slow = _both(name, data, breakage.strict)
            assert fast == slow, name


# --- runs of one service's rows, changed the ways a real file (or a broken one) changes them ------
BASE = plan_records()[0]
FREE_TEXT = {6, 17, 20}  # 第6表's free text: プラン担当者名, 福祉用具商品名, サービス事業所名
DAYS = ["20250401", "20250415", "20250430", "20250431", "20250501", "2025041A", "2025,401", "", "00000000"]
MADE = ["20250420", "20250421", "20250230", ""]
OTHER: list[tuple[int, str]] = [
    (2, "0001234568"),  # another 被保険者番号
    (2, "12345"),  # not one
    (7, "300"),  # another 単位数
    (7, "3x0"),
    (11, "9999"),  # one of a 9999 pair
    (14, "11AAAA"),  # a subtotal code
    (6, "別の 担当者"),  # free text
    (6, 'a "quote"'),
    (19, "1311700024"),  # an office number with a wrong check digit
]
ROW = st.tuples(
    st.sampled_from(DAYS),
    st.sampled_from(MADE) | st.just(MADE[0]),
    st.none() | st.sampled_from(OTHER),
    st.integers(min_value=1, max_value=3),  # copies of the row
)


def _rows(spec: list[tuple[str, str, tuple[int, str] | None, int]]) -> list[list[str]]:
    rows = []
    for day, made, other, copies in spec:
        row = [*BASE]
        row[9], row[3] = day, made
        if other is not None:
            row[other[0]] = other[1]
        rows += [row] * copies
    return rows


def _line(row: list[str]) -> bytes:
    """write_csv's line for `row`, but a comma in a date written bare (a broken file; write_csv
    would quote it), with free text in "" as write_csv writes it, so that the reader may take
    the line for a repeat of the one before."""
    if "," not in row[9]:
        return write_csv("UPPLAN", [row])
    cells = [f'"{v}"' if i in FREE_TEXT and v else v for i, v in enumerate(row)]
    return ",".join(cells).encode("cp932") + b"\r\n"


@settings(max_examples=150, deadline=None)
@given(spec=st.lists(ROW, min_size=1, max_size=25))
def test_runs_of_rows_get_the_findings_of_a_full_look(spec: list[tuple[str, str, tuple[int, str] | None, int]]) -> None:
    fast, slow = _both(name_of("UPPLAN"), b"".join(map(_line, _rows(spec))))
    assert fast == slow


def test_a_run_whose_other_date_changes_midway_is_read_again() -> None:
    """The cut keeps a date equal in a run's first two lines in its piece (only サービス利用日
    differs there); a later line with another 作成年月日 must be parsed, not taken as a repeat."""
    rows = _rows([(d, "20250420", None, 1) for d in DAYS[:3]] + [("20250402", "20250230", None, 1)])
    fast, slow = _both(name_of("UPPLAN"), write_csv("UPPLAN", rows))
    assert fast == slow
    assert [f.rule for f in fast] == ["field.date"] and fast[0].line == 4


def test_the_cut_folds_dates_that_do_not_change() -> None:
    template = reader_module.Template(dates=(3, 9), free_text=frozenset(FREE_TEXT))
    first = _rows([("20250401", "20250420", None, 1)])[0]
    text = write_csv("UPPLAN", [first]).decode("cp932").rstrip("\r\n")
    following = text.replace("20250401", "20250402")
    pieces, spans = reader_module._cut(first, text, template, following)
    assert [index for index, _, _ in spans] == [9]
    assert "".join(p for p, _ in pieces) == text.replace("20250401", "")
    unchanged: Callable[[], object] = lambda: reader_module._cut(first, text, template, text)  # noqa: E731
    assert unchanged() == ([(text, 0)], [])  # an identical line: one piece, nothing to read


# --- runs: a user's service's rows that differ in one date, read as one item (reader.Row) ---------
def _read(data: bytes, template: reader_module.Template | None) -> tuple[list[reader_module.Row], list[Finding]]:
    sink = FindingSink("x", 10_000)
    rows = [row for batch in reader_module.read_batches(data, sink, template=template) for row in batch]
    return rows, sink.result()


@settings(max_examples=150, deadline=None)
@given(spec=st.lists(ROW, min_size=1, max_size=25))
def test_a_run_stands_for_the_rows_csv_reader_gives(spec: list[tuple[str, str, tuple[int, str] | None, int]]) -> None:
    data = b"".join(map(_line, _rows(spec)))
    template = reader_module.Template(dates=(3, 9), free_text=frozenset(FREE_TEXT))
    fast, fast_found = _read(data, template)
    slow, slow_found = _read(data, None)
    assert fast_found == slow_found
    lines = [row for item in fast for row in reader_module.run_rows(item)]
    assert [(line, fields) for line, fields, *_ in lines] == [(line, fields) for line, fields, *_ in slow]
    assert all(run is None or (len(repeat) == 1 and run) for *_, repeat, run in fast)


def test_runs_are_read_as_one_item_each() -> None:
    days = ["20250401", "20250402", "20250403", "20250404"]
    other = OTHER[0]  # another 被保険者番号: a new user, a new run
    data = write_csv(
        "UPPLAN", _rows([(d, "20250420", None, 1) for d in days] + [(d, "20250420", other, 1) for d in days])
    )
    rows, _ = _read(data, reader_module.Template(dates=(3, 9), free_text=frozenset(FREE_TEXT)))
    assert [(line, run) for line, *_, run in rows] == [(1, None), (2, days[1:]), (5, None), (6, days[1:])]


def test_the_cap_of_errors_stops_inside_a_run_where_row_by_row_reading_stops() -> None:
    """Every date of the runs is 20250431 (no such day) or a good day between them: the 200th
    error falls inside a run, and reading stops at the same line as without runs."""
    days = [("20250401" if i % 3 else "20250431", "20250420", None, 1) for i in range(900)]
    fast, slow = _both(name_of("UPPLAN"), write_csv("UPPLAN", _rows(days)))
    assert fast == slow
    assert fast[-1].rule == "findings.stopped"
