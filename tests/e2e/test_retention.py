"""Retention and privacy over a real hub (issue 9 §6): audit rows, sessions, login failures and
correction requests expire on the hub clock (purged at start and periodically); the audit, its
API and the log never hold a value from a refused file; the data directory is the hub's alone."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import os
import re
import sqlite3
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from careplan.errors import CareplanError
from careplan.manifest import Manifest
from careplan.signature import sign
from fixtures.samples import sample_plan_set
from hub import retention
from hub.clock import Clock
from hub.config import HubConfig
from hub.control import render
from hub.db import MIGRATIONS, Database
from hub.server import start_hub
from hub.usage import UsageSite
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest

SETTINGS = (
    "max_form_bytes",
    "header_timeout",
    "body_min_rate",
    "body_grace",
    "keepalive_timeout",
    "lingering_time",
    "max_connections",
    "retry_after",
    "web_login_per_minute",
    "correction_per_minute",
    "certless_per_minute",
    "corrections_per_address_per_day",
    "corrections_per_day",
    "log_interval",
    "audit_burst",
    "audit_interval",
    "audit_retention_days",
    "login_failure_retention_days",
    "correction_retention_days",
    "session_grace_days",
    "purge_interval",
)
BIRTH_DATE = "19310231"  # a 利用者生年月日 that is not a date: distinctive, and refused


def _refused_files() -> list[tuple[str, bytes]]:
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    name = next(n for n in files if n.startswith("UPHOSOKU"))
    files[name] = files[name].replace(b"19400315", BIRTH_DATE.encode())
    return list(files.items())


async def test_no_value_of_a_refused_file_in_audit_api_log_or_database(
    hub: HubUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    files = _refused_files()
    async with hub.client(KYOTAKU) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        manifest = Manifest.build(
            transmission_id="d" * 32,
            sender=KYOTAKU.number,
            recipient=HOUMON.number,
            signed_at=await client.hub_time(),
            files=files,
        ).to_bytes()
        pair = hub.pki.terminals[KYOTAKU.number]
        signature = sign(manifest, pair.certificate, pair.key)
        with pytest.raises(CareplanError) as caught:
            await client.upload(manifest, signature, files)  # past the client's own pre-check
    assert caught.value.code == "FORMAT_INVALID"
    assert any(f.get("value") == BIRTH_DATE for f in caught.value.findings), "the sender sees its own value"
    rows = await hub.service.db.fetch_all("SELECT * FROM audit")
    refusal = next(dict(r) for r in rows if r["code"] == "FORMAT_INVALID")
    assert "No.8 利用者生年月日" in refusal["detail"] and "UPHOSOKU" in refusal["detail"], "where, not what"
    assert BIRTH_DATE not in repr([dict(r) for r in rows])
    status, audit = await hub.raw("GET", "/admin/v1/audit", headers={"Authorization": "Bearer test-admin-token"})
    assert status == 200 and BIRTH_DATE not in repr(audit)
    shown = "\n".join(render.audit(audit, 80))  # `careplan hub audit` for people: the places, in Japanese
    assert "指摘" in shown and "No.8 利用者生年月日" in shown and BIRTH_DATE not in shown
    assert BIRTH_DATE not in caplog.text
    for name in ("hub.sqlite3", "hub.sqlite3-wal"):
        path = hub.config.data_dir / name
        assert not path.exists() or BIRTH_DATE.encode() not in path.read_bytes()


async def _fill_every_table(hub: HubUnderTest) -> None:
    usage = UsageSite(hub.service)
    async with hub.client(KYOTAKU) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)  # an API session
    await usage.login(KYOTAKU.user, KYOTAKU.password, remote="192.0.2.1")  # a web session
    with pytest.raises(CareplanError):
        await usage.login(KYOTAKU.user, "wrong", remote="192.0.2.1")  # a login failure
    await usage.request_correction(office_number=KYOTAKU.number, field="name", value="新名称", contact="c")
    await hub.service.record_refusal(peer="192.0.2.1", office_number=None, error=CareplanError("BAD_REQUEST"))


async def _counts(hub: HubUnderTest) -> dict[str, int]:
    tables = ("audit", "sessions", "web_sessions", "login_throttle", "directory_corrections")
    counts = {}
    for table in tables:
        row = await hub.service.db.fetch_one(f"SELECT count(*) FROM {table}")
        assert row is not None
        counts[table] = row[0]
    return counts


async def test_rows_expire_on_the_hub_clock(hub: HubUnderTest) -> None:
    await _fill_every_table(hub)
    assert all((await _counts(hub)).values())
    hub.clock.advance(dt.timedelta(days=hub.config.login_failure_retention_days - 1))
    await hub.service.purge_expired()
    kept = await _counts(hub)
    assert kept["login_throttle"] and kept["audit"] and kept["directory_corrections"], "not yet"
    assert kept["sessions"] == kept["web_sessions"] == 0, "expired more than a day ago"
    hub.clock.advance(dt.timedelta(days=hub.config.correction_retention_days))
    await hub.service.record_refusal(peer="192.0.2.2", office_number=None, error=CareplanError("NOT_FOUND"))
    purged = await hub.service.purge_expired()
    assert purged["audit"] >= 1 and purged["directory_corrections"] == 1
    assert await _counts(hub) == {
        "audit": 1,  # the refusal recorded after the clock moved
        "sessions": 0,
        "web_sessions": 0,
        "login_throttle": 0,
        "directory_corrections": 0,
    }


async def test_a_backlog_is_purged_in_short_batches(hub: HubUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hub that was stopped for long has a backlog to purge: it goes in transactions of
    PURGE_BATCH rows (short turns of the write lock, each statement well inside PostgreSQL's
    statement timeout), and only the expired rows go."""
    monkeypatch.setattr(retention, "PURGE_BATCH", 100)
    db = hub.service.db
    old = (hub.clock.now() - dt.timedelta(days=hub.config.audit_retention_days + 1)).isoformat()
    async with db.transaction() as tx:
        await tx.execute_many(
            "INSERT INTO audit (at, operation, code, detail) VALUES (?, 'send', 'BAD_REQUEST', '')",
            [(old,)] * 250 + [(hub.clock.now().isoformat(),)] * 3,
        )
    before = await db.fetch_one("SELECT count(*) FROM audit")
    deletes: list[int] = []  # the audit rows each purge transaction deleted
    transaction = db.transaction

    class Spy:
        def __init__(self, tx: Any) -> None:
            self.tx = tx

        async def execute(self, sql: str, params: Any = ()) -> int:
            count: int = await self.tx.execute(sql, params)
            if sql.startswith("DELETE FROM audit "):
                deletes.append(count)
            return count

    @contextlib.asynccontextmanager
    async def spied(**options: Any) -> AsyncIterator[Spy]:
        async with transaction(**options) as tx:
            yield Spy(tx)

    monkeypatch.setattr(db, "transaction", spied)
    purged = await hub.service.purge_expired()
    assert purged["audit"] == 250 and deletes == [100, 100, 50]
    left = await db.fetch_one("SELECT count(*) FROM audit")
    assert before is not None and left is not None and left[0] == before[0] - 250  # the 3 recent rows stay


