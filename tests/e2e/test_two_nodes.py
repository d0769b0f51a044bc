"""Two hub nodes on one PostgreSQL database and one data directory behave as one hub (issue 15
item 2): each node is `careplan hub --data DIR serve --database URL --port P`, its own process
(as on its own machine: they share no memory, only the database and the data directory).

- send through node A, receive and acknowledge through node B; the data is downloaded once;
- a replay on B of a submit made on A is refused, an identical retry is answered as stored;
- concurrent acknowledgements of one transmission on both nodes: exactly one wins;
- a clock move on A is what B's next request reads; a logout on A ends the session on B; the
  login throttle counts failures made on both nodes together;
- the journal (the dashboard's feed) on B shows what A answered; a fault set through A hits B and
  is counted once across both; a restore or reset through one node is what the other serves;
- SIGKILL of node A during a send storm through a TCP balancer: 0 acknowledged lost, 0 stored
  twice, node B answers throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from careplan.errors import CareplanError
from careplan.signature import sign
from client.hubclient import HubClient, client_ssl_context
from client.retry import RetryPolicy
from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, PgCluster, Pki, prepare_data_dir
from tests.e2e.balancer import Balancer
from tests.e2e.hubprocess import seed, start

pytestmark = pytest.mark.slow
ADMIN = {"Authorization": "Bearer test-admin-token"}


@dataclass(slots=True)
class Node:
    process: subprocess.Popen[bytes]
    url: str

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def start_node(data: Path, database: str) -> Node:
    """One node; the nodes share `data`, so they start one after the other (each announces itself
    in the data directory's ready file, which hubprocess.start waits for)."""
    process, url = start(data, database_url=database)
    return Node(process, url)


@dataclass(slots=True)
class TwoNodes:
    a: Node
    b: Node
    data: Path
    ca_file: Path
    pki: Pki
    database: str

    def client(self, node: Node | str, office: str, **kwargs: object) -> HubClient:
        url = node if isinstance(node, str) else node.url
        return HubClient(url=url, ca_file=self.ca_file, keypair=self.pki.terminals[office], **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def nodes(tmp_path: Path, pki: Pki, pg_cluster: PgCluster) -> AsyncIterator[TwoNodes]:
    data = tmp_path / "hub"
    prepare_data_dir(data, pki)
    database = pg_cluster.new_database()
    a = start_node(data, database)
    try:
        b = start_node(data, database)
    except BaseException:
        a.kill()
        raise
    try:
        await seed(a.url, data / "ca" / "ca.pem")
        yield TwoNodes(a=a, b=b, data=data, ca_file=data / "ca" / "ca.pem", pki=pki, database=database)
    finally:
        a.kill()
        b.kill()


def _files() -> dict[str, bytes]:
    return sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)


async def _refused(attempt: object) -> CareplanError:
    with pytest.raises(CareplanError) as caught:
        await attempt  # type: ignore[misc]
    return caught.value


async def test_send_on_a_receive_and_acknowledge_on_b(nodes: TwoNodes, tmp_path: Path) -> None:
    files = _files()
    async with (
        nodes.client(nodes.a, KYOTAKU.number) as on_a,
        nodes.client(nodes.b, KYOTAKU.number) as on_b,
        nodes.client(nodes.b, HOUMON.number) as houmon_b,
        nodes.client(nodes.a, HOUMON.number) as houmon_a,
    ):
        for client, office in ((on_a, KYOTAKU), (on_b, KYOTAKU), (houmon_b, HOUMON), (houmon_a, HOUMON)):
            await client.login(office.user, office.password)
        manifest, signature = on_a.prepare(list(files.items()), to=HOUMON.number, signed_at=await on_a.hub_time())
        sent = await on_a.upload(manifest, signature, list(files.items()))
        tid = sent["transmission_id"]

        retried = await on_b.upload(manifest, signature, list(files.items()))  # the same bytes: a retry
        assert retried["already_stored"] is True and retried["transmission_id"] == tid
        pair = nodes.pki.terminals[KYOTAKU.number]
        replay = await _refused(
            on_b.upload(manifest, sign(manifest, pair.certificate, pair.key, capabilities=False), list(files.items()))
        )
        assert replay.code == "REPLAY"

        assert [t["transmission_id"] for t in await houmon_b.inbox()] == [tid]
        got = await houmon_b.download(tid, tmp_path / "received")  # verifies, writes, acknowledges on B
        assert {p.name: p.read_bytes() for p in got.files} == files
        again = await _refused(houmon_a.download(tid, tmp_path / "again"))
        assert again.code == "ALREADY_DOWNLOADED", "downloaded once, whichever node is asked"
        [row] = [t for t in await on_a.sent() if t["transmission_id"] == tid]
        assert row["downloaded_at"], "the sender sees ダウンロード済 on the other node"
    assert not any((nodes.data / "payloads").iterdir()), "the acknowledgement on B deleted the shared payload"

    connector = aiohttp.TCPConnector(ssl=client_ssl_context(nodes.ca_file, None))
    async with aiohttp.ClientSession(connector=connector, headers=ADMIN) as admin:
        deadline = time.monotonic() + 10  # journal rows are written off the request path
        while True:
            async with admin.get(nodes.b.url + "/admin/v1/journal", params={"transmission": tid}) as response:
                entries = (await response.json())["entries"]
            routes = {(e["method"], e["route"], e["status"]) for e in entries}
            if ("POST", "/api/v1/transmissions", 201) in routes or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert ("POST", "/api/v1/transmissions", 201) in routes, "B's journal shows A's submit"
        assert ("POST", "/api/v1/inbox/{transmission_id}/ack", 200) in routes


async def _ack(session: aiohttp.ClientSession, url: str, tid: str) -> tuple[int, str | None]:
    async with session.post(f"{url}/api/v1/inbox/{tid}/ack") as response:
        body = await response.json(content_type=None)
        return response.status, body.get("code") if response.status != 200 else None


async def test_concurrent_acknowledgements_on_both_nodes_exactly_one_wins(nodes: TwoNodes) -> None:
    count = 6
    async with nodes.client(nodes.a, KYOTAKU.number) as kyotaku, nodes.client(nodes.b, HOUMON.number) as houmon:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await houmon.login(HOUMON.user, HOUMON.password)
        tids = [(await kyotaku.send(list(_files().items()), to=HOUMON.number))["transmission_id"] for _ in range(count)]
        token = houmon.token
    ssl = client_ssl_context(nodes.ca_file, nodes.pki.terminals[HOUMON.number])
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl), headers=headers) as via_a,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl), headers=headers) as via_b,
    ):
        for tid in tids:
            outcomes = await asyncio.gather(_ack(via_a, nodes.a.url, tid), _ack(via_b, nodes.b.url, tid))
            assert sorted(outcomes, key=lambda o: o[0]) == [(200, None), (410, "ALREADY_DOWNLOADED")], outcomes


