"""Malformed requests over every POST route of a real hub (issue 9 §4), on both backends: 2,100 of them,
every multipart shape of `tests/e2e/malformed.py` on every route, through mutual TLS with a client
certificate and a session. Not one answer of 500 or more, every JSON answer a catalogue code with a
fix, no traceback in the log, the hub healthy afterwards and nothing stored."""

from __future__ import annotations

import asyncio
import collections
import io
import json
import logging
import re
import ssl
import time
from pathlib import Path

import aiohttp
import pytest

from careplan.errors import CATALOGUE
from client.hubclient import client_ssl_context
from tests.conftest import KYOTAKU, HubUnderTest, Pki, hub_with
from tests.e2e.malformed import SHAPES, Case, cases, raw_requests

COUNT = 2_100
CONCURRENCY = 8
DEADLINE_SECONDS = 60
ADMIN = {"Authorization": "Bearer test-admin-token"}


def _post_paths(hub: HubUnderTest) -> list[str]:
    """Every POST route of the running hub, path parameters filled with plausible values."""
    paths = set()
    for route in hub.running.app.router.routes():
        if route.method != "POST":
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        template = info.get("path") or info.get("formatter", "")
        paths.add(re.sub(r"\{([^}:]+)(:[^}]*)?\}", lambda m: "0" if "position" in m[1] else "f" * 32, template))
    return sorted(paths)


async def _session_token(hub: HubUnderTest) -> str:
    async with hub.client(KYOTAKU) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        assert client.token is not None
        return client.token


async def _web_session_cookie(hub: HubUnderTest) -> str:
    """The usage website's cookies after a real login through its form, as one Cookie header."""
    jar = aiohttp.CookieJar(unsafe=True)
    connector = aiohttp.TCPConnector(ssl=client_ssl_context(hub.config.trusted_ca_file, None))
    async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as session:
        async with session.get(hub.url + "/web/login") as page:
            found = re.search(r'name="csrf" value="([^"]+)"', await page.text())
        form = {"csrf": found[1] if found else "", "user_id": KYOTAKU.user, "password": KYOTAKU.password}
        async with session.post(hub.url + "/web/login", data=form, allow_redirects=False) as answer:
            assert answer.status == 303, "the fuzz needs a web session"
        return "; ".join(f"{c.key}={c.value}" for c in jar)


async def _post(
    session: aiohttp.ClientSession, url: str, case: Case, headers: dict[str, str]
) -> tuple[int, dict[str, object] | None]:
    data = io.BytesIO(case.body) if len(case.body) > 512 * 1024 else case.body  # aiohttp warns on large bytes
    async with session.post(
        url, data=data, headers=case.headers | headers, skip_auto_headers=["Content-Type"], allow_redirects=False
    ) as response:
        body = await response.read()
        if response.content_type == "application/json":
            return response.status, json.loads(body)
        return response.status, None


async def _raw(hub: HubUnderTest, context: ssl.SSLContext, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.running.port, ssl=context)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(4096), timeout=20)
    except (ConnectionError, ssl.SSLError):
        return b""
    finally:
        writer.close()


def _raw_answer_is_a_refusal(answer: bytes) -> bool:
    """A 4xx; in JSON with a catalogue code, except aiohttp's own 417 for an unknown Expect."""
    if not answer:
        return True  # closed without a word: allowed for bytes that are not HTTP at all
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    if not 400 <= status < 500:
        return False
    if status == 417 or b"text/html" in head:
        return True  # aiohttp's answer to an unknown Expect; the website's own refusal pages
    try:
        return json.loads(body)["code"] in CATALOGUE
    except ValueError:
        return False


@pytest.fixture
async def fuzz_hub(tmp_path: Path, pki: Pki, database_url: str) -> HubUnderTest:  # type: ignore[misc]
    # the doors' rate limits high, so that the bodies behind them are parsed (test_limits checks them)
    unlimited = {
        "web_login_per_minute": 10**6,
        "correction_per_minute": 10**6,
        "certless_per_minute": 10**6,
        "corrections_per_address_per_day": 10**6,
    }
    async with hub_with(tmp_path, pki, database_url=database_url, **unlimited) as hub:
        yield hub


async def test_malformed_requests_are_4xx_with_a_code_and_change_nothing(
    fuzz_hub: HubUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    hub = fuzz_hub
    caplog.set_level(logging.INFO)
    token = await _session_token(hub)
    paths = _post_paths(hub)
    assert {"/api/v1/transmissions", "/api/v1/session", "/web/login", "/directory/correction"} <= set(paths)
    auth = {"Authorization": f"Bearer {token}", "Cookie": await _web_session_cookie(hub)}
    context = client_ssl_context(hub.config.trusted_ca_file, hub.pki.terminals[KYOTAKU.number])
    statuses: collections.Counter[int] = collections.Counter()
    codes: collections.Counter[str] = collections.Counter()
    failures: list[str] = []
    queue = list(enumerate(cases(COUNT)))
    started = time.monotonic()

    async def worker() -> None:
        connector = aiohttp.TCPConnector(ssl=context, limit=1)
        async with aiohttp.ClientSession(connector=connector) as session:
            while queue and time.monotonic() - started < DEADLINE_SECONDS:
                index, case = queue.pop()
                path = paths[(index // len(SHAPES)) % len(paths)]
                headers = ADMIN if path.startswith("/admin/") else auth
                try:
                    status, body = await _post(session, hub.url + path, case, headers)
                except aiohttp.ClientError as exc:
                    failures.append(f"#{index} {case.shape} {path}: {type(exc).__name__} {exc}")
                    continue
                statuses[status] += 1
                codes[str(body.get("code")) if body else "(html)"] += 1
                if status >= 500:
                    failures.append(f"#{index} {case.shape} {path}: {status} {body}")
                elif body is not None and (body.get("code") not in CATALOGUE or not body.get("fix")):
                    failures.append(f"#{index} {case.shape} {path}: {status} without a code and fix: {body}")

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    assert not queue, f"only {COUNT - len(queue)} requests within {DEADLINE_SECONDS} s"
    for path in ("/api/v1/transmissions", "/web/login", "/directory/correction"):
        for request in raw_requests(path, "hub"):
            answer = await _raw(hub, context, request)
            if not _raw_answer_is_a_refusal(answer):
                failures.append(f"raw {request[:60]!r}: {answer[:300]!r}")
    print(f"{sum(statuses.values())} requests in {time.monotonic() - started:.1f} s: {dict(statuses)} {dict(codes)}")
    assert not failures, "\n".join(failures[:40]) + f"\n… {len(failures)} in all"
    assert all(status < 500 for status in statuses)
    tracebacks = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not tracebacks, tracebacks[0].getMessage()
    refusal_lines = [r for r in caplog.records if r.getMessage().startswith("refused")]
    assert len(refusal_lines) <= 3 * len(codes), f"{len(refusal_lines)} log lines: one per code and peer a minute"
    status, health = await hub.raw("GET", "/healthz")
    assert (status, health["status"]) == (200, "ok")
    assert await hub.transmission_count() == 0
    assert hub.payload_files() == []
    assert await _count(hub, "directory_corrections") == 0
    # refusals are audited up to audit_burst per (peer, code) a minute, the rest counted
    audited = await _count(hub, "audit")
    assert audited <= hub.config.audit_burst * len(codes) * 2, f"{audited} audit rows for {sum(statuses.values())}"


async def _count(hub: HubUnderTest, table: str) -> int:
    row = await hub.service.db.fetch_one(f"SELECT count(*) FROM {table}")
    assert row is not None
    return int(row[0])
