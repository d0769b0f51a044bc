"""hub.heap: a hub process gives the free pages of its heap back once it falls quiet, never while a
request is in flight, once per quiet spell (rule 2); and giving back returns memory (glibc).

The quiet spell is real time (sockets, not a date rule): each wait is bounded by a few sweeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from client.hubclient import client_ssl_context
from hub import heap
from tests.conftest import KYOTAKU, HubUnderTest, Pki, hub_with

FAST = {"header_timeout": 0.5, "body_grace": 0.5, "body_min_rate": 1000}  # a sweep every 0.1 s
QUIET = 0.3


@pytest.fixture
async def hub(tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[HubUnderTest]:
    monkeypatch.setattr(heap, "QUIET", QUIET)
    async with hub_with(tmp_path, pki, **FAST) as under_test:
        yield under_test


@pytest.fixture
def given_back(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """When the hub gave its heap back (time.monotonic())."""
    calls: list[float] = []
    monkeypatch.setattr(heap, "give_back", lambda: calls.append(time.monotonic()))
    return calls


async def _until(condition: object, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        await asyncio.sleep(0.02)


async def test_a_quiet_hub_gives_its_heap_back_once(hub: HubUnderTest, given_back: list[float]) -> None:
    await asyncio.sleep(QUIET + 0.3)  # nothing served yet: nothing to give back
    assert given_back == []
    status, _ = await hub.raw("GET", "/healthz")
    served = time.monotonic()
    assert status == 200
    await _until(lambda: given_back)
    assert len(given_back) == 1
    assert given_back[0] - served >= QUIET - 0.05, "not before the quiet spell"
    await asyncio.sleep(QUIET + 0.5)
    assert len(given_back) == 1, "once a quiet spell: nothing was served since"
    await hub.raw("GET", "/healthz")
    await _until(lambda: len(given_back) == 2)
    assert len(given_back) == 2


async def test_never_while_a_request_is_in_flight(hub: HubUnderTest, given_back: list[float]) -> None:
    await hub.raw("GET", "/healthz")  # served: the heap is due once the hub is quiet
    context = client_ssl_context(hub.config.trusted_ca_file, hub.pki.terminals[KYOTAKU.number])
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.running.port, ssl=context)
    body = b'{"user_id": "' + b"a" * 2980 + b'"}'
    writer.write(
        b"POST /api/v1/session HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    started = time.monotonic()
    for offset in range(0, len(body), 200):  # 2,000 bytes/s: slow, but above body_min_rate
        await asyncio.sleep(0.1)
        writer.write(body[offset : offset + 200])
        await writer.drain()
    in_flight = time.monotonic() - started
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
    answered = time.monotonic()
    assert head.startswith(b"HTTP/1.1 4"), head
    assert in_flight > 1.0 > QUIET
    assert given_back == [], "the body was arriving all along"
    await _until(lambda: given_back)
    assert len(given_back) == 1
    assert given_back[0] - answered >= QUIET - 0.05
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(heap._LIBC is None, reason="the C library has no mallopt/malloc_trim (not glibc)")
def test_giving_back_returns_the_free_pages_inside_the_heap() -> None:
    heap.tune()  # 100 KB buffers stay in the heap (below the mmap threshold)
    buffers: list[bytearray | None] = [bytearray(100_000) for _ in range(400)]
    for index in range(0, len(buffers), 2):
        buffers[index] = None  # free pages between live ones: nothing a heap top trim can return
    before = _rss_kib()
    heap.give_back()
    assert before - _rss_kib() > 10_000, "about 20 MB were free inside the heap"
    del buffers