async def _hub_time(url: str, ca_file: Path) -> dt.datetime:
    connector = aiohttp.TCPConnector(ssl=client_ssl_context(ca_file, None), force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session, session.get(url + "/healthz") as response:
        return dt.datetime.fromisoformat((await response.json())["hub_time"])


async def test_clock_moves_and_logouts_reach_the_other_node_at_once(nodes: TwoNodes) -> None:
    connector = aiohttp.TCPConnector(ssl=client_ssl_context(nodes.ca_file, None))
    async with aiohttp.ClientSession(connector=connector, headers=ADMIN) as admin:
        moved = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=3)
        async with admin.post(nodes.a.url + "/admin/v1/clock", json={"set": moved.isoformat(), "frozen": True}) as r:
            assert r.status == 200, await r.text()
        assert await _hub_time(nodes.b.url, nodes.ca_file) == moved, "B's next request reads A's move"
        async with admin.post(nodes.b.url + "/admin/v1/clock", json={"advance_seconds": 3600}) as r:
            assert r.status == 200, await r.text()
        assert await _hub_time(nodes.a.url, nodes.ca_file) == moved + dt.timedelta(hours=1)
        async with admin.post(nodes.a.url + "/admin/v1/clock", json={"reset": True}) as r:
            assert r.status == 200, await r.text()
        assert abs(await _hub_time(nodes.b.url, nodes.ca_file) - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)

    async with nodes.client(nodes.a, KYOTAKU.number) as on_a:
        await on_a.login(KYOTAKU.user, KYOTAKU.password)
        async with nodes.client(nodes.b, KYOTAKU.number, token=on_a.token) as on_b:
            assert (await on_b.whoami())["user_id"] == KYOTAKU.user  # B knows A's session (and caches it)
            await on_a.logout()
            ended = await _refused(on_b.whoami())
            assert ended.code == "SESSION_REQUIRED", "a logout on A ends the session on B at once"

            # the login throttle counts failures on both nodes together (5 per user and certificate)
            guesses = [
                await _refused(client.login(KYOTAKU.user, f"guess-{n}")) for n, client in enumerate([on_a, on_b] * 3)
            ]
            assert [g.code for g in guesses[:5]] == ["LOGIN_FAILED"] * 5
            assert guesses[5].code == "LOGIN_THROTTLED", "the sixth attempt is locked, whichever node takes it"


