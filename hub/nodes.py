"""What several hub nodes on one shared database must agree on besides the tables: the hub clock
and the session revocation generation (hub.sessions rule 4).

Nodes on different machines share only the database and the data directory (CA, TLS, keys,
payloads), which may be a network share where a memory-mapped file is not coherent. So with
`serve --database URL` both live in one row of the database (`node_state`) instead of the mapped
files that the worker processes of one machine share (hub.clock.SharedClock, hub.sessions).

Rules this module keeps:
1. Every request starts by reading the row (`refresh`, one primary-key read, from the nodes
   middleware of hub.control.plane): a clock move or an end of sessions answered on node A is what node B's next
   request sees, exactly — no notification that could arrive late.
2. A clock move made while answering a request is written (`publish`) before that answer leaves,
   so once the mover hears back, every node reads it next. An advance is applied to the stored
   state (two advances at once on two nodes both count); a set or a reset replaces it.
3. The revocation generation is bumped inside the transaction that ends the sessions
   (hub.sessions.SessionCache.revoking): no commit can be answered before its bump.
4. The row is never part of a snapshot and a reset does not empty it (hub.control.tables):
   its sequences only grow, so a node can tell a newer reading from an older one that finished
   later; a restore or reset writes its clock and revocation in the transaction of its tables,
   and a restore counts itself, so every node takes in the files it restored (payload keys, an
   older CRL that a node's trust store would otherwise refuse as a step back).
5. A node starting while others serve must not take another node's payload file, written but
   not yet committed, for garbage: on a shared database collection (at start and every
   purge_interval) removes only the unreferenced files whose writer, a process of this machine,
   is gone, and those last written more than GARBAGE_GRACE seconds ago (`collect_garbage`).
6. Per node, by design (documented in the README's Deployment section): rate-limit buckets
   (hub.limits), the connection cap (hub.connections), the metrics (hub.metrics, with a node
   label) and the gate that holds requests still during a restore (hub.control.gate).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from hub.clock import EPOCH, Clock, Move, micros
from hub.config import HubConfig
from hub.dburl import is_postgres_url
from hub.payloads import PayloadStore
from hub.sessions import SessionCache

log = logging.getLogger(__name__)

TABLE = "node_state"
# Portable SQL (SQLite and PostgreSQL); created at start, under the database's write lock, so
# nodes starting at once take turns and the later ones find the row there.
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS node_state (id INTEGER PRIMARY KEY CHECK (id = 1),"
    " clock_sequence BIGINT NOT NULL, clock_offset_us BIGINT NOT NULL, clock_frozen_us BIGINT,"
    " revocations BIGINT NOT NULL, restores BIGINT NOT NULL)",
    "INSERT INTO node_state (id, clock_sequence, clock_offset_us, clock_frozen_us, revocations, restores)"
    " VALUES (1, 0, 0, NULL, 0, 0) ON CONFLICT (id) DO NOTHING",
)
READ = "SELECT clock_sequence, clock_offset_us, clock_frozen_us, revocations, restores FROM node_state WHERE id = 1"
RESTORED = "UPDATE node_state SET restores = restores + 1 WHERE id = 1"
SET = "UPDATE node_state SET clock_sequence = clock_sequence + 1, clock_offset_us = ?, clock_frozen_us = ? WHERE id = 1"
ADVANCE = (
    "UPDATE node_state SET clock_sequence = clock_sequence + 1,"
    " clock_offset_us = CASE WHEN clock_frozen_us IS NULL THEN clock_offset_us + ? ELSE clock_offset_us END,"
    " clock_frozen_us = clock_frozen_us + ? WHERE id = 1"
)


def statement(move: Move) -> tuple[str, tuple[int | None, ...]]:
    """The UPDATE that applies `move` to the stored clock (rule 2)."""
    if move.delta is not None:
        return ADVANCE, (micros(move.delta), micros(move.delta))
    frozen = None if move.frozen is None else micros(move.frozen - EPOCH)
    return SET, (micros(move.offset), frozen)


class NodeState:
    """The clock and the revocation generation of one node, kept in step with the shared row.
    Open with `await NodeState.open(db, clock, cache)`; the caller refreshes before each request
    and publishes after it (hub.control.plane)."""

    def __init__(self, db: Any, clock: Clock, cache: SessionCache) -> None:
        self.db = db  # hub.db's storage interface (SQLite or PostgreSQL)
        self.clock = clock
        self.cache = cache
        clock.moves = []  # rule 2: from now on the clock's moves are written to the row
        self.restores: int | None = None  # restores seen (rule 4)
        # Called when another node restored a snapshot: the files it restored (payload keys, CRLs)
        # are read again here (hub.control.snapshots: fresh stores).
        self.on_restore: Callable[[], None] | None = None

    @classmethod
    async def open(cls, db: Any, clock: Clock, cache: SessionCache) -> NodeState:
        async with db.transaction() as tx:
            for sql in SCHEMA:
                await tx.execute(sql)
        state = cls(db, clock, cache)
        await state.refresh()
        return state

    async def refresh(self) -> None:
        """Adopt the shared clock and generation (rule 1)."""
        row = await self.db.fetch_one(READ)
        if row is None:  # the row is made at start; a database emptied by hand is a real clock
            return
        frozen = None if row[2] is None else EPOCH + dt.timedelta(microseconds=int(row[2]))
        self.clock.adopt(int(row[0]), dt.timedelta(microseconds=int(row[1])), frozen)
        self.cache.adopt(int(row[3]))
        restores, seen = int(row[4]), self.restores
        self.restores = restores if seen is None else max(seen, restores)
        if seen is not None and restores > seen and self.on_restore is not None:
            self.on_restore()

    async def restored(self, tx: Any) -> None:
        """A snapshot is being restored in `tx`: once it commits, every node reads the restored
        files again at its next request (rule 4)."""
        await tx.execute(RESTORED)

    async def write_moves(self, tx: Any) -> None:
        """Write the moves made since the last write in the caller's transaction (a restore or a
        reset writes the clock with its tables: one commit). If `tx` rolls back, the local clock
        goes back to the row's state at the next refresh."""
        moves, self.clock.moves = self.clock.moves or [], []
        for move in moves:
            await tx.execute(*statement(move))

    async def publish(self) -> None:
        """Write the moves made since the last publish, in one transaction, then read the result
        back (another node may have moved the clock meanwhile: the row is what every node uses)."""
        if not self.clock.moves:
            return
        try:
            async with self.db.transaction() as tx:
                await self.write_moves(tx)
        except BaseException:
            self.clock.adopt_next()  # the move is not shared: go back to the row's state
            raise
        await self.refresh()


