"""The receiving side's shortcuts (issue 10, the full cycle's small requests): each must answer
exactly what the longer way answered before it, on both backends.

- The inbox reads the office's licence (the data load check, R3.6) in the page's own query
  (hub.listing._INBOX_PAGE_SQL): the same pages, and the same refusals in the same order, for
  offices applied or not, with a page or without (then the licence is read on its own).
- A receipt reads its answer in its own transaction (hub.listing.receipt_sql): the row the send
  list shows after the commit.
- The shared clock decodes its mapped state only when the bytes changed (hub.clock.SharedClock).
- The TLS peer's certificate is read once a request (hub.keys.peer_der).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careplan.errors import CareplanError, Operation
from fixtures.samples import sample_plan_set
from hub.clock import SharedClock
from hub.keys import peer_der
from hub.listing import _INBOX_ORDER, _PAGE_SQL, check_limit, decode_cursor
from hub.service import HubService
from hub.sessions import Session
from tests.conftest import HOUMON, KYOTAKU, MISHINSEI, HubUnderTest
from tests.e2e.test_pagination import _stored

FILES = list(sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number).items())


def _session(office_number: str) -> Session:
    never = dt.datetime.max.replace(tzinfo=dt.UTC)
    return Session(user_id="KJ", office_number=office_number, cert_fingerprint="fp", expires_at=never)


async def _inbox_the_long_way(service: HubService, session: Session, **query: Any) -> str:
    """The inbox as it was answered before: the data load check's own query, then the page's."""
    await service._check_data_load(session, Operation.RECEIVE)
    where, params = "WHERE t.recipient = ? ", [session.office_number]
    if not query.get("include_downloaded"):
        where += "AND t.downloaded_at IS NULL "
    if query.get("cursor") is not None:
        where += "AND (t.submitted_at, t.id) > (?, ?) "
        params += decode_cursor("inbox", query["cursor"])
    return await service._page("inbox", _PAGE_SQL + where + _INBOX_ORDER, params, check_limit(query.get("limit")))


async def _outcome(call: Any) -> tuple[str, object]:
    try:
        return "answer", await call
    except CareplanError as error:
        return "refused", (error.code, error.operation, error.detail, error.fix)


async def test_inbox_pages_and_refusals_equal_the_two_query_way(hub: HubUnderTest, tmp_path: Path) -> None:
    service = hub.service
    async with hub.client(KYOTAKU) as kyotaku, hub.client(HOUMON) as houmon:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await houmon.login(HOUMON.user, HOUMON.password)
        ids = [(await kyotaku.send(FILES, to=HOUMON.number))["transmission_id"] for _ in range(5)]
        await houmon.download(ids[1], tmp_path)  # one downloaded: `all` shows it, the default not
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)  # rows for an office that never applied (R3.6)
    await _stored(service.db, 3, sender=KYOTAKU.number, recipient=MISHINSEI.number, start=start)
    cursors: list[str | None] = [None, "not-a-cursor", "W10"]
    for limit in (None, 1, 2, 5):
        page = await service.inbox(_session(HOUMON.number), limit=limit)
        cursors.append(page["next_cursor"])  # type: ignore[arg-type]
    offices = (HOUMON.number, KYOTAKU.number, MISHINSEI.number, "1370109999")  # a number nobody registered
    for office in offices:
        for everything in (False, True):
            for limit in (None, 1, 2, 500, 0, "ten"):
                for cursor in cursors:
                    query = {"include_downloaded": everything, "limit": limit, "cursor": cursor}
                    session = _session(office)
                    now = await _outcome(service.inbox_json(session, **query))  # type: ignore[arg-type]
                    before = await _outcome(_inbox_the_long_way(service, session, **query))
                    assert now == before, (office, query)
    refused = await _outcome(service.inbox_json(_session(MISHINSEI.number), cursor="not-a-cursor"))
    assert refused[0] == "refused" and refused[1][0] == "DATA_LOAD_FAILED"  # type: ignore[index]
    refused = await _outcome(service.inbox_json(_session(MISHINSEI.number), limit="ten"))  # with rows waiting
    assert refused[0] == "refused" and refused[1][0] == "DATA_LOAD_FAILED"  # type: ignore[index]
    assert (await _outcome(service.inbox_json(_session(HOUMON.number), limit="ten")))[1][0] == "BAD_REQUEST"  # type: ignore[index]


async def test_a_receipt_answers_the_row_the_send_list_shows_after_it(hub: HubUnderTest) -> None:
    async with hub.client(KYOTAKU) as kyotaku, hub.client(HOUMON) as houmon:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await houmon.login(HOUMON.user, HOUMON.password)
        tid = (await kyotaku.send(FILES, to=HOUMON.number))["transmission_id"]
        blobs = hub.payload_files()
        assert blobs
        receipt = await houmon.acknowledge(tid)
        assert receipt == await hub.service._sent_row(tid)
        assert receipt["status"] == "ダウンロード済" and receipt["downloaded_at"]
        assert not any(path.exists() for path in blobs), "the receipt forgets the payload"
        with pytest.raises(CareplanError) as again:
            await houmon.acknowledge(tid)
        assert again.value.code == "ALREADY_DOWNLOADED"


@settings(max_examples=40, deadline=None)
@given(
    moves=st.lists(
        st.one_of(
            st.tuples(st.just("set"), st.integers(0, 10**9), st.booleans()),
            st.tuples(st.just("advance"), st.integers(-(10**6), 10**6), st.booleans()),
            st.tuples(st.just("reset"), st.just(0), st.booleans()),
        ),
        max_size=12,
    )
)
def test_the_shared_clock_reads_every_move_of_another_process(moves: list[tuple[str, int, bool]]) -> None:
    """The decoded state is reused only while the mapped bytes are the same: a reader that decodes
    afresh on every read (a new SharedClock) agrees with the long-lived one after every move."""
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "clock"
        mover, reader = SharedClock.fresh(path), SharedClock(path)
        start = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)
        for kind, amount, frozen in moves:
            if kind == "set":
                mover.set(start + dt.timedelta(seconds=amount), frozen=frozen)
            elif kind == "advance":
                mover.advance(dt.timedelta(microseconds=amount))
            else:
                mover.reset()
            assert reader._read() == SharedClock(path)._read()
            assert reader.state()["mode"] == mover.state()["mode"]


def test_the_peer_certificate_is_read_once_a_request() -> None:
    class Connection:
        reads = 0

        def get_extra_info(self, name: str) -> object:
            return self if name == "ssl_object" else None

        def getpeercert(self, binary_form: bool) -> bytes:
            self.reads += 1
            return b"0\x82der"

    class Request(dict[object, object]):
        transport = Connection()

    request = Request()
    assert peer_der(request) == peer_der(request) == b"0\x82der"  # type: ignore[arg-type]
    assert Request.transport.reads == 1


async def test_a_receipt_forgets_a_small_payload_without_a_thread_or_a_directory_fsync(
    hub: HubUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unlinking a receipt's files is not made durable (hub.payloads.PayloadStore.forget): a crash
    that undoes it leaves files no row names, which the garbage collection at start-up removes."""
    async with hub.client(KYOTAKU) as kyotaku, hub.client(HOUMON) as houmon:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await houmon.login(HOUMON.user, HOUMON.password)
        tid = (await kyotaku.send(FILES, to=HOUMON.number))["transmission_id"]
        blobs = hub.payload_files()
        kept = {path: path.read_bytes() for path in blobs}
        synced: list[int] = []
        hops: list[object] = []
        fsync, to_thread = os.fsync, asyncio.to_thread
        monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or fsync(fd))
        monkeypatch.setattr(asyncio, "to_thread", lambda fn, *a, **k: hops.append(fn) or to_thread(fn, *a, **k))
        await houmon.acknowledge(tid)
        monkeypatch.undo()
    assert not synced and not hops, "small files are unlinked on the loop, and not fsynced"
    assert not any(path.exists() for path in blobs)
    for path, data in kept.items():  # as if a crash undid the unlinks
        path.write_bytes(data)
    # At start-up after a crash (hub.nodes.collect_garbage_at_start); on a shared directory the
    # crashed writer is gone too, which this still running test process is not: without the grace.
    removed = await hub.service.collect_garbage()
    assert sorted(removed) == sorted(path.name for path in blobs)
    assert not any(path.exists() for path in blobs)
