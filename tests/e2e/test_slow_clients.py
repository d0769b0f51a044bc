"""Slow and flooding clients over a real hub (issue 9 §5): headers and bodies sent a byte at a time,
silent sockets and idle keep-alives are closed within the configured timeouts (small ones here);
beyond max_connections a connection is answered 503 HUB_BUSY with Retry-After; the doors open
without a certificate are rate-limited per address; and meanwhile normal requests are served.

These tests wait on real time because the timeouts are about real sockets; every wait is bounded
by the configured timeout plus a margin, never by a sleep for a time rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from careplan.errors import CareplanError
from client.hubclient import client_ssl_context
from hub.usage import UsageSite
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest, Pki, hub_with

FAST = {"header_timeout": 0.5, "body_grace": 0.5, "body_min_rate": 1000, "keepalive_timeout": 1.5}
MARGIN = 1.5  # seconds beyond a timeout: the sweep's tick, TLS and a loaded machine


@pytest.fixture
async def fast_hub(tmp_path: Path, pki: Pki) -> AsyncIterator[HubUnderTest]:
    async with hub_with(tmp_path, pki, **FAST) as hub:
        yield hub


async def _connect(
    hub: HubUnderTest, *, certificate: bool = True, tls: bool = True
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    pair = hub.pki.terminals[KYOTAKU.number] if certificate else None
    context = client_ssl_context(hub.config.trusted_ca_file, pair) if tls else None
    return await asyncio.open_connection("127.0.0.1", hub.running.port, ssl=context)


async def _drip(writer: asyncio.StreamWriter, data: bytes, every: float = 0.1) -> None:
    """Send `data` one byte per `every` seconds until it is sent or the hub hangs up."""
    with contextlib.suppress(ConnectionError, RuntimeError):
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(every)


async def _answer_then_close(reader: asyncio.StreamReader, limit: float) -> tuple[bytes, float]:
    """Everything the hub writes until it closes the connection, and how long that took."""
    started = time.monotonic()
    answer = b""
    with contextlib.suppress(ConnectionError):
        while chunk := await asyncio.wait_for(reader.read(65536), timeout=limit):
            answer += chunk
    return answer, time.monotonic() - started


def _refusal(answer: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


async def test_headers_sent_a_byte_at_a_time_are_closed_with_408(fast_hub: HubUnderTest) -> None:
    reader, writer = await _connect(fast_hub)
    drip = asyncio.create_task(_drip(writer, b"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Slow: " + b"a" * 100))
    answer, took = await _answer_then_close(reader, FAST["header_timeout"] + MARGIN)
    drip.cancel()
    status, _, body = _refusal(answer)
    assert (status, body["code"]) == (408, "REQUEST_TIMEOUT")
    assert body["fix"]
    assert took < FAST["header_timeout"] + MARGIN
    assert fast_hub.running.gate.closed_slow >= 1
    status, health = await fast_hub.raw("GET", "/healthz")
    assert (status, health["status"]) == (200, "ok")


async def test_a_socket_that_never_starts_tls_is_closed(fast_hub: HubUnderTest) -> None:
    reader, writer = await _connect(fast_hub, tls=False)
    answer, took = await _answer_then_close(reader, FAST["header_timeout"] + MARGIN)
    writer.close()
    assert answer == b""
    assert took < FAST["header_timeout"] + MARGIN


async def test_a_body_sent_a_byte_at_a_time_is_refused_with_408(fast_hub: HubUnderTest) -> None:
    reader, writer = await _connect(fast_hub)
    writer.write(
        b"POST /api/v1/session HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n"
    )
    drip = asyncio.create_task(_drip(writer, b'{"user_id": "' + b"a" * 1000))
    limit = FAST["body_grace"] + MARGIN + 1
    answer, took = await _answer_then_close(reader, limit)
    drip.cancel()
    status, _, body = _refusal(answer)
    assert (status, body["code"]) == (408, "REQUEST_TIMEOUT")
    assert "バイト/秒" in body["detail"]
    assert took < limit
    rows = await fast_hub.service.db.fetch_all("SELECT count(*) FROM sessions")
    assert rows[0][0] == 0, "nothing happens for a request that never arrived"


async def test_an_idle_keep_alive_connection_is_closed(fast_hub: HubUnderTest) -> None:
    reader, writer = await _connect(fast_hub)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
    assert head.startswith(b"HTTP/1.1 200")
    length = int(re.search(rb"Content-Length: (\d+)", head)[1])  # type: ignore[index]
    await reader.readexactly(length)
    rest, took = await _answer_then_close(reader, FAST["keepalive_timeout"] + MARGIN)
    assert rest == b""
    assert took < FAST["keepalive_timeout"] + MARGIN


async def test_connections_beyond_the_cap_get_503_with_retry_after(tmp_path: Path, pki: Pki) -> None:
    async with hub_with(tmp_path, pki, max_connections=3) as hub:
        held = [await _connect(hub) for _ in range(3)]
        deadline = time.monotonic() + 10
        while len(hub.running.gate.handlers) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        reader, writer = await _connect(hub)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
        answer, _ = await _answer_then_close(reader, 10)
        status, headers, body = _refusal(answer)
        assert (status, body["code"]) == (503, "HUB_BUSY")
        assert headers["Retry-After"] == str(hub.config.retry_after)
        assert hub.running.gate.refused_busy == 1
        for _, held_writer in held:
            held_writer.close()
        while hub.running.gate.handlers and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        status, health = await hub.raw("GET", "/healthz")
        assert (status, health["status"]) == (200, "ok")


async def _certless(hub: HubUnderTest, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, str], str]:
    connector = aiohttp.TCPConnector(ssl=client_ssl_context(hub.config.trusted_ca_file, None))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.request(method, hub.url + path, allow_redirects=False, **kwargs) as response,
    ):
        return response.status, dict(response.headers), await response.text()


async def test_doors_without_a_certificate_are_rate_limited_per_address(tmp_path: Path, pki: Pki) -> None:
    limits = {"web_login_per_minute": 3, "certless_per_minute": 2}
    async with hub_with(tmp_path, pki, **limits) as hub:
        answers = [await _certless(hub, "GET", "/api/v1/inbox") for _ in range(3)]
        assert [a[0] for a in answers] == [401, 401, 429]
        assert json.loads(answers[2][2])["code"] == "RATE_LIMITED"
        assert int(answers[2][1]["Retry-After"]) >= 1
        logins = [await _certless(hub, "POST", "/web/login", data={"user_id": "x"}) for _ in range(4)]
        assert [a[0] for a in logins][-1] == 429
        assert 429 not in [a[0] for a in logins[:3]]
        async with hub.client(KYOTAKU) as client:  # a certificate holder is not limited by these doors
            for _ in range(5):
                await client.login(KYOTAKU.user, KYOTAKU.password)
        audited = await hub.service.db.fetch_all("SELECT code, count(*) FROM audit GROUP BY code")
        assert all(count <= hub.config.audit_burst for _, count in audited), audited


async def _correction(hub: HubUnderTest) -> int:
    """A correction request through the directory's form, as a browser sends it."""
    connector = aiohttp.TCPConnector(ssl=client_ssl_context(hub.config.trusted_ca_file, None))
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(hub.url + "/directory/correction") as page:
            found = re.search(r'name="csrf" value="([^"]+)"', await page.text())
        form = {"office_number": KYOTAKU.number, "field": "name", "value": "新名称", "contact": "03-0000"}
        form["csrf"] = found[1] if found else ""
        async with session.post(hub.url + "/directory/correction", data=form, allow_redirects=False) as answer:
            return answer.status


