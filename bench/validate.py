"""Validator throughput against plain csv.reader (goal: at most 3× slower). Not a test.

    .venv/bin/python bench/validate.py [MEGABYTES]

Builds a valid UPPLAN of about MEGABYTES (default 10) from the sample unit, then times
`validate_csv` (MS932 decoding, quoting, every field and record rule) against `csv.reader` over
the same text already decoded (decoding excluded from the baseline, so the ratio is a bound).
Both sides read the same input and are timed as the best of RUNS runs; the output says so.
"""

from __future__ import annotations

import csv
import io
import sys
import time

from careplan.office import with_check_digit
from careplan.standard import validate_csv, write_csv
from fixtures.samples import sample_plan_set

MANAGER = with_check_digit("131230001")
HELPER = with_check_digit("131170002")
RUNS = 5


def build(megabytes: float) -> tuple[str, bytes]:
    files = sample_plan_set(sender=MANAGER, recipient=HELPER)
    name = next(n for n in files if n.startswith("UPPLAN_"))
    chunk = files[name]
    copies = int(megabytes * 1024 * 1024) // len(chunk)
    return name, b"".join(chunk.replace(b"0001234567", b"%010d" % i) for i in range(copies))


def best_of(runs: int, func: object) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        func()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv: list[str]) -> int:
    megabytes = float(argv[0]) if argv else 10.0
    name, data = build(megabytes)
    text = data.decode("cp932")
    rows = sum(1 for _ in csv.reader(io.StringIO(text, newline="")))
    findings = validate_csv(name, data)
    assert findings == [], findings[:3]
    baseline = best_of(RUNS, lambda: sum(1 for _ in csv.reader(io.StringIO(text, newline=""))))
    ours = best_of(RUNS, lambda: validate_csv(name, data))
    print(f"file: {name} ({len(data) / 1024 / 1024:.1f} MiB, {rows} rows)")
    print(
        f"method: best of {RUNS} runs each, same input; csv.reader gets the text decoded beforehand "
        "(decoding not timed), validate_csv gets the bytes and does all its work (decoding, "
        "quoting, every field, record and file rule)"
    )
    print(f"csv.reader (decoded text): {rows / baseline:12,.0f} rows/s")
    print(f"validate_csv (bytes):      {rows / ours:12,.0f} rows/s")
    print(f"ratio: {ours / baseline:.2f}x (goal <= 3x)")
    _ = write_csv  # the sample set is written with the writer under test
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