async def test_a_fault_set_through_a_hits_b_and_is_counted_once_across_nodes(nodes: TwoNodes) -> None:
    async with nodes.client(nodes.a, HOUMON.number) as houmon:
        await houmon.login(HOUMON.user, HOUMON.password)
        token = houmon.token
    ssl = client_ssl_context(nodes.ca_file, nodes.pki.terminals[HOUMON.number])
    admin_ssl = client_ssl_context(nodes.ca_file, None)
    rule = {"kind": "http_error", "status": 503, "route": "GET /api/v1/inbox", "count": 2, "retry_after": 1}
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=admin_ssl), headers=ADMIN) as admin,
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl), headers={"Authorization": f"Bearer {token}"}
        ) as office,
    ):
        async with admin.post(nodes.a.url + "/admin/v1/faults", json=rule) as response:
            assert response.status == 201, await response.text()

        async def inbox(node: Node) -> int:
            async with office.get(node.url + "/api/v1/inbox") as response:
                await response.read()
                return response.status

        statuses = [await inbox(nodes.b)]
        deadline = time.monotonic() + 5  # another node reads the rules again within 0.25 s (hub.control.faults)
        while statuses[-1] == 200 and time.monotonic() < deadline:
            statuses.append(await inbox(nodes.b))
        assert statuses[-1] == 503, "the rule set through A hits requests on B"
        assert await inbox(nodes.a) == 503
        assert [await inbox(nodes.a), await inbox(nodes.b)] == [200, 200], "count 2 is spent once, across nodes"
        async with admin.get(nodes.b.url + "/admin/v1/faults") as response:
            [listed] = (await response.json())["faults"]
        assert (listed["injected"], listed["remaining"]) == (2, 0)


async def _snapshot_schemas(database: str) -> list[str]:
    connection = await asyncpg.connect(database)
    try:
        rows = await connection.fetch("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'careplan_snap_%'")
        return sorted(r[0] for r in rows)
    finally:
        await connection.close()


async def test_a_restore_or_reset_through_one_node_is_what_the_other_serves(nodes: TwoNodes, tmp_path: Path) -> None:
    connector = aiohttp.TCPConnector(ssl=client_ssl_context(nodes.ca_file, None))
    async with (
        aiohttp.ClientSession(connector=connector, headers=ADMIN) as admin,
        nodes.client(nodes.a, KYOTAKU.number) as kyotaku,
        nodes.client(nodes.b, HOUMON.number) as houmon,
    ):

        async def call(node: Node, method: str, path: str, body: object = None) -> dict[str, object]:
            async with admin.request(method, node.url + path, json=body) as response:
                assert response.status in (200, 201), await response.text()
                return dict(await response.json())

        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await houmon.login(HOUMON.user, HOUMON.password)
        kept = (await kyotaku.send(list(_files().items()), to=HOUMON.number))["transmission_id"]
        frozen = dt.datetime.now(dt.UTC).replace(microsecond=0)  # the client signs on the time it read first
        await call(nodes.a, "POST", "/admin/v1/clock", {"set": frozen.isoformat(), "frozen": True})
        saved = await call(nodes.a, "POST", "/admin/v1/snapshots", {"name": "月初"})
        assert (saved["transmissions"], saved["payloads"]) == (1, len(_files()))
        await call(nodes.a, "POST", "/admin/v1/snapshots", {"name": "月初"})  # replaced: one schema stays
        assert len(await _snapshot_schemas(nodes.database)) == 1

        await houmon.download(kept, tmp_path / "first")  # changes through B after the snapshot
        later = (await kyotaku.send(list(_files().items()), to=HOUMON.number))["transmission_id"]
        await call(nodes.b, "POST", "/admin/v1/clock", {"advance_seconds": 86400})

        restored = await call(nodes.a, "POST", f"/admin/v1/snapshots/{'月初'}/restore")
        assert restored["transmissions"] == 1
        assert await _hub_time(nodes.b.url, nodes.ca_file) == frozen, "B reads the restored clock at once"
        assert [t["transmission_id"] for t in await houmon.inbox()] == [kept], "B serves the restored rows"
        got = await houmon.download(kept, tmp_path / "again")  # the payload is back, readable on B
        assert {p.name: p.read_bytes() for p in got.files} == _files()
        assert later not in {t["transmission_id"] for t in await kyotaku.sent()}

        await call(nodes.b, "POST", "/admin/v1/reset", {"to": "empty"})
        offices = await call(nodes.a, "GET", "/admin/v1/offices")
        assert offices["offices"] == [], "A serves the reset made through B"
        assert not any((nodes.data / "payloads").iterdir())
        ended = await _refused(kyotaku.sent())  # the session ended; the client's new login finds no user
        assert ended.code == "LOGIN_FAILED", ended.code
        await call(nodes.b, "DELETE", f"/admin/v1/snapshots/{'月初'}")
        assert await _snapshot_schemas(nodes.database) == []


