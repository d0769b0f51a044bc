"""A file checked as it is read back, chunk by chunk (careplan.standard.source `Streamed`), gets
exactly what the same file gets whole: the same blocks of lines, the same answer about Unicode,
the same findings with the same lines and byte offsets, the same keys and counts, the same
refusal of its transmission — however its holder chunks it (issue 10: "the standard check
streams too")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careplan.standard import decoding
from careplan.standard.decoding import BOM, clean_text, cut_blocks, first_bytes, unicode_encoding
from careplan.standard.source import HEAD, Streamed
from careplan.standard.transmission import check_transmission
from careplan.standard.validate import CsvReport, inspect_csv
from fixtures.broken import BROKEN
from fixtures.samples import sample_plan_set

SENDER, RECIPIENT = "1312300013", "1311700023"


def _chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` cut at the offsets `cuts` (any order, repeats and empty chunks allowed)."""
    points = sorted({min(c, len(data)) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in pairwise(edges)]


def _streamed(data: bytes, cuts: list[int]) -> Streamed:
    return Streamed(size=len(data), head=data[:HEAD], chunks=lambda: iter(_chunked(data, cuts)))


@contextmanager
def _block(size: int) -> Iterator[None]:
    """A small BLOCK, so that small files take the many-block paths."""
    with mock.patch.object(decoding, "BLOCK", size):
        yield


def _report(report: CsvReport) -> tuple[object, ...]:
    return (report.findings, dict(report.keys), report.images, report.records, report.lost,
            dict(report.lost_keys), report.complete)  # fmt: skip


def _corpus() -> list[tuple[str, bytes]]:
    files = list(sample_plan_set(sender=SENDER, recipient=RECIPIENT).items())
    for breakage in BROKEN:
        files += list(breakage.make().items())
    plan = next(data for name, data in files if name.startswith("UPPLAN_"))
    name = next(name for name, _ in files if name.startswith("UPPLAN_"))
    files += [
        (name, BOM + plan),
        (name, plan.decode("cp932").encode("utf-8")),
        (name, plan.decode("cp932").encode("utf-16")),
        (name, b"".join([plan] * 40)),  # past several blocks
        (name, plan.replace(b"\r\n", b"\n")),
        (name, plan[: len(plan) // 2]),  # cut inside a record
        (name, plan[:100] + b"\xff\xfe" + plan[100:]),
        (name, b"CSV,ascii,only\r\n" * 50),
    ]
    return files


CORPUS = _corpus()


def _blocks(data: bytes, start: int) -> Iterator[tuple[int, bytes, str | None]]:
    """The blocks of `data` held whole, by their definition: a block ends at the first LF at least
    BLOCK bytes into it, the last holds the rest (the oracle `cut_blocks` of any chunking meets)."""
    pos, size = start, len(data)
    while pos < size:
        end = data.find(b"\n", min(pos + decoding.BLOCK, size - 1))
        end = size if end < 0 else end + 1
        yield pos, data[pos:end], clean_text(data[pos:end])
        pos = end


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.lists(st.binary(max_size=30), max_size=60).map(b"\n".join),  # lines, some empty
    cuts=st.lists(st.integers(0, 2000), max_size=12),
    block=st.sampled_from([1, 2, 7, 30, 64]),
    start=st.integers(0, 4),
)
def test_the_chunks_are_cut_into_the_blocks_of_the_whole(data: bytes, cuts: list[int], block: int, start: int) -> None:
    start = min(start, len(data))
    with _block(block):
        assert list(cut_blocks(iter(_chunked(data, cuts)), start)) == list(_blocks(data, start))


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.sampled_from([b"", BOM, b"\xff\xfe", b"a\x00b\x00"]),
    ascii_part=st.integers(0, 700),
    rest=st.binary(max_size=900),
    cuts=st.lists(st.integers(0, 2000), max_size=10),
    block=st.sampled_from([1, 16, 64, 256]),
)
def test_the_first_bytes_answer_the_unicode_check_for_the_whole(
    prefix: bytes, ascii_part: int, rest: bytes, cuts: list[int], block: int
) -> None:
    data = prefix + b"x" * ascii_part + "ケアプラン".encode() + rest
    with _block(block):
        chunks = iter(_chunked(data, cuts))
        first = first_bytes(chunks)
        assert first + b"".join(chunks) == data, "the first bytes are taken from the chunks, none lost"
        assert unicode_encoding(first) == unicode_encoding(data)


@pytest.mark.parametrize("block", [64, decoding.BLOCK])
def test_every_corpus_file_gets_the_same_report_streamed_in_any_chunks(block: int) -> None:
    cuttings = [[], [1], [3, 4, 5], [200, 201], [1000], [7, 8191, 8192, 8193], list(range(0, 300_000, 977))]
    with _block(block):
        for name, data in CORPUS:
            whole = _report(inspect_csv(name, data))
            for cuts in cuttings:
                assert _report(inspect_csv(name, _streamed(data, cuts))) == whole, (name, cuts)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(CORPUS) - 1), cuts=st.lists(st.integers(0, 120_000), max_size=8),
       block=st.sampled_from([32, 300, 4096]))  # fmt: skip
def test_random_chunkings_of_the_corpus_get_the_same_report(index: int, cuts: list[int], block: int) -> None:
    name, data = CORPUS[index]
    with _block(block):
        assert _report(inspect_csv(name, _streamed(data, cuts))) == _report(inspect_csv(name, data))


def test_a_transmission_of_streamed_files_gets_the_same_findings() -> None:
    for breakage in [None, *BROKEN]:
        files = (
            list(sample_plan_set(sender=SENDER, recipient=RECIPIENT).items())
            if breakage is None
            else list(breakage.make().items())
        )
        streamed = [(name, _streamed(data, [5, 70, 4096])) for name, data in files]
        assert check_transmission(streamed, sender=SENDER, recipient=RECIPIENT) == check_transmission(
            files, sender=SENDER, recipient=RECIPIENT
        )
