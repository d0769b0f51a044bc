"""State shared by hub nodes through the database (hub.nodes): the clock and the session
revocation generation. Two HubService instances, each with its own database connection(s), clock
and session cache, stand for two nodes on two machines (they share nothing but the database).
Each test runs on SQLite (two connections to one file) and on PostgreSQL (two pools)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from ca.authority import CertificateAuthority
from careplan.errors import CareplanError, Operation
from hub.clock import Clock
from hub.config import HubConfig
from hub.control.plane import CONTROL
from hub.nodes import GARBAGE_GRACE, NodeState, collect_garbage
from hub.payloads import WRITER, PayloadStore
from hub.service import HubService
from hub.sessions import SessionCache
from hub.storage import open_storage
from hub.trust import TrustStore
from tests.conftest import KYOTAKU, HubUnderTest
from tests.hub.test_store_db import NOW, OFFICE, peer, register

USER = f"KJ{OFFICE}"


@dataclass(frozen=True, slots=True)
class Node:
    service: HubService
    state: NodeState

    @property
    def clock(self) -> Clock:
        return self.service.clock

    async def request(self) -> None:
        """What the control middleware does at the start of every request."""
        await self.state.refresh()


@pytest.fixture(params=["sqlite", "postgresql"])
async def nodes(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Node, Node]]:
    database_url = "" if request.param == "sqlite" else request.getfixturevalue("pg_cluster").new_database()
    ca = CertificateAuthority.create(now=NOW - dt.timedelta(days=1))
    ca_pem = tmp_path / "ca.pem"
    ca_pem.write_bytes(ca.certificate.public_bytes(Encoding.PEM))
    config = HubConfig(data_dir=tmp_path / "hub", session_hours=12)
    made: list[Node] = []
    for _ in range(2):
        db = await open_storage(database_url, config.db_file)
        service = HubService(
            config=config,
            db=db,
            payloads=PayloadStore(config.payload_dir, config.key_file),
            trust=TrustStore(ca_pem, tmp_path / "crl.pem"),
            clock=Clock(),
        )
        service.session_cache = SessionCache(None)
        made.append(Node(service, await NodeState.open(db, service.clock, service.session_cache)))
    yield made[0], made[1]
    for node in made:
        await node.service.db.close()


async def test_a_clock_move_on_one_node_is_what_the_other_reads_next(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    a.clock.set(NOW, frozen=True)
    await a.state.publish()
    await b.request()
    assert b.clock.now() == NOW
    assert b.clock.state()["mode"] == "frozen"
    b.clock.advance(dt.timedelta(days=31))
    await b.state.publish()
    await a.request()
    assert a.clock.now() == NOW + dt.timedelta(days=31)
    a.clock.reset()
    await a.state.publish()
    await b.request()
    assert b.clock.state()["mode"] == "real"


async def test_a_running_offset_is_shared(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    a.clock.set(NOW)  # running from NOW on
    await a.state.publish()
    await b.request()
    assert abs(b.clock.now() - a.clock.now()) < dt.timedelta(seconds=1)
    assert b.clock.state()["mode"] == "offset"


async def test_advances_made_at_once_on_two_nodes_both_count(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    a.clock.set(NOW, frozen=True)
    await a.state.publish()
    await b.request()
    a.clock.advance(dt.timedelta(hours=1))
    b.clock.advance(dt.timedelta(hours=2))  # both from NOW, neither has seen the other
    await asyncio.gather(a.state.publish(), b.state.publish())
    await a.request()
    await b.request()
    assert a.clock.now() == b.clock.now() == NOW + dt.timedelta(hours=3)


async def test_an_older_reading_never_undoes_a_newer_one(nodes: tuple[Node, Node]) -> None:
    a, _ = nodes
    a.clock.adopt(7, dt.timedelta(0), NOW)
    a.clock.adopt(6, dt.timedelta(0), NOW - dt.timedelta(days=1))  # finished later, read earlier
    assert a.clock.now() == NOW


class Unreachable:
    """A database that cannot be reached (what hub.db raises then is the backend's business)."""

    def transaction(self) -> None:
        raise ConnectionRefusedError("no database")


async def test_a_move_that_cannot_be_written_is_taken_back(nodes: tuple[Node, Node]) -> None:
    a, _ = nodes
    a.clock.set(NOW, frozen=True)
    await a.state.publish()
    a.clock.advance(dt.timedelta(days=1))
    live, a.state.db = a.state.db, Unreachable()
    with pytest.raises(ConnectionRefusedError):
        await a.state.publish()
    a.state.db = live
    await a.request()
    assert a.clock.now() == NOW  # the row's state, not the move nobody else saw


async def test_a_restore_through_one_node_makes_the_others_read_the_restored_files(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    told: list[str] = []
    a.state.on_restore, b.state.on_restore = (lambda: told.append("a")), (lambda: told.append("b"))
    async with a.service.db.transaction() as tx:  # what a restore does with its tables
        await a.state.restored(tx)
    await b.request()
    await b.request()
    assert told == ["b"], "once, on the other node's next request"


async def refused(node: Node, token: str) -> str:
    with pytest.raises(CareplanError) as caught:
        await node.service.session(peer(), token, Operation.SEND)
    return caught.value.code


async def cached_on_b(a: Node, b: Node) -> str:
    """A session opened on node A and found (so cached) on node B: its token."""
    for node in (a, b):
        node.clock.set(NOW, frozen=True)
    await register(a.service)
    token = str((await a.service.login(peer(), USER, "secret"))["token"])
    await b.request()
    await b.service.session(peer(), token, Operation.SEND)  # now in b's cache
    return token


async def test_a_logout_on_one_node_ends_the_session_cached_on_the_other(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    token = await cached_on_b(a, b)
    await a.request()
    await a.service.logout(token)
    await b.request()
    assert await refused(b, token) == "SESSION_REQUIRED"


async def test_a_password_change_on_one_node_ends_every_session_on_the_other(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    token = await cached_on_b(a, b)
    async with a.service.db.transaction() as tx:  # what the usage website's password change does
        await a.service.revoke_sessions(tx, USER)
    await b.request()
    assert await refused(b, token) == "SESSION_REQUIRED"


async def test_a_rolled_back_revocation_bumps_nothing(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    before = await a.service.db.fetch_one("SELECT revocations FROM node_state")

    async def failed_change() -> None:
        async with a.service.db.transaction() as tx:
            await a.service.revoke_sessions(tx, USER)
            raise RuntimeError("the password change failed")

    with pytest.raises(RuntimeError):
        await failed_change()
    after = await b.service.db.fetch_one("SELECT revocations FROM node_state")
    assert before is not None and after is not None and before[0] == after[0]


def ended_pid() -> int:
    """The pid of a process of this machine that has ended."""
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(ended.stdout)


async def test_a_starting_node_leaves_young_unnamed_payloads_of_live_writers_alone(nodes: tuple[Node, Node]) -> None:
    a, _ = nodes
    payloads = a.service.payloads
    payloads.directory.mkdir(parents=True, exist_ok=True)
    young, old = payloads.directory / "a", payloads.directory / "b"
    for path in (young, old):
        path.write_bytes(b"sealed")
    long_ago = time.time() - GARBAGE_GRACE - 60
    os.utime(old, (long_ago, long_ago))
    crashed = payloads.directory / f".tmp-{WRITER}-{ended_pid()}-{'0' * 32}"  # a killed node's upload
    running = payloads.directory / f".tmp-{PayloadStore.new_name()}"  # this process's upload in flight
    for path in (crashed, running):
        path.write_bytes(b"sealed")
    removed = await collect_garbage(a.service.db, payloads, grace=GARBAGE_GRACE)
    assert sorted(removed) == sorted(["b", crashed.name])
    assert young.exists(), "another node's submit in flight: its file is not garbage yet"
    assert running.exists(), "a live process of this machine may still commit it"
    assert not old.exists() and not crashed.exists()


class Down:
    """A shared database that stopped answering (what hub.db_postgres raises then)."""

    async def fetch_one(self, *_: object) -> None:
        raise CareplanError("DATABASE_UNAVAILABLE", detail="テスト", detail_en="test")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_node_that_cannot_read_the_shared_state_answers_503_not_a_stale_clock(hub: HubUnderTest) -> None:
    state = hub.running.app[CONTROL].nodes
    assert state is not None, "a hub on PostgreSQL keeps its clock and sessions in the database"
    live, state.db = state.db, Down()
    status, answer = await hub.raw("GET", "/healthz")
    assert (status, answer["code"]) == (503, "DATABASE_UNAVAILABLE")
    state.db = live
    status, _ = await hub.raw("GET", "/healthz")
    assert status == 200, "the node serves again once the database answers"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_snapshot_whose_tables_no_longer_match_is_refused_and_changes_nothing(hub: HubUnderTest) -> None:
    snapshots = hub.running.app[CONTROL].snapshots
    saved = await snapshots.save("before")
    async with hub.service.db.transaction() as tx:  # as a later migration would leave it: a column less
        await tx.execute(f'ALTER TABLE "{saved["schema"]}".offices DROP COLUMN address')
    before = await hub.service.offices()
    with pytest.raises(CareplanError) as caught:
        await snapshots.restore("before")
    assert caught.value.code == "SNAPSHOT_NOT_FOUND" and "offices" in caught.value.detail
    assert await hub.service.offices() == before


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_an_injected_session_expiry_reaches_a_cached_session(hub: HubUnderTest) -> None:
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        first_token = kyotaku.token
        assert await kyotaku.sent() == []  # the session is now in the cache
        status, _ = await hub.raw(
            "POST",
            "/admin/v1/faults",
            json={"kind": "expire_session", "operation": "list", "count": 1},
            headers={"Authorization": "Bearer test-admin-token"},
        )
        assert status == 201
        assert await kyotaku.sent() == []  # refused once (401), then our client logged in again
        assert kyotaku.token != first_token, "the cached copy did not outlive the expiry"
