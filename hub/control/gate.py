"""The gate that makes a restore or a reset atomic for requests.

Every office-facing request passes the gate shared; a restore (or reset, or snapshot save) holds it
exclusively: it waits until the requests in flight have finished, new requests wait at the gate
until it is done, and so no request ever sees half of the old state and half of the new one.
Waiting writers go first, so a steady stream of requests cannot starve a restore.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from careplan.errors import CareplanError

WAIT_SECONDS = 30.0  # how long a restore waits for the requests in flight


class Gate:
    def __init__(self) -> None:
        self._condition = asyncio.Condition()
        self._active = 0
        self._closed = False
        self._waiting_writers = 0

    def shared(self) -> _Shared:
        """Pass the gate with the other requests: `async with gate.shared(): …`."""
        return _Shared(self)

    def _open(self) -> bool:
        return not self._closed and not self._waiting_writers

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold the hub still; refuses with HUB_BUSY when requests keep it busy past WAIT_SECONDS."""
        async with self._condition:
            self._waiting_writers += 1
            try:
                await asyncio.wait_for(
                    self._condition.wait_for(lambda: not self._closed and not self._active), WAIT_SECONDS
                )
            except TimeoutError:
                raise CareplanError(
                    "HUB_BUSY",
                    detail=f"{WAIT_SECONDS:.0f} 秒待っても処理中の要求が {self._active} 件残っています",
                    fix="ハブが空いてから、もう一度実行してください。",
                    detail_en=f"{self._active} request(s) still in flight after {WAIT_SECONDS:.0f} s",
                    fix_en="Try again when the hub is less busy.",
                ) from None
            finally:
                self._waiting_writers -= 1
                self._condition.notify_all()
            self._closed = True
        try:
            yield
        finally:
            async with self._condition:
                self._closed = False
                self._condition.notify_all()


class _Shared:
    """`Gate.shared()`. Every request passes here, and almost always the gate is open with no
    writer waiting: then it only counts itself in and out, taking no lock (on one event loop
    nothing runs between the test and the count). Only a writer waits for the count to fall, so
    only then is the condition notified. A gate closed or awaited by a writer is waited for under
    the condition, as before. (The generator-based context manager and the lock taken twice were
    most of the control middleware's own cost per request.)"""

    __slots__ = ("_gate",)

    def __init__(self, gate: Gate) -> None:
        self._gate = gate

    async def __aenter__(self) -> None:
        gate = self._gate
        if gate._open():
            gate._active += 1
            return
        async with gate._condition:
            await gate._condition.wait_for(gate._open)
            gate._active += 1

    async def __aexit__(self, *exc: object) -> None:
        gate = self._gate
        gate._active -= 1
        if gate._waiting_writers:  # a writer waits for the requests in flight to finish
            async with gate._condition:
                gate._condition.notify_all()
