"""Reset and snapshots: return a running hub to a known state in well under a second.

A snapshot (data_dir/snapshots/NAME/) is a consistent copy of everything that makes the hub's
state: the database (SQLite's online backup), the encrypted payloads (hard links: a blob is never
changed in place, a rewrite replaces the file, so a link keeps the old bytes), the payload keys
in use, the clock and the CA's revocation list with its index.

Rules this module keeps:
1. Save, restore and reset run with the gate held exclusively (see hub.control.gate): no request
   is in flight, so a copy is consistent and no request sees half of a restore.
2. Restore copies the snapshot's database into the live one with the backup API in a single
   step (one transaction), so even a reader outside the gate sees the old state or the new one.
3. Payload files are brought to the snapshot's set by links and unlinks, never by copying bytes;
   the service then gets fresh key and trust stores, so restored sessions, keys and revocations
   behave exactly as they did when the snapshot was taken.
4. The journal and the fault rules are not part of the state (they live in control.sqlite3): a
   restore is itself journalled, and the faults a tester set up stay.
5. On PostgreSQL (several nodes) the tables are copied inside the database instead
   (hub.control.tables: a snapshot schema, restored in one transaction). The gate holds only this
   node still; other nodes keep serving and see the old state or the new one. Payload files are
   linked in before the restore commits and the ones the snapshot lacks unlinked only after it, so
   a node never reads a committed row whose file is missing. A restore and a reset end every
   cached session on every node and process (hub.sessions rule 4): the sessions table changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from careplan.errors import CareplanError, Operation
from hub.clock import Clock
from hub.config import HubConfig
from hub.control import links
from hub.control import tables as pg
from hub.nodes import NodeState, named_blobs
from hub.payloads import PayloadStore
from hub.service import HubService
from hub.trust import TrustStore

NAME = re.compile(r"\w[\w.-]{0,63}")  # letters of any script (月初), digits, _ . -; never / or ..


def bad_name(
    name: str,
    fix: str = '{"name": "月初"} のように名前を付けてください。',
    fix_en: str = 'e.g. {"name": "before-month-end"}',
) -> CareplanError:
    """The refusal of a snapshot name that is not NAME; its fix in the admin API's terms unless the
    caller (`careplan hub snapshot`) says it in its own."""
    return CareplanError(
        "BAD_REQUEST",
        operation=Operation.ADMIN,
        detail=f"スナップショット名 {name!r} は使えません（文字・数字・'.'・'_'・'-' の1〜64文字、先頭は文字か数字）",
        fix=fix,
        detail_en=f"snapshot name {name!r}: 1–64 letters of any script, digits, '.', '_', '-'; first a letter or digit",
        fix_en=fix_en,
    )


def _backup(source: Path, target: Path) -> None:
    """SQLite's online backup of `source` into `target`, in one step (one transaction)."""
    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst, pages=-1)


def _columns(database: Path | str) -> dict[str, list[str]]:
    """Each table of a SQLite database with its columns in order (a `file:` URI opens read only)."""
    uri = isinstance(database, str)
    with contextlib.closing(sqlite3.connect(database, uri=uri)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            t: [c[1] for c in conn.execute(f'PRAGMA table_info("{t}")')]  # names from sqlite_master
            for t in tables
            if not t.startswith("sqlite_")
        }


