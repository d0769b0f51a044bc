"""Record rules read only the fields they declare, so skipping known combinations is safe."""

from __future__ import annotations

import pytest

from careplan.standard.layout import standard
from careplan.standard.records import RECORD_RULES


class _Watched(list[str]):
    """A record that remembers which fields were read."""

    def __init__(self, values: list[str]) -> None:
        super().__init__(values)
        self.read: set[int] = set()

    def __getitem__(self, index):  # type: ignore[no-untyped-def, override]
        self.read.add(index)
        return super().__getitem__(index)


_VALUES = ["", "202504", "20250403", "9999", "0900", "171001", "999999", "1" * 31, "00000000", "000000", "x"]


@pytest.mark.parametrize("file_id", sorted(RECORD_RULES))
@pytest.mark.parametrize("value", _VALUES)
def test_rules_read_only_their_declared_fields(file_id: str, value: str) -> None:
    for rule in RECORD_RULES[file_id]:
        for seed in range(len(_VALUES)):
            values = [
                _VALUES[(seed + i) % len(_VALUES)] if i % 2 else value
                for i in range(standard().layout(file_id).field_count)
            ]
            record = _Watched(values)
            rule.check(record, lambda *a, **k: None)
            assert record.read <= set(rule.reads)