async def test_correction_requests_are_capped_per_address_and_in_total(tmp_path: Path, pki: Pki) -> None:
    async with hub_with(tmp_path, pki, corrections_per_address_per_day=2, corrections_per_day=3) as hub:
        assert [await _correction(hub) for _ in range(3)] == [200, 200, 429]
        usage = UsageSite(hub.service)
        await usage.request_correction(office_number=KYOTAKU.number, field="name", value="v", contact="c")
        with pytest.raises(CareplanError) as caught:
            await usage.request_correction(office_number=KYOTAKU.number, field="name", value="v", contact="c")
        assert caught.value.code == "CORRECTION_LIMIT"
        rows = await hub.service.db.fetch_one("SELECT count(*) FROM directory_corrections")
        assert rows is not None and rows[0] == 3
        hub.clock.advance(dt.timedelta(days=1, seconds=1))  # the total cap counts the last 24 hours
        await usage.request_correction(office_number=KYOTAKU.number, field="name", value="v", contact="c")


async def test_an_answer_the_client_never_reads_does_not_hold_the_connection(tmp_path: Path, pki: Pki) -> None:
    """The hub writes the answer and is done; the connection then idles and is closed after
    keepalive_timeout (the TLS close gives up flushing after 5 s)."""
    big = [("scan.pdf", b"%PDF-1.4\n" + bytes(9 * 1024 * 1024))]  # more than the socket buffers hold
    async with hub_with(tmp_path, pki, **FAST) as hub:
        async with hub.client(KYOTAKU) as sender, hub.client(HOUMON) as receiver:
            await sender.login(KYOTAKU.user, KYOTAKU.password)
            sent = await sender.send(big, to=HOUMON.number)
            await receiver.login(HOUMON.user, HOUMON.password)
            token = receiver.token
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", hub.running.port))
        context = client_ssl_context(hub.config.trusted_ca_file, hub.pki.terminals[HOUMON.number])
        _, writer = await asyncio.open_connection(sock=sock, ssl=context, server_hostname="127.0.0.1")
        writer.write(
            f"GET /api/v1/inbox/{sent['transmission_id']}/files/0 HTTP/1.1\r\nHost: hub\r\n"
            f"Authorization: Bearer {token}\r\n\r\n".encode()
        )
        await writer.drain()  # and never read the answer
        started = time.monotonic()
        limit = FAST["keepalive_timeout"] + 5 + MARGIN
        while hub.running.gate.handlers and time.monotonic() - started < limit:
            await asyncio.sleep(0.05)
        assert not hub.running.gate.handlers, "a client that never reads still holds a connection"
        writer.transport.abort()
        status, health = await hub.raw("GET", "/healthz")
        assert (status, health["status"]) == (200, "ok")
