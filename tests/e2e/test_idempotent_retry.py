"""Retrying a send whose answer was lost (issue 9, point 8): the client retries with the same id and
signature, the hub answers the identical resubmission with the stored record, and the receiver sees
the transmission once.

The lost answer is made real by a TCP proxy on loopback between client and hub (TLS passes through
it untouched): once the hub has committed the transmission, the proxy drops the bytes the hub sends
back and cuts both connections — exactly what a reset after the upload looks like to a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from careplan.errors import CareplanError
from client.hubclient import HubClient
from client.retry import RetryPolicy, retry_after_seconds
from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, NOW, HubUnderTest, Pki, run_careplan

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)


class CuttingProxy:
    """Forwards loopback TCP to the hub; the first time `should_cut()` holds when the hub answers,
    that answer is dropped and the connection cut."""

    def __init__(self, target_port: int, should_cut: Callable[[], Awaitable[bool]]) -> None:
        self.target_port = target_port
        self.should_cut = should_cut
        self.cuts = 0
        self.connections = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"https://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, answers: bool) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    if answers and self.cuts == 0 and await self.should_cut():
                        self.cuts += 1
                        writer.transport.abort()
                        up_writer.transport.abort()
                        return
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pump(reader, up_writer, answers=False), pump(up_reader, writer, answers=True))


@contextlib.asynccontextmanager
async def proxy_to(hub: HubUnderTest) -> AsyncIterator[tuple[CuttingProxy, str]]:
    proxy = CuttingProxy(hub.running.port, lambda: _committed(hub))
    url = await proxy.start()
    try:
        yield proxy, url
    finally:
        await proxy.stop()


async def _committed(hub: HubUnderTest) -> bool:
    return await hub.transmission_count() > 0


async def test_an_answer_lost_after_the_commit_is_retried_and_stored_once(hub: HubUnderTest, tmp_path: Path) -> None:
    files = list(sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number).items())
    async with proxy_to(hub) as (proxy, url):
        pair = hub.pki.terminals[KYOTAKU.number]
        async with HubClient(url=url, ca_file=hub.config.trusted_ca_file, keypair=pair, retry=FAST) as kyotaku:
            await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
            result = await kyotaku.send(files, to=HOUMON.number)
            sent = await kyotaku.sent()
    assert proxy.cuts == 1, "the first answer was lost after the commit"
    assert kyotaku.retries == 1
    assert result["already_stored"] is True, "the retry was answered with the stored record"
    assert await hub.transmission_count() == 1
    assert len(hub.payload_files()) == len(files), "no second set of payloads"
    assert [t["transmission_id"] for t in sent] == [result["transmission_id"]]
    async with hub.client(HOUMON) as houmon:
        await houmon.login(HOUMON.user, HOUMON.password)
        inbox = await houmon.inbox()
        assert [t["transmission_id"] for t in inbox] == [result["transmission_id"]]
        got = await houmon.download(result["transmission_id"], tmp_path / "received")
        assert {p.name: p.read_bytes() for p in got.files} == dict(files)
        assert await houmon.inbox() == []


async def test_a_refusal_is_not_retried(hub: HubUnderTest) -> None:
    files = list(sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number).items())
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        manifest, signature = kyotaku.prepare(files, to=HOUMON.number, signed_at=NOW.replace(year=2020))
        with pytest.raises(CareplanError) as caught:
            await kyotaku.upload(manifest, signature, files)
    assert caught.value.code == "SIGNING_TIME_INVALID"
    assert kyotaku.retries == 0
    assert await hub.transmission_count() == 0


# --- 5xx with Retry-After, against a stand-in hub ------------------------------------------------
@pytest.fixture
async def flaky_hub(pki: Pki, tmp_path: Path) -> AsyncIterator[tuple[str, list[tuple[bytes, bytes, list[str]]]]]:
    """A TLS server with the hub's certificate that answers the first send 503 with Retry-After: 2
    (no JSON body, as a proxy would), the second 500 INTERNAL, the third 201; it records each upload."""
    seen: list[tuple[bytes, bytes, list[str]]] = []

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "hub_time": NOW.isoformat()})

    async def send(request: web.Request) -> web.Response:
        parts: dict[str, bytes] = {}
        names: list[str] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            data = await part.read()  # type: ignore[union-attr]
            if part.name == "file":  # type: ignore[union-attr]
                names.append(str(part.filename))  # type: ignore[union-attr]
            else:
                parts[str(part.name)] = data  # type: ignore[union-attr]
        seen.append((parts["manifest"], parts["signature"], names))
        if len(seen) == 1:
            return web.Response(status=503, text="busy", headers={"Retry-After": "2"})
        if len(seen) == 2:
            return web.json_response({"code": "INTERNAL", "detail": "trace id 0"}, status=500)
        return web.json_response({"transmission_id": json.loads(parts["manifest"])["transmission_id"]}, status=201)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/v1/transmissions", send)
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "hub.pem").write_bytes(pki.server.cert_pem())
    (tmp_path / "tls" / "hub-key.pem").write_bytes(pki.server.key_pem())
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "tls" / "hub.pem", tmp_path / "tls" / "hub-key.pem")
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    yield f"https://127.0.0.1:{runner.addresses[0][1]}", seen
    await runner.cleanup()


async def test_5xx_answers_are_retried_honouring_retry_after(
    flaky_hub: tuple[str, list[tuple[bytes, bytes, list[str]]]], pki: Pki
) -> None:
    url, seen = flaky_hub
    waits: list[float] = []

    async def record(delay: float) -> None:  # the backoff is measured, not waited for
        waits.append(delay)

    files = list(sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number).items())
    policy = RetryPolicy(attempts=3, base_delay=0.5, max_delay=8)
    async with HubClient(
        url=url, ca_file=pki.ca.directory / "ca.pem", keypair=pki.terminals[KYOTAKU.number], retry=policy
    ) as kyotaku:
        kyotaku.sleep = record
        result = await kyotaku.send(files, to=HOUMON.number)
    assert len(seen) == 3
    assert seen[0] == seen[1] == seen[2], "every attempt re-sends the same manifest, signature and files"
    assert result["transmission_id"] == json.loads(seen[0][0])["transmission_id"]
    assert waits[0] == 2.0, "Retry-After is honoured"
    assert 0 <= waits[1] <= policy.base_delay * 2, "then exponential backoff with jitter"


async def test_retries_are_bounded(flaky_hub: tuple[str, list[tuple[bytes, bytes, list[str]]]], pki: Pki) -> None:
    url, seen = flaky_hub
    files = list(sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number).items())
    async with HubClient(
        url=url,
        ca_file=pki.ca.directory / "ca.pem",
        keypair=pki.terminals[KYOTAKU.number],
        retry=RetryPolicy(attempts=2),
    ) as kyotaku:
        kyotaku.retry = RetryPolicy(attempts=2, base_delay=0)
        with pytest.raises(CareplanError) as caught:
            await kyotaku.send(files, to=HOUMON.number)
    assert caught.value.code == "INTERNAL"
    assert len(seen) == 2


def test_backoff_and_retry_after_rules() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4, max_retry_after=30)
    rng = random.Random(1)
    for retry in range(8):
        assert 0 <= policy.delay(retry, None, rng) <= min(4, 0.5 * 2**retry)
    assert policy.delay(0, 120, rng) == 30, "a Retry-After is honoured up to a ceiling"
    assert retry_after_seconds("7", NOW) == 7
    assert retry_after_seconds("Tue, 24 Nov 2026 01:00:09 GMT", NOW) == 9
    assert retry_after_seconds("soon", NOW) is None
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)


def test_the_cli_sends_with_bounded_retries() -> None:
    for command in ("send", "bulk-send"):
        shown = run_careplan("client", command, "--help")
        assert shown.returncode == 0 and "--attempts" in shown.stdout, shown.stderr
