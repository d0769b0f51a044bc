"""Issue 10 (throughput): values found valid are kept across files, and change no finding.

validate.py keeps, per layout, the values of its vocabulary items (codes, dates, office numbers)
found valid, and what its record rules found fine, for the files a process validates later
(`_Shared`). Those shortcuts must give every file the findings it gets in a fresh process, in any
order and with the cache emptied at any point; and nothing about a person (被保険者番号,
telephone numbers, postcodes, birth dates, free text) may stay in the process after its file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from standard_testkit import csv_bytes, name_of, plan_set, records_of

from careplan.errors import Finding
from careplan.office import with_check_digit
from careplan.standard import parse_file_name, validate_csv
from careplan.standard import validate as validate_module
from careplan.standard.layout import standard
from fixtures.broken import BROKEN


@contextmanager
def _fresh(limit: int = validate_module.SHARED_CACHE) -> Iterator[validate_module._Shared]:
    """A process that has validated nothing yet (its shared values empty, bounded by `limit`)."""
    saved = validate_module._SHARED
    validate_module._SHARED = shared = validate_module._Shared(limit)
    try:
        yield shared
    finally:
        validate_module._SHARED = saved


def _csv_files() -> list[tuple[str, bytes, bool]]:
    files = [(name, data, False) for name, data in plan_set().items()]
    for breakage in BROKEN:
        for name, data in breakage.make().items():
            try:
                if parse_file_name(name).file_id == "UPKIHON_IMAGE":
                    continue
            except Exception:  # a broken name: validated all the same
                pass
            files.append((name, data, breakage.strict))
    return files


FILES = _csv_files()


def _alone(name: str, data: bytes, strict: bool) -> list[Finding]:
    with _fresh():
        return validate_csv(name, data, strict=strict)


@pytest.mark.parametrize("limit", [validate_module.SHARED_CACHE, 7], ids=["bounded", "emptied-often"])
@pytest.mark.parametrize("order", ["forward", "backward"])
def test_every_file_gets_the_findings_it_gets_alone_after_any_other_files(limit: int, order: str) -> None:
    files = FILES if order == "forward" else FILES[::-1]
    with _fresh(limit) as shared:
        after = [validate_csv(name, data, strict=strict) for name, data, strict in files]
        assert shared.count <= limit
    assert len(files) > 100
    for (name, data, strict), found in zip(files, after, strict=True):
        assert found == _alone(name, data, strict), name


def test_a_check_digit_warning_is_given_in_every_file_with_the_value_once_a_file() -> None:
    rows = records_of("UPPLAN")
    bad = rows[0][19][:9] + str((int(rows[0][19][9]) + 1) % 10)  # サービス事業者コード, check digit off
    assert with_check_digit(bad[:9]) != bad
    for row in rows:
        row[19] = bad
    data = csv_bytes("UPPLAN", rows)
    name = name_of("UPPLAN")
    with _fresh():
        first, second = validate_csv(name, data), validate_csv(name, data)
    for found in (first, second):
        warned = [f for f in found if f.rule == "field.office_number.check_digit" and f.value == bad]
        assert len(warned) == 1 and warned[0].severity == "warning"


def test_no_value_about_a_person_stays_in_the_process_after_its_file() -> None:
    personal: set[str] = set()
    with _fresh() as shared:
        for name, data, strict in FILES:
            validate_csv(name, data, strict=strict)
        for name in plan_set():
            file_id = parse_file_name(name).file_id
            if file_id == "UPKIHON_IMAGE":
                continue
            layout = standard().layout(file_id)
            for record in records_of(name.split("_")[0]):
                for fld, value in zip(layout.fields, record, strict=False):
                    if value and (fld.free_text or any(word in fld.name for word in validate_module.PERSONAL)):
                        personal.add(value)
        kept = {v for sets in shared.layouts.values() for known in sets if known is not None for v in known}
        kept |= {v for sets in shared.rules.values() for fine in sets for key in fine for v in _values(key)}
    assert personal  # the sample holds 被保険者番号, birth dates, telephone numbers, names
    assert "0001234567" in personal
    assert kept and not kept & personal


def _values(key: object) -> tuple[object, ...]:
    return key if isinstance(key, tuple) else (key,)


def test_items_about_a_person_are_never_shared() -> None:
    with _fresh() as shared:
        for name, data in plan_set().items():
            validate_csv(name, data)
        for (file_id, _), sets in shared.layouts.items():
            layout = standard().layout(file_id)
            for fld, known in zip(layout.fields, sets, strict=True):
                about_a_person = fld.free_text or any(word in fld.name for word in validate_module.PERSONAL)
                assert (known is None) == about_a_person, (file_id, fld.name)
