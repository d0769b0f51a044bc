"""The gate that makes a restore atomic for requests (hub.control.gate): requests pass it shared
without a lock while it is open, and a writer still waits for every request in flight, holds new
ones back while it waits and while it holds the gate, and lets them through when it is done."""

from __future__ import annotations

import asyncio

import pytest

from hub.control.gate import Gate

STEP = 5.0  # seconds any one wait below may take at most (never reached when the gate works)


async def _settle() -> None:
    """Let every task that can run, run (a bounded number of loop turns)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_writer_waits_for_requests_in_flight_and_holds_new_ones_back() -> None:
    gate, order = Gate(), []
    release_first = asyncio.Event()

    async def request(name: str, hold: asyncio.Event | None = None) -> None:
        async with gate.shared():
            order.append(f"{name} in")
            if hold is not None:
                await asyncio.wait_for(hold.wait(), STEP)
            order.append(f"{name} out")

    async def writer() -> None:
        async with gate.exclusive():
            order.append("writer in")
            await _settle()  # a request arriving now must not get in
            order.append("writer out")

    first = asyncio.create_task(request("first", release_first))
    await _settle()
    writing = asyncio.create_task(writer())
    await _settle()
    late = asyncio.create_task(request("late"))  # arrives while the writer waits: goes after it
    await _settle()
    assert order == ["first in"]
    release_first.set()
    await asyncio.wait_for(asyncio.gather(first, writing, late), STEP)
    assert order == ["first in", "first out", "writer in", "writer out", "late in", "late out"]
    assert gate._active == 0


async def test_requests_pass_an_open_gate_together() -> None:
    gate, inside = Gate(), []
    everyone_in = asyncio.Event()

    async def request() -> None:
        async with gate.shared():
            inside.append(1)
            if len(inside) == 3:
                everyone_in.set()
            await asyncio.wait_for(everyone_in.wait(), STEP)

    await asyncio.wait_for(asyncio.gather(*(request() for _ in range(3))), STEP)
    assert gate._active == 0


async def test_a_failed_or_cancelled_request_leaves_the_gate() -> None:
    gate = Gate()
    with pytest.raises(RuntimeError):
        async with gate.shared():
            raise RuntimeError("the handler failed")
    stuck = asyncio.Event()

    async def cancelled() -> None:
        async with gate.shared():
            await stuck.wait()

    task = asyncio.create_task(cancelled())
    await _settle()
    assert gate._active == 1
    task.cancel()
    await _settle()
    assert gate._active == 0
    async with asyncio.timeout(STEP), gate.exclusive():  # nothing left in flight to wait for
        pass


async def test_a_request_after_the_writer_is_done_passes_at_once() -> None:
    gate = Gate()
    async with asyncio.timeout(STEP):
        async with gate.exclusive():
            pass
        async with gate.shared():
            assert gate._active == 1
    assert gate._active == 0