async def test_expired_rows_are_purged_when_the_hub_starts(hub: HubUnderTest) -> None:
    await _fill_every_table(hub)
    await hub.running.stop()
    later = Clock()
    later.set(hub.clock.now() + dt.timedelta(days=365))
    restarted = await start_hub(hub.config, clock=later, announce_ready=False)
    try:
        hub.running = restarted
        assert await _counts(hub) == dict.fromkeys(await _counts(hub), 0)
    finally:
        await restarted.stop()
        hub.running = await start_hub(hub.config, clock=hub.clock, announce_ready=False)  # for the fixture


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


async def test_the_data_directory_is_private(hub: HubUnderTest) -> None:
    async with hub.client(KYOTAKU) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        await client.send(
            list(sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number).items()), to=HOUMON.number
        )
    data = hub.config.data_dir
    assert _mode(data) == 0o700
    files = ("hub.sqlite3", "hub.sqlite3-wal", "hub.sqlite3-shm", "keys/payload-keys.json", "admin-token", "hub.json")
    for name in files:
        assert _mode(data / name) == 0o600, name
    for directory in ("payloads", "keys", "tls"):
        assert _mode(data / directory) == 0o700, directory
    assert hub.payload_files() and all(_mode(p) == 0o600 for p in hub.payload_files())


async def test_an_older_data_directory_is_tightened_at_start(hub: HubUnderTest) -> None:
    await hub.running.stop()
    data = hub.config.data_dir
    os.chmod(data, 0o755)
    os.chmod(data / "hub.sqlite3", 0o644)
    os.chmod(data / "payloads", 0o755)
    hub.running = await start_hub(hub.config, clock=hub.clock, announce_ready=False)
    assert (_mode(data), _mode(data / "hub.sqlite3"), _mode(data / "payloads")) == (0o700, 0o600, 0o700)


async def test_refusal_details_written_before_the_upgrade_are_scrubbed(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    for script in MIGRATIONS[:2]:  # a database of schema version 2
        old.executescript(script)
    old.execute("PRAGMA user_version = 2")
    old.execute(
        "INSERT INTO audit (at, operation, code, detail) VALUES ('2026-01-01', 'send', 'FORMAT_INVALID', ?)",
        (f"利用者生年月日 '{BIRTH_DATE}' is not YYYYMMDD",),
    )
    old.commit()
    old.close()
    db = await Database.open(path)
    try:
        row = await db.fetch_one("SELECT detail FROM audit")
        assert row is not None and BIRTH_DATE not in row[0]
    finally:
        await db.close()


def test_the_readme_lists_every_setting_with_its_default() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text("utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \| ([\d.]+) \|", readme, flags=re.MULTILINE))
    defaults = {f.name: f.default for f in dataclasses.fields(HubConfig)}
    for name in SETTINGS:
        assert name in rows, f"{name} is not in the README's settings table"
        assert rows[name] == str(defaults[name]), f"{name}: README says {rows[name]}, the code {defaults[name]}"