def shared(config: HubConfig) -> bool:
    """Whether other nodes may share this hub's database (and so its data directory)."""
    return is_postgres_url(config.database_url)


GARBAGE_GRACE = 3600.0  # seconds: far longer than any upload takes between its last write and its commit


async def named_blobs(reader: Any) -> set[str]:
    """The payload files the committed rows name; `reader`: the storage or one of its transactions."""
    return {str(r[0]) for r in await reader.fetch_all("SELECT blob FROM transmission_files WHERE blob IS NOT NULL")}


async def collect_garbage(db: Any, payloads: PayloadStore, *, grace: float | None = None) -> list[str]:
    """Remove the payload files no committed row names: every one (`grace` None: no submit can be
    in flight, as at start on a database of this machine alone), or with a grace only those of a
    gone writer of this machine and those nobody wrote for `grace` seconds (rule 5)."""
    removed = await asyncio.to_thread(payloads.collect_garbage, await named_blobs(db), grace=grace)
    if removed:
        log.warning("removed %d unreferenced payload file(s) left by an interrupted write", len(removed))
    return removed


async def collect_garbage_at_start(config: HubConfig, db: Any, payloads: PayloadStore) -> list[str]:
    """Before the first request: every unnamed payload file on a database of this machine alone,
    only the stale ones on a shared database (rule 5)."""
    return await collect_garbage(db, payloads, grace=GARBAGE_GRACE if shared(config) else None)