# --- SIGKILL of a node during a send storm ----------------------------------------------------------
SEND_LIMIT = 200  # bounds the storm in count …
TIME_LIMIT = 60.0  # … and in time
SENDERS = 6
KILL_AFTER = 12  # acknowledged sends before node A is killed
AFTER_KILL = 16  # acknowledged sends after the kill before the senders stop
FAILOVER = RetryPolicy(attempts=20, base_delay=0.05, max_delay=0.5)


@dataclass(slots=True)
class Storm:
    acknowledged: dict[str, dict[str, bytes]] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)
    killed_at: int | None = None
    probes: int = 0
    probe_failures: list[str] = field(default_factory=list)

    def done(self, started: float) -> bool:
        after = self.killed_at is not None and len(self.acknowledged) >= self.killed_at + AFTER_KILL
        return after or len(self.acknowledged) >= SEND_LIMIT or time.monotonic() - started >= TIME_LIMIT


async def test_sigkill_of_node_a_during_a_send_storm_loses_and_duplicates_nothing(
    nodes: TwoNodes, tmp_path: Path
) -> None:
    balancer = Balancer([("127.0.0.1", nodes.a.port), ("127.0.0.1", nodes.b.port)])
    storm, files = Storm(), _files()
    started = time.monotonic()
    async with balancer.running() as url, nodes.client(url, KYOTAKU.number, retry=FAILOVER) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)

        async def sender() -> None:
            while not storm.done(started):
                tid = uuid.uuid4().hex  # retried with the same id, possibly on the other node
                try:
                    result = await kyotaku.send(list(files.items()), to=HOUMON.number, transmission_id=tid)
                except CareplanError as error:
                    storm.failed.append((tid, error.code))
                    return
                assert result["transmission_id"] == tid
                storm.acknowledged[tid] = files

        async def killer() -> None:
            while len(storm.acknowledged) < KILL_AFTER and time.monotonic() - started < TIME_LIMIT:
                await asyncio.sleep(0.01)
            await asyncio.to_thread(nodes.a.kill)
            storm.killed_at = len(storm.acknowledged)

        async def probe() -> None:  # node B keeps answering, directly, all along
            while not storm.done(started):
                try:
                    await _hub_time(nodes.b.url, nodes.ca_file)
                    storm.probes += 1
                except (aiohttp.ClientError, OSError, ValueError) as exc:
                    storm.probe_failures.append(type(exc).__name__)
                await asyncio.sleep(0.05)

        await asyncio.gather(*(sender() for _ in range(SENDERS)), killer(), probe())

    assert storm.killed_at is not None and nodes.a.process.returncode == -signal.SIGKILL
    assert storm.failed == [], "every send in flight at the kill completed by retrying on node B"
    assert len(storm.acknowledged) >= storm.killed_at + AFTER_KILL
    assert storm.probe_failures == [] and storm.probes > 0, "node B answered throughout"
    assert balancer.connections.get(("127.0.0.1", nodes.b.port), 0) > 0

    async with nodes.client(nodes.b, HOUMON.number) as houmon:
        await houmon.login(HOUMON.user, HOUMON.password)
        inbox = await houmon.inbox()
        visible = [t["transmission_id"] for t in inbox]
        assert len(visible) == len(set(visible)), "none stored twice"
        assert set(visible) == set(storm.acknowledged), "0 acknowledged lost, none stored unasked"
        for tid in sorted(visible)[:5]:  # the payloads are whole (every SHA-256 verified)
            got = await houmon.download(tid, tmp_path / "received")
            assert {p.name: p.read_bytes() for p in got.files} == storm.acknowledged[tid]
    print(  # the figures the report quotes (pytest -s)
        f"two nodes: {len(storm.acknowledged)} acknowledged, killed after {storm.killed_at}, "
        f"{kyotaku.retries} retries, {storm.probes} probes of node B answered"
    )
