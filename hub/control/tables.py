"""Snapshots and reset of the hub's tables inside a PostgreSQL database (hub.control.snapshots
uses it when the hub runs on `--database URL`; SQLite keeps its online backup of the file).

Rules this module keeps:
1. A snapshot is a schema of the same database (`careplan_snap_<random>`) holding a copy of every
   hub table, made in one write transaction: it holds the hub's advisory lock (hub.db_postgres),
   so no writer of any node commits in between and the copy is consistent. The name of the schema
   is random, written in the snapshot's meta.json; saving under an existing name makes a new
   schema and drops the old one only once the new snapshot is in place.
2. A restore replaces the live rows with the snapshot's in ONE transaction (TRUNCATE, then INSERT
   in foreign-key order, identity sequences set past the restored ids): every node sees the old
   state or the new one, never a mix, and a failure changes nothing.
3. KEPT tables are never copied, restored nor emptied: `node_state` (hub.nodes: its sequences only
   grow) and `hub_secrets` (the website's CSRF key: a key, not state; nodes cache it).
4. Table and schema names come from the database's catalogue or from this module, never from a
   request (a snapshot's own name only picks its folder, hub.control.snapshots).
5. Copies grow with the data: their transactions lift the hub's statement timeout
   (hub.db_postgres rule 6), which bounds requests, not a million-row copy.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

SCHEMA_PREFIX = "careplan_snap_"
KEPT = frozenset({"node_state", "hub_secrets"})


def new_schema() -> str:
    return SCHEMA_PREFIX + secrets.token_hex(8)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def state_tables(db: Any) -> list[str]:
    """The hub's tables that make its state (rule 3), in an order that inserts parents first."""
    tables = sorted(set(await db.table_names()) - KEPT)
    rows = await db.fetch_all(
        "SELECT tc.table_name, ccu.table_name FROM information_schema.table_constraints tc"
        " JOIN information_schema.constraint_column_usage ccu"
        " ON ccu.constraint_name = tc.constraint_name AND ccu.constraint_schema = tc.constraint_schema"
        " WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = ?",
        (db.schema,),
    )
    parents: dict[str, set[str]] = {t: set() for t in tables}
    for child, parent in rows:
        if child in parents and parent in parents and parent != child:
            parents[child].add(parent)
    ordered: list[str] = []
    while parents:
        ready = sorted(t for t, waiting in parents.items() if not waiting - set(ordered))
        if not ready:  # a cycle cannot be ordered: take the rest as they are (constraints then refuse)
            ready = sorted(parents)
        ordered += ready
        for table in ready:
            del parents[table]
    return ordered


async def copy_out(tx: Any, live: str, snapshot: str, tables: Iterable[str]) -> None:
    """Rule 1: the tables into a new schema `snapshot`, in the caller's write transaction."""
    await tx.without_timeout()  # rule 5
    await tx.execute(f"CREATE SCHEMA {_q(snapshot)}")
    for table in tables:
        await tx.execute(f"CREATE TABLE {_q(snapshot)}.{_q(table)} AS TABLE {_q(live)}.{_q(table)}")


async def drop(db: Any, snapshot: str) -> None:
    if not snapshot.startswith(SCHEMA_PREFIX):
        raise ValueError(f"not a snapshot schema: {snapshot!r}")
    async with db.transaction() as tx:
        await tx.execute(f"DROP SCHEMA IF EXISTS {_q(snapshot)} CASCADE")


async def _identities(db: Any) -> list[tuple[str, str]]:
    rows = await db.fetch_all(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = ? AND is_identity = 'YES'",
        (db.schema,),
    )
    return [(str(r[0]), str(r[1])) for r in rows]


async def _columns(db: Any, schema: str) -> set[tuple[str, str, int]]:
    rows = await db.fetch_all(
        "SELECT table_name, column_name, ordinal_position FROM information_schema.columns WHERE table_schema = ?",
        (schema,),
    )
    return {(str(r[0]), str(r[1]), int(r[2])) for r in rows}


async def holds_tables(db: Any, snapshot: str) -> bool:
    """Whether the snapshot's schema holds any table (none: emptied, or dropped by hand)."""
    return bool(await _columns(db, snapshot))


async def differences(db: Any, snapshot: str, tables: list[str]) -> list[str]:
    """The tables whose columns the snapshot does not hold as the live schema does (a schema
    dropped by hand, or saved before a migration changed it); empty when a restore can run."""
    live, saved = await _columns(db, db.schema), await _columns(db, snapshot)
    return [t for t in tables if {c for c in live if c[0] == t} != {c for c in saved if c[0] == t}]


async def restore_into(db: Any, tx: Any, snapshot: str, tables: list[str]) -> None:
    """Rule 2, in the caller's write transaction: the live tables become the snapshot's."""
    live = db.schema
    await tx.without_timeout()  # rule 5
    if tables:
        await tx.execute("TRUNCATE " + ", ".join(f"{_q(live)}.{_q(t)}" for t in tables))
    for table in tables:
        await tx.execute(f"INSERT INTO {_q(live)}.{_q(table)} SELECT * FROM {_q(snapshot)}.{_q(table)}")
    await restart_identities(db, tx, tables)


async def restart_identities(db: Any, tx: Any, tables: list[str]) -> None:
    """Each identity column continues after the largest id its table holds now."""
    for table, column in await _identities(db):
        if table in tables:
            name = f"{_q(db.schema)}.{_q(table)}"
            await tx.fetch_one(
                f"SELECT setval(pg_get_serial_sequence(?, ?), coalesce((SELECT max({_q(column)}) FROM {name}), 0) + 1,"
                " false)",
                (name, column),
            )


async def empty(db: Any, tx: Any, tables: list[str]) -> None:
    """The reset: every state table emptied at once, identities from 1 again."""
    await tx.without_timeout()  # rule 5
    if tables:
        await tx.execute("TRUNCATE " + ", ".join(f"{_q(db.schema)}.{_q(t)}" for t in tables) + " RESTART IDENTITY")