def _read_meta(snapshot: Path) -> dict[str, Any] | None:
    """The snapshot's meta.json, or None when it is not a JSON object with the fields it records
    (edited or damaged by hand: one such file made list, restore and delete all INTERNAL)."""
    try:
        meta = json.loads((snapshot / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    fields = ("name", "saved_at", "clock", "offices", "transmissions")
    return meta if isinstance(meta, dict) and all(k in meta for k in fields) else None


def _unrestorable(
    name: str,
    why_ja: str,
    why_en: str,
    fix: str = "このハブでスナップショットを保存し直してください。",
    fix_en: str = "Save the snapshot again on this hub.",
) -> CareplanError:
    return CareplanError(
        "SNAPSHOT_NOT_FOUND",
        detail=f"スナップショット {name!r} は{why_ja}: このハブには復元できません",
        fix=fix,
        detail_en=f"snapshot {name!r} {why_en}: it cannot be restored on this hub",
        fix_en=fix_en,
    )


def _emptied(name: str) -> CareplanError:
    """A snapshot whose database holds no table at all (a zero-byte file, every table dropped):
    said as such, where comparing its tables with the hub's listed every table as changed."""
    return _unrestorable(
        name,
        "データベースが空です（表がひとつもありません）",
        "has an empty database (no tables at all)",
        fix=f"このハブで保存し直すか（careplan hub snapshot save {name}）、"
        f"要らなければ削除してください（careplan hub snapshot delete {name}）。",
        fix_en=f"Save it again on this hub (careplan hub snapshot save {name}),"
        f" or delete it if it is not needed (careplan hub snapshot delete {name}).",
    )


class Snapshots:
    """Save, list, restore, delete snapshots and reset the hub. Call with the gate held."""

    def __init__(self, service: HubService, clock: Clock, config: HubConfig, nodes: NodeState | None = None) -> None:
        self.service = service
        self.clock = clock
        self.config = config
        self.directory = config.data_dir / "snapshots"
        self.nodes = nodes  # on a shared database: the clock is written with the tables (rule 5)

    def _path(self, name: str) -> Path:
        if not NAME.fullmatch(name):
            raise bad_name(name)
        return self.directory / name

    def _existing(self, name: str) -> Path:
        path = self._path(name)
        if not (path / "meta.json").exists():
            raise CareplanError(
                "SNAPSHOT_NOT_FOUND",
                detail=f"スナップショット {name!r} はありません",
                fix="careplan hub snapshot list で保存済みの名前を確認してください。",
                detail_en=f"no snapshot {name!r} in {self.directory}",
                fix_en="List the snapshots (careplan hub snapshot list).",
            )
        return path

    @property
    def _postgres(self) -> bool:
        return getattr(self.service.db, "dialect", "sqlite") == "postgresql"

    async def save(self, name: str) -> dict[str, Any]:
        target = self._path(name)
        started = time.perf_counter()
        if self._postgres:
            meta = await self._save_in_database(target, name)
        else:
            meta = await asyncio.to_thread(self._save, target, name)
        return meta | {"seconds": round(time.perf_counter() - started, 4)}

    def _partial(self, target: Path, name: str) -> Path:
        partial = target.with_name(f".partial-{name}")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        return partial

    def _save_files(self, partial: Path) -> int:
        """Payload links, the key file and the revocation files into `partial`; the blob count."""
        blobs = links.link_tree(self.config.payload_dir, partial / "payloads")
        shutil.copyfile(self.config.key_file, partial / "payload-keys.json")
        for live in self._revocation_files():
            if live.exists():
                kept = partial / "files" / live.relative_to(self.config.data_dir)
                kept.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(live, kept)
        return blobs

    def _meta(self, name: str, blobs: int, counts: dict[str, int]) -> dict[str, Any]:
        return {
            "name": name,
            "saved_at": dt.datetime.now(dt.UTC).isoformat(),
            "clock": self.clock.state(),
            "payloads": blobs,
            **counts,
        }

    @staticmethod
    def _put_in_place(partial: Path, target: Path, meta: dict[str, Any]) -> dict[str, Any] | None:
        """Write meta.json and swap the folder in; the meta of the snapshot it replaced, if any."""
        (partial / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1))
        old = target.with_name(f".old-{target.name}")
        replaced = None
        if target.exists():  # saving under an existing name replaces that snapshot
            with contextlib.suppress(FileNotFoundError, ValueError):
                replaced = json.loads((target / "meta.json").read_text())
            os.replace(target, old)
        os.replace(partial, target)
        shutil.rmtree(old, ignore_errors=True)
        return replaced

    def _save(self, target: Path, name: str) -> dict[str, Any]:
        partial = self._partial(target, name)
        _backup(self.config.db_file, partial / "hub.sqlite3")
        blobs = self._save_files(partial)
        meta = self._meta(name, blobs, self._counts(partial / "hub.sqlite3"))
        self._put_in_place(partial, target, meta)
        return meta

    async def _save_in_database(self, target: Path, name: str) -> dict[str, Any]:
        """hub.control.tables rule 1: the tables into a new schema and the payload links taken in
        one write transaction (no node commits meanwhile), then the folder put in place."""
        db = self.service.db
        partial = await asyncio.to_thread(self._partial, target, name)
        schema = pg.new_schema()
        try:
            tables = await pg.state_tables(db)
            async with db.transaction() as tx:
                await pg.copy_out(tx, db.schema, schema, tables)
                blobs = await asyncio.to_thread(self._save_files, partial)
                counts = {
                    table: int((await tx.fetch_one(f'SELECT count(*) FROM "{schema}"."{table}"'))[0])
                    for table in ("offices", "transmissions")
                }
            meta = self._meta(name, blobs, counts) | {"schema": schema}
            replaced = await asyncio.to_thread(self._put_in_place, partial, target, meta)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            with contextlib.suppress(Exception):
                await pg.drop(db, schema)
            raise
        if replaced and replaced.get("schema"):
            await pg.drop(db, str(replaced["schema"]))
        return meta

    @staticmethod
    def _counts(db: Path) -> dict[str, int]:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            offices = conn.execute("SELECT count(*) FROM offices").fetchone()[0]
            transmissions = conn.execute("SELECT count(*) FROM transmissions").fetchone()[0]
        return {"offices": int(offices), "transmissions": int(transmissions)}

    def list(self) -> list[dict[str, Any]]:
        if not self.directory.exists():
            return []
        found = []
        for path in sorted(self.directory.iterdir()):
            if (path / "meta.json").exists() and not path.name.startswith("."):
                meta = _read_meta(path)
                if meta is not None:  # an unreadable one is left out, not the whole list refused
                    found.append(meta)
        return found

    async def delete(self, name: str) -> dict[str, Any]:
        path = self._existing(name)
        meta = _read_meta(path) or {}  # a damaged snapshot can still be deleted
        shutil.rmtree(path)
        if self._postgres and meta.get("schema"):
            await pg.drop(self.service.db, str(meta["schema"]))
        return {"deleted": name}

    async def restore(self, name: str) -> dict[str, Any]:
        source = self._existing(name)
        meta = _read_meta(source)
        if meta is None:
            raise _unrestorable(name, "記録（meta.json）が読めません", "has an unreadable meta.json")
        started = time.perf_counter()
        await asyncio.to_thread(self._check_restorable, source, name)  # nothing is changed before this
        if self._postgres:
            await self._restore_in_database(source, meta)
        else:
            await asyncio.to_thread(self._restore_files, source)
            self.service.session_cache.revoked()  # the sessions table was replaced (rule 5)
            self._restore_clock(meta["clock"])
        self.fresh_stores()
        return {"restored": name, "seconds": round(time.perf_counter() - started, 4), **self._summary(meta)}

    def _check_restorable(self, source: Path, name: str) -> None:
        """Refuse a snapshot whose parts are missing or damaged before anything changes: the backup
        API copied an empty or foreign database as it was (every request then failed on a missing
        table), and a missing key file deleted the live one (links.copy_if_changed)."""
        if not (source / "payload-keys.json").is_file() or not (source / "payloads").is_dir():
            raise _unrestorable(
                name, "鍵ファイルか暗号化データのフォルダが欠けています", "lacks its key file or payloads"
            )
        if self._postgres:
            return  # its tables are in the database: _restore_in_database compares them
        database = source / "hub.sqlite3"
        try:
            if not database.is_file():
                raise sqlite3.DatabaseError("missing")
            saved = _columns(database.resolve().as_uri() + "?mode=ro")  # read only: never created
        except sqlite3.Error:
            raise _unrestorable(name, "データベースが読めません", "has no readable database") from None
        if not saved:
            raise _emptied(name)
        live = _columns(self.config.db_file)
        changed = ", ".join(sorted(t for t in live.keys() | saved.keys() if live.get(t) != saved.get(t)))
        if changed:
            raise _unrestorable(
                name, f"表の形が今のハブと違います（{changed}）", f"differs from this hub's tables ({changed})"
            )

    def _restore_files(self, source: Path) -> None:
        _backup(source / "hub.sqlite3", self.config.db_file)
        links.copy_if_changed(source / "payload-keys.json", self.config.key_file)
        links.sync_payloads(source / "payloads", self.config.payload_dir)
        for live in self._revocation_files():
            live.parent.mkdir(parents=True, exist_ok=True)
            links.copy_if_changed(source / "files" / live.relative_to(self.config.data_dir), live)

    def _restore_side_files(self, source: Path) -> None:
        """The key file, the snapshot's blobs (linked in, none removed) and the revocation files."""
        links.copy_if_changed(source / "payload-keys.json", self.config.key_file)
        links.link_in(source / "payloads", self.config.payload_dir)
        for live in self._revocation_files():
            live.parent.mkdir(parents=True, exist_ok=True)
            links.copy_if_changed(source / "files" / live.relative_to(self.config.data_dir), live)

    async def _restore_in_database(self, source: Path, meta: dict[str, Any]) -> None:
        """Rule 5: files in first, the tables in one transaction, then the blobs that only the
        replaced rows named are unlinked. A blob another node wrote for a submit not yet committed
        is named by no row either side, so it is never touched (the next quiet start collects it
        if that submit fails)."""
        schema, name, db = meta.get("schema"), str(meta.get("name")), self.service.db
        if not schema:
            raise _unrestorable(name, "SQLite のハブで保存されました", "was saved by a hub on SQLite")
        if not await pg.holds_tables(db, str(schema)):
            raise _emptied(name)
        tables = await pg.state_tables(db)
        changed = ", ".join(await pg.differences(db, str(schema), tables))
        if changed:
            raise _unrestorable(
                name, f"表の形が今のスキーマと違います（{changed}）", f"differs from the schema ({changed})"
            )
        await asyncio.to_thread(self._restore_side_files, source)
        self._restore_clock(meta["clock"])
        async with self._shared_state(db, restored=True) as tx:
            before = await named_blobs(tx)
            await pg.restore_into(db, tx, str(schema), tables)
            after = await named_blobs(tx)
        await asyncio.to_thread(self.service.payloads.delete, sorted(before - after))

    @contextlib.asynccontextmanager
    async def _shared_state(self, db: Any, *, restored: bool = False) -> AsyncIterator[Any]:
        """A write transaction that also ends every cached session and writes the clock's moves
        made so far (rule 5: one commit for tables, clock and sessions); a restore also tells
        every node to read the restored files again."""
        try:
            async with db.transaction() as tx:
                yield tx
                await self.service.session_cache.revoking(tx)
                if self.nodes is not None:
                    await self.nodes.write_moves(tx)
                    if restored:
                        await self.nodes.restored(tx)
        except BaseException:
            self.clock.adopt_next()  # rolled back: the clock goes back to the shared row's state
            raise

    def _restore_clock(self, state: dict[str, Any]) -> None:
        self.clock.reset()
        if state["mode"] == "frozen":
            self.clock.set(dt.datetime.fromisoformat(state["now"]), frozen=True)
        elif state["mode"] == "offset":
            self.clock.advance(dt.timedelta(seconds=float(state["offset_seconds"])))

    def _revocation_files(self) -> list[Path]:
        """The CA's published CRL and its record of revocations, and the CRL the hub holds in force
        (data_dir/trust/, when the trust store keeps one): restored together, or a restored older
        CRL would be refused as a step back."""
        kept = getattr(self.service.trust, "kept_file", None)
        files = [self.config.crl_file, self.config.ca_dir / "index.json", kept]
        return [f for f in files if f is not None and self.config.data_dir in f.parents]

    def fresh_stores(self) -> None:
        """Keys and revocations as they are on disk now (the stores cache both); built with the
        same files as the ones they replace."""
        self.service.payloads = PayloadStore(self.config.payload_dir, self.config.key_file)
        trust = self.service.trust
        self.service.trust = TrustStore(trust.ca_file, trust.crl_file, getattr(trust, "kept_file", None))

    @staticmethod
    def _summary(meta: dict[str, Any]) -> dict[str, Any]:
        return {k: meta[k] for k in ("offices", "transmissions", "clock", "saved_at")}

    # --- reset --------------------------------------------------------------------------------
    async def reset(self, *, empty: bool, seeder: Any) -> dict[str, Any]:
        """Empty every table and the payloads, the clock back to real time; then (unless `empty`)
        the seed again: what `careplan up` registers."""
        if not empty and seeder is None:
            raise CareplanError(
                "BAD_REQUEST",
                operation=Operation.ADMIN,
                detail="このハブには戻る初期状態（seed）がありません（careplan up で起動していません）",
                fix='{"to": "empty"} で空に戻すか、スナップショットを復元してください。',
                detail_en="this hub has no seed to return to (it was not started by `careplan up`)",
                fix_en='Reset with {"to": "empty"}, or restore a snapshot.',
            )
        started = time.perf_counter()
        if self._postgres:
            await self._empty_database()
        else:
            await self._empty()
            self.clock.reset()
        if not empty:
            await seeder(self.service)
        offices = await self.service.offices()
        return {"reset_to": "empty" if empty else "seed", "offices": len(offices),
                "seconds": round(time.perf_counter() - started, 4)}  # fmt: skip

    async def _empty(self) -> None:
        db = self.service.db
        tables = [r[0] for r in await db.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")]
        async with db.transaction() as tx:
            await tx.execute("PRAGMA defer_foreign_keys = ON")
            for table in (t for t in tables if t not in pg.KEPT):  # a key and the nodes' row stay
                await tx.execute(f'DELETE FROM "{table}"')  # names from sqlite_master, not from a request
        self.service.session_cache.revoked()
        await self.service.collect_garbage()

    async def _empty_database(self) -> None:
        """Rule 5 for a reset: the tables emptied in one transaction, then the blobs they named."""
        db = self.service.db
        tables = await pg.state_tables(db)
        self.clock.reset()
        async with self._shared_state(db) as tx:
            named = await named_blobs(tx)
            await pg.empty(db, tx, tables)
        await asyncio.to_thread(self.service.payloads.delete, sorted(named))
