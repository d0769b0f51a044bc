"""Lists one page at a time (issue 10): limits, cursors that stay stable while transmissions arrive
and leave, one query per page, and `careplan client sent|inbox --all` walking every page."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import uuid
from pathlib import Path

import pytest

from careplan.errors import CareplanError
from client.hubclient import HubClient
from fixtures.samples import sample_plan_set
from hub.db import Database
from tests.conftest import HOUMON, KYOTAKU, TSUSHO, HubUnderTest, run_careplan, terminal

FILES = list(sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number).items())


async def _logged_in(hub: HubUnderTest, office: object, user: str, password: str) -> HubClient:
    client = hub.client(office)  # type: ignore[arg-type]
    await client.__aenter__()
    await client.login(user, password)
    return client


async def _send(client: HubClient, count: int) -> list[str]:
    return [(await client.send(FILES, to=HOUMON.number))["transmission_id"] for _ in range(count)]


async def _stored(db: Database, count: int, *, sender: str, recipient: str, start: dt.datetime) -> list[str]:
    """`count` transmissions written straight into the database (a big list without uploads)."""
    ids = [uuid.uuid4().hex for _ in range(count)]
    async with db.transaction() as tx:
        for i, tid in enumerate(ids):
            at = (start + dt.timedelta(seconds=i)).isoformat()
            await tx.execute(
                "INSERT INTO transmissions (id, sender, recipient, sender_user, manifest, manifest_sha256, signature, "
                "signer_fingerprint, signed_at, submitted_at, file_count, total_size) "
                "VALUES (?, ?, ?, 'KJ', ?, ?, ?, 'fp', ?, ?, 1, 1)",
                (tid, sender, recipient, b"{}", hashlib.sha256(tid.encode()).hexdigest(), b"\x00", at, at),
            )
            await tx.execute("INSERT INTO transmission_files VALUES (?, 0, 'UPPLAN.CSV', 1, ?, NULL)", (tid, "0" * 64))
    return ids


@pytest.fixture
def frozen(hub: HubUnderTest) -> HubUnderTest:
    """Every transmission gets the same submitted_at: pages must break ties by id."""
    hub.clock.set(dt.datetime.now(dt.UTC), frozen=True)
    return hub


async def test_default_and_largest_page_and_refused_limits(hub: HubUnderTest) -> None:
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    ids = await _stored(hub.service.db, 501, sender=KYOTAKU.number, recipient=HOUMON.number, start=start)
    kyotaku = await _logged_in(hub, KYOTAKU, KYOTAKU.user, KYOTAKU.password)
    try:
        first = await kyotaku.sent_page()
        assert len(first.transmissions) == 100 and first.next_cursor
        assert [t["transmission_id"] for t in first] == ids[::-1][:100]  # newest first
        biggest = await kyotaku.sent_page(limit=500)
        assert len(biggest.transmissions) == 500
        last = await kyotaku.sent_page(limit=500, cursor=biggest.next_cursor)
        assert [t["transmission_id"] for t in last] == [ids[0]] and last.next_cursor is None
        assert [t["transmission_id"] for t in await kyotaku.sent()] == ids[::-1]
        for bad in ("0", "501", "-1", "ten", "1" * 5000, "2.5"):
            status, body = await _raw_list(hub, kyotaku, f"/api/v1/sent?limit={bad}")
            assert (status, body["code"]) == (400, "BAD_REQUEST"), bad
            assert "limit" in body["detail"]
    finally:
        await kyotaku.__aexit__(None, None, None)


async def _raw_list(hub: HubUnderTest, client: HubClient, path: str) -> tuple[int, dict[str, object]]:
    assert client._session is not None
    headers = {"Authorization": f"Bearer {client.token}"}
    async with client._session.get(hub.url + path, headers=headers) as response:
        return response.status, await response.json()


async def test_a_foreign_or_broken_cursor_is_refused(hub: HubUnderTest) -> None:
    kyotaku = await _logged_in(hub, KYOTAKU, KYOTAKU.user, KYOTAKU.password)
    houmon = await _logged_in(hub, HOUMON, HOUMON.user, HOUMON.password)
    try:
        await _send(kyotaku, 3)
        sent_cursor = (await kyotaku.sent_page(limit=1)).next_cursor
        inbox_cursor = (await houmon.inbox_page(limit=1)).next_cursor
        assert sent_cursor and inbox_cursor
        for cursor, fetch in (
            (sent_cursor, lambda c: houmon.inbox_page(cursor=c)),  # a send-list cursor on the inbox
            (inbox_cursor, lambda c: kyotaku.sent_page(cursor=c)),
            ("not-a-cursor", lambda c: kyotaku.sent_page(cursor=c)),
            ("W10", lambda c: houmon.inbox_page(cursor=c)),  # base64 of []
        ):
            with pytest.raises(CareplanError) as refused:
                await fetch(cursor)
            assert refused.value.code == "BAD_REQUEST"
            assert "cursor" in refused.value.detail
        assert len(await houmon.inbox()) == 3  # nothing changed
    finally:
        for client in (kyotaku, houmon):
            await client.__aexit__(None, None, None)


async def test_inbox_all_is_one_of_four_words_else_refused(hub: HubUnderTest, tmp_path: Path) -> None:
    """`?all=` means 1/true or 0/false; any other text (a generated client's `True`, `yes`, `2`)
    was read as "only the new ones" and quietly hid the downloaded transmissions (schemathesis)."""
    kyotaku = await _logged_in(hub, KYOTAKU, KYOTAKU.user, KYOTAKU.password)
    houmon = await _logged_in(hub, HOUMON, HOUMON.user, HOUMON.password)
    try:
        downloaded, waiting = await _send(kyotaku, 2)
        await houmon.download(downloaded, tmp_path)
        for value, expected in (("1", 2), ("true", 2), ("0", 1), ("false", 1)):
            status, body = await _raw_list(hub, houmon, f"/api/v1/inbox?all={value}")
            assert (status, len(body["transmissions"])) == (200, expected), value  # type: ignore[arg-type]
        for bad in ("True", "yes", "2", "", "1 "):
            status, body = await _raw_list(hub, houmon, f"/api/v1/inbox?all={bad}")
            assert (status, body["code"]) == (400, "BAD_REQUEST"), bad
            assert body["message"] == "要求の形式が正しくありません。" and "all" in str(body["detail"])
        assert [t["transmission_id"] for t in await houmon.inbox()] == [waiting]
    finally:
        for client in (kyotaku, houmon):
            await client.__aexit__(None, None, None)


async def test_inbox_walk_is_stable_while_transmissions_arrive_and_are_acknowledged(
    hub: HubUnderTest, tmp_path: Path
) -> None:
    kyotaku = await _logged_in(hub, KYOTAKU, KYOTAKU.user, KYOTAKU.password)
    houmon = await _logged_in(hub, HOUMON, HOUMON.user, HOUMON.password)
    try:
        before = await _send(kyotaku, 7)
        seen: list[str] = []
        arrived: list[str] = []
        pages = houmon.walk(lambda c: houmon.inbox_page(limit=2, cursor=c), max_pages=20)  # 7 + 3 rows: 5 pages
        async for page in pages:
            seen += [t["transmission_id"] for t in page]
            if len(arrived) < 3:
                arrived += await _send(kyotaku, 1)
            # acknowledging a row already shown must not make the walk skip one not yet shown
            await houmon.download(page.transmissions[0]["transmission_id"], tmp_path)
        assert len(seen) == len(set(seen)), "a row was shown twice"
        assert seen[: len(before)] == before, "a row present when the walk began was skipped or moved"
        assert seen[len(before) :] == arrived, "arrivals come at the end of an inbox walk, in order"
    finally:
        for client in (kyotaku, houmon):
            await client.__aexit__(None, None, None)


async def test_send_list_walk_is_stable_while_new_sends_arrive(hub: HubUnderTest) -> None:
    kyotaku = await _logged_in(hub, KYOTAKU, KYOTAKU.user, KYOTAKU.password)
    try:
        before = await _send(kyotaku, 5)
        seen: list[str] = []
        new: list[str] = []
        async for page in kyotaku.walk(lambda c: kyotaku.sent_page(limit=2, cursor=c), max_pages=10):
            seen += [t["transmission_id"] for t in page]
            new += await _send(kyotaku, 1)  # newer than anything listed: before the cursor
        assert seen == before[::-1], "newest first, each row once"
        assert len(await kyotaku.sent()) == len(before) + len(new)
    finally:
        await kyotaku.__aexit__(None, None, None)


async def test_ties_in_submission_time_are_broken_by_id(frozen: HubUnderTest) -> None:
    """A frozen clock gives every transmission the same submitted_at (scenarios do this): pages
    still show each row once, in id order."""
    kyotaku = await _logged_in(frozen, KYOTAKU, KYOTAKU.user, KYOTAKU.password)
    houmon = await _logged_in(frozen, HOUMON, HOUMON.user, HOUMON.password)
    try:
        ids = await _send(kyotaku, 5)
        sent = [t["transmission_id"] async for p in kyotaku.walk(lambda c: kyotaku.sent_page(limit=2, cursor=c))
                for t in p]  # fmt: skip
        inbox = [t["transmission_id"] async for p in houmon.walk(lambda c: houmon.inbox_page(limit=2, cursor=c))
                 for t in p]  # fmt: skip
        assert sent == sorted(ids, reverse=True)
        assert inbox == sorted(ids)
    finally:
        for client in (kyotaku, houmon):
            await client.__aexit__(None, None, None)


async def test_one_query_a_page_whatever_its_size(hub: HubUnderTest) -> None:
    """No per-row file query: the statements one page runs do not grow with its rows."""
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    await _stored(hub.service.db, 60, sender=KYOTAKU.number, recipient=TSUSHO.number, start=start)
    tsusho = await _logged_in(hub, TSUSHO, TSUSHO.user, TSUSHO.password)
    statements: list[str] = []
    await hub.service.db._conn.set_trace_callback(statements.append)
    try:
        counts = []
        for limit in (1, 50):
            statements.clear()
            page = await tsusho.inbox_page(limit=limit)
            assert len(page.transmissions) == limit
            assert all(t["files"] == [{"position": 0, "name": "UPPLAN.CSV", "size": 1, "sha256": "0" * 64}]
                       for t in page)  # fmt: skip
            counts.append(sum("transmission" in s for s in statements))  # the session and licence reads aside
        assert counts == [1, 1], statements
    finally:
        await hub.service.db._conn.set_trace_callback(None)  # type: ignore[arg-type]
        await tsusho.__aexit__(None, None, None)


async def test_pages_read_their_covering_keyset_index(hub: HubUnderTest) -> None:
    """Each list's page query walks its own index and never the table rows (whose inline
    manifest and signature would be read from overflow pages): flat from 10k to 1M rows."""
    kyotaku = await _logged_in(hub, KYOTAKU, KYOTAKU.user, KYOTAKU.password)
    houmon = await _logged_in(hub, HOUMON, HOUMON.user, HOUMON.password)
    statements: list[str] = []
    db = hub.service.db
    await db._conn.set_trace_callback(statements.append)
    try:
        await _send(kyotaku, 2)
        expected = {
            "transmissions_sender_page": lambda c: kyotaku.sent_page(limit=1, cursor=c),
            "transmissions_pending_page": lambda c: houmon.inbox_page(limit=1, cursor=c),
            "transmissions_recipient_page": lambda c: houmon.inbox_page(include_downloaded=True, limit=1, cursor=c),
        }
        for index, fetch in expected.items():
            cursor = (await fetch(None)).next_cursor
            for page_cursor in (None, cursor):
                statements.clear()
                await fetch(page_cursor)
                [query] = [s for s in statements if "FROM transmissions t" in s]
                plan = " | ".join(r[3] for r in await db.fetch_all("EXPLAIN QUERY PLAN " + query))
                assert f"COVERING INDEX {index}" in plan, plan
                assert "TEMP B-TREE" not in plan, plan
    finally:
        await db._conn.set_trace_callback(None)  # type: ignore[arg-type]
        for client in (kyotaku, houmon):
            await client.__aexit__(None, None, None)


@pytest.mark.slow
async def test_cli_shows_one_page_and_all_walks_every_page(hub: HubUnderTest, tmp_path: Path) -> None:
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    ids = await _stored(hub.service.db, 7, sender=KYOTAKU.number, recipient=HOUMON.number, start=start)
    kyotaku = await _logged_in(hub, KYOTAKU, KYOTAKU.user, KYOTAKU.password)
    await kyotaku.__aexit__(None, None, None)
    home = tmp_path / "home"
    terminal(hub.pki, home, hub.url, token=kyotaku.token or "", ca_file=hub.config.trusted_ca_file)

    def cli(*args: str) -> dict[str, object]:
        done = run_careplan("client", "--home", str(home), "--profile", "kyotaku", *args)
        assert done.returncode == 0, done.stdout + done.stderr
        return dict(json.loads(done.stdout))

    one = await asyncio.to_thread(cli, "--json", "sent", "--limit", "3")
    assert [t["transmission_id"] for t in one["transmissions"]] == ids[::-1][:3]  # type: ignore[union-attr]
    rest = await asyncio.to_thread(cli, "--json", "sent", "--limit", "3", "--cursor", str(one["next_cursor"]))
    assert [t["transmission_id"] for t in rest["transmissions"]] == ids[::-1][3:6]  # type: ignore[union-attr]
    every = await asyncio.to_thread(cli, "--json", "sent", "--all", "--limit", "2")
    assert [t["transmission_id"] for t in every["transmissions"]] == ids[::-1]  # type: ignore[union-attr]
    assert every["next_cursor"] is None
    table = await asyncio.to_thread(
        run_careplan, "client", "--home", str(home), "--profile", "kyotaku", "sent", "--limit", "2"
    )
    assert table.returncode == 0 and "--cursor" in table.stderr
