"""Reset and snapshots over a real hub: back to the seed or to nothing; snapshot → changes →
restore gives exactly the snapshot's offices, licences, inbox, clock, sessions and payloads; a
restore during concurrent requests never shows half a state. On SQLite and on PostgreSQL (where
the tables are copied inside the database: hub.control.tables)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import sqlite3
import time
from pathlib import Path

import pytest
from controlkit import ADMIN, admin, ok, plan, with_seed

from careplan.errors import CareplanError
from tests.conftest import HOUMON, KYOTAKU, MISHINSEI, OFFICES, HubUnderTest

JST = dt.timezone(dt.timedelta(hours=9))
pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


async def _office_numbers(hub: HubUnderTest) -> list[str]:
    return [o["office_number"] for o in (await ok(hub, "GET", "/admin/v1/offices"))["offices"]]


async def test_reset_returns_to_the_seed_or_to_nothing(hub: HubUnderTest) -> None:
    status, refusal = await admin(hub, "POST", "/admin/v1/reset", {})
    assert status == 400 and "seed" in refusal["detail"] and "careplan up" in refusal["detail"]  # not `up`-started
    with_seed(hub)
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await kyotaku.send(plan(), to=HOUMON.number)
    await ok(hub, "POST", "/admin/v1/offices/" + MISHINSEI.number + "/licence", {"action": "apply"})
    await ok(hub, "POST", "/admin/v1/clock", {"advance_seconds": 86400 * 40})
    assert hub.payload_files()

    done = await ok(hub, "POST", "/admin/v1/reset")
    assert done["reset_to"] == "seed" and done["offices"] == len(OFFICES)
    assert await hub.transmission_count() == 0 and hub.payload_files() == []
    assert (await ok(hub, "GET", "/admin/v1/clock"))["mode"] == "real"
    mishinsei = await ok(hub, "GET", "/admin/v1/offices/" + MISHINSEI.number)
    assert mishinsei["licence"]["state"] == "未申請"
    async with hub.client(KYOTAKU) as kyotaku:  # the seed's users log in again; old sessions are gone
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        assert await kyotaku.sent() == []

    empty = await ok(hub, "POST", "/admin/v1/reset", {"to": "empty"})
    assert empty["offices"] == 0 and await _office_numbers(hub) == []
    status, refusal = await admin(hub, "POST", "/admin/v1/reset", {"to": "somewhere"})
    assert (status, refusal["code"]) == (400, "BAD_REQUEST")


async def test_restore_gives_exactly_the_snapshots_state(hub: HubUnderTest, tmp_path: Path) -> None:
    hub.clock.set(dt.datetime(2026, 12, 10, 10, 0, tzinfo=JST), frozen=True)
    async with hub.client(KYOTAKU) as kyotaku, hub.client(HOUMON) as houmon:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await houmon.login(HOUMON.user, HOUMON.password)
        kept = (await kyotaku.send(plan(), to=HOUMON.number))["transmission_id"]
        saved = await ok(hub, "POST", "/admin/v1/snapshots", {"name": "before"})
        assert (saved["offices"], saved["transmissions"]) == (len(OFFICES), 1)
        before = {
            "offices": await ok(hub, "GET", "/admin/v1/offices"),
            "inbox": await houmon.inbox(),
            "sent": await kyotaku.sent(),
            "clock": await ok(hub, "GET", "/admin/v1/clock"),
        }

        # changes: a download and its receipt (payload deleted), a new send, a licence, the clock,
        # a new office, a session opened after the snapshot, a rotated key
        await houmon.download(kept, tmp_path / "first")
        await kyotaku.send(plan("20250421093000"), to=HOUMON.number)
        await ok(hub, "POST", f"/admin/v1/offices/{MISHINSEI.number}/licence", {"action": "apply"})
        await ok(hub, "POST", "/admin/v1/clock", {"advance_seconds": 86400 * 45})
        await ok(hub, "POST", "/admin/v1/keys/rotate", {"retire_old": True})
        async with hub.client(HOUMON) as later:
            await later.login(HOUMON.personal_user, HOUMON.password + "-c")
            later_token = later.token

        restored = await ok(hub, "POST", "/admin/v1/snapshots/before/restore")
        assert restored["restored"] == "before" and restored["seconds"] < 1.0

        assert await ok(hub, "GET", "/admin/v1/offices") == before["offices"]
        assert await ok(hub, "GET", "/admin/v1/clock") == before["clock"]
        assert await houmon.inbox() == before["inbox"]  # sessions of the snapshot still work
        assert await kyotaku.sent() == before["sent"]
        async with hub.client(HOUMON) as later:  # a session the snapshot never saw is gone
            later.token = later_token
            try:
                await later.inbox()
                raise AssertionError("a session opened after the snapshot survived the restore")
            except CareplanError as error:
                assert error.code == "SESSION_REQUIRED"
        again = await houmon.download(kept, tmp_path / "again")  # the payload is back, readable
        assert {p.name: p.read_bytes() for p in again.files} == dict(plan())

    listed = await ok(hub, "GET", "/admin/v1/snapshots")
    assert [s["name"] for s in listed["snapshots"]] == ["before"]
    assert (await ok(hub, "DELETE", "/admin/v1/snapshots/before"))["deleted"] == "before"
    status, missing = await admin(hub, "POST", "/admin/v1/snapshots/before/restore")
    assert (status, missing["code"]) == (404, "SNAPSHOT_NOT_FOUND")
    status, bad = await admin(hub, "POST", "/admin/v1/snapshots", {"name": "../etc"})
    assert (status, bad["code"]) == (400, "BAD_REQUEST")
    status, _ = await hub.raw("POST", "/admin/v1/snapshots", json={"name": "x"})
    assert status == 403


async def test_a_restore_during_concurrent_requests_never_shows_half_a_state(hub: HubUnderTest) -> None:
    """The open sessions depend on the database and the clock together. A (December): KYOTAKU's
    session; B (February): HOUMON's session, KYOTAKU's expired. Half of a restore would show
    neither (A's rows on B's clock) or both (B's rows on A's clock)."""
    hub.clock.set(dt.datetime(2026, 12, 10, 10, 0, tzinfo=JST), frozen=True)
    async with hub.client(KYOTAKU) as kyotaku, hub.client(HOUMON) as houmon:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await ok(hub, "POST", "/admin/v1/snapshots", {"name": "a"})
        hub.clock.set(dt.datetime(2027, 2, 10, 10, 0, tzinfo=JST), frozen=True)
        await houmon.login(HOUMON.user, HOUMON.password)
        await ok(hub, "POST", "/admin/v1/snapshots", {"name": "b"})
    whole = {(KYOTAKU.user,), (HOUMON.user,)}

    seen: set[tuple[str, ...]] = set()
    stop = time.monotonic() + 4

    async def read() -> None:
        while time.monotonic() < stop:
            sessions = await ok(hub, "GET", "/admin/v1/sessions")
            seen.add(tuple(sorted(s["user_id"] for s in sessions["client"])))

    async def flip() -> int:
        flips = 0
        while time.monotonic() < stop and flips < 40:
            await ok(hub, "POST", f"/admin/v1/snapshots/{'ab'[flips % 2]}/restore")
            flips += 1
        return flips

    *_, flips = await asyncio.gather(read(), read(), read(), flip())
    assert flips >= 4
    assert seen <= whole, f"half states seen: {seen - whole}"
    assert seen == whole, seen


async def test_a_damaged_snapshot_is_refused_and_the_hub_stays_as_it_was(hub: HubUnderTest) -> None:
    """A snapshot whose database was emptied, removed or overwritten was 'restored': the backup API
    copied it as it was and every request then failed (INTERNAL, no such table); one without its
    key file deleted the live key file. Each is refused before anything changes."""
    damage = {
        "nokeys": lambda d: (d / "payload-keys.json").unlink(),
        "badmeta": lambda d: (d / "meta.json").write_text("{broken"),
    }
    if not hub.config.database_url:  # on PostgreSQL the tables are in the database, compared there
        damage |= {
            "emptied": lambda d: (d / "hub.sqlite3").write_bytes(b""),
            "removed": lambda d: (d / "hub.sqlite3").unlink(),
            "garbage": lambda d: (d / "hub.sqlite3").write_bytes(b"not a database" * 100),
        }
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        sent = (await kyotaku.send(plan(), to=HOUMON.number))["transmission_id"]
        for name, harm in damage.items():
            await ok(hub, "POST", "/admin/v1/snapshots", {"name": name})
            harm(hub.config.data_dir / "snapshots" / name)
        await kyotaku.send(plan("20250421093000"), to=HOUMON.number)  # after every snapshot
        keys = hub.config.key_file.read_bytes()
        for name in damage:
            status, refusal = await admin(hub, "POST", f"/admin/v1/snapshots/{name}/restore")
            assert (status, refusal["code"]) == (404, "SNAPSHOT_NOT_FOUND"), (name, refusal)
            assert refusal["detail"].startswith(f"スナップショット '{name}' は"), refusal
            assert refusal["detail"].endswith("このハブには復元できません"), refusal
        assert hub.config.key_file.read_bytes() == keys
        listed = [s["name"] for s in (await ok(hub, "GET", "/admin/v1/snapshots"))["snapshots"]]
        assert sorted(listed) == sorted(set(damage) - {"badmeta"})  # the rest still list
        assert (await ok(hub, "DELETE", "/admin/v1/snapshots/badmeta"))["deleted"] == "badmeta"
        assert len(await kyotaku.sent()) == 2 and sent in {r["transmission_id"] for r in await kyotaku.sent()}
    async with hub.client(HOUMON) as houmon:  # a new session: the tables are all there
        await houmon.login(HOUMON.user, HOUMON.password)
        assert len(await houmon.inbox()) == 2


def _drop_every_table(database: Path) -> None:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in (n for n in names if not n.startswith("sqlite_")):
            conn.execute(f'DROP TABLE "{table}"')
        conn.commit()


async def _empty_the_schema(hub: HubUnderTest, snapshot: Path) -> None:
    schema = json.loads((snapshot / "meta.json").read_text())["schema"]
    async with hub.service.db.transaction() as tx:
        await tx.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await tx.execute(f'CREATE SCHEMA "{schema}"')


async def test_an_emptied_snapshot_is_refused_as_empty_and_the_hub_stays_as_it_was(hub: HubUnderTest) -> None:
    """A snapshot whose database was emptied (a zero-byte file, every table dropped) was refused as
    differing from the hub in every table, all of them listed; it is refused as empty, with what to
    do about it, and nothing changes."""
    snapshots = hub.config.data_dir / "snapshots"
    if hub.config.database_url:  # the tables are in a schema of the database
        await ok(hub, "POST", "/admin/v1/snapshots", {"name": "dropped"})
        await _empty_the_schema(hub, snapshots / "dropped")
        names = ["dropped"]
    else:
        for name in ("zero-bytes", "dropped"):
            await ok(hub, "POST", "/admin/v1/snapshots", {"name": name})
        (snapshots / "zero-bytes" / "hub.sqlite3").write_bytes(b"")
        _drop_every_table(snapshots / "dropped" / "hub.sqlite3")
        names = ["zero-bytes", "dropped"]
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await kyotaku.send(plan(), to=HOUMON.number)  # after the snapshots
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)  # a restore would put the real clock back
    clock = await ok(hub, "POST", "/admin/v1/clock", {"set": tomorrow.isoformat(), "frozen": True})
    keys = hub.config.key_file.read_bytes()
    for name in names:
        status, refusal = await admin(hub, "POST", f"/admin/v1/snapshots/{name}/restore")
        assert (status, refusal["code"]) == (404, "SNAPSHOT_NOT_FOUND"), (name, refusal)
        assert refusal["detail"] == (
            f"スナップショット '{name}' はデータベースが空です（表がひとつもありません）: このハブには復元できません"
        ), refusal
        assert refusal["fix"] == (
            f"このハブで保存し直すか（careplan hub snapshot save {name}）、"
            f"要らなければ削除してください（careplan hub snapshot delete {name}）。"
        ), refusal
        _, english = await hub.raw(
            "POST", f"/admin/v1/snapshots/{name}/restore", headers={**ADMIN, "Accept-Language": "en"}
        )
        assert english["detail"] == (
            f"snapshot '{name}' has an empty database (no tables at all): it cannot be restored on this hub"
        ), english
        assert english["fix"] == (
            f"Save it again on this hub (careplan hub snapshot save {name}),"
            f" or delete it if it is not needed (careplan hub snapshot delete {name})."
        ), english
    assert hub.config.key_file.read_bytes() == keys
    assert await ok(hub, "GET", "/admin/v1/clock") == clock
    assert await hub.transmission_count() == 1
    async with hub.client(HOUMON) as houmon:  # a new session: the tables are all there
        await houmon.login(HOUMON.user, HOUMON.password)
        assert len(await houmon.inbox()) == 1
    for name in names:
        assert (await ok(hub, "DELETE", f"/admin/v1/snapshots/{name}"))["deleted"] == name
