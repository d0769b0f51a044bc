"""GET /metrics, X-Request-Id and JSON logs, over a real hub on loopback with mutual TLS: the counters
move with the right labels after sends, downloads and refusals; only scrapers with a token read them;
labels stay bounded; log lines carry the id the answer had."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from cryptography.hazmat.primitives import serialization
from multidict import CIMultiDict
from prometheus_client.parser import text_string_to_metric_families

from careplan.certificates import KeyPair
from careplan.errors import CareplanError
from client.hubclient import client_ssl_context
from fixtures.samples import sample_plan_set
from hub.config import HubConfig
from hub.keys import CONFIG
from hub.logformat import JsonFormatter
from hub.scrape import check_scraper
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest, Pki, hub_with, prepare_data_dir

ADMIN = {"Authorization": "Bearer test-admin-token"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _connector(hub: HubUnderTest, cert: tuple[Path, Path] | None = None) -> aiohttp.TCPConnector:
    context = client_ssl_context(hub.config.trusted_ca_file, None)
    if cert is not None:
        context.load_cert_chain(*cert)
    return aiohttp.TCPConnector(ssl=context)


async def _get(
    hub: HubUnderTest, path: str, headers: dict[str, str] | None = None, *, follow: bool = True
) -> tuple[int, str, CIMultiDict[str]]:
    async with (
        aiohttp.ClientSession(connector=_connector(hub)) as session,
        session.get(hub.url + path, headers=headers or {}, allow_redirects=follow) as response,
    ):
        return response.status, await response.text(), response.headers.copy()


async def scrape(hub: HubUnderTest, headers: dict[str, str] = ADMIN) -> Samples:
    status, text, answer = await _get(hub, "/metrics", headers)
    assert status == 200, text
    assert answer["Content-Type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def labels_of(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(key)[label] for n, key in samples if n == name}


async def test_send_download_and_refusals_move_the_counters(hub: HubUnderTest, tmp_path: Path) -> None:
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    size = sum(len(data) for data in files.values())
    async with hub.client(KYOTAKU) as kyotaku, hub.client(HOUMON) as houmon:
        with pytest.raises(CareplanError):
            await kyotaku.login(KYOTAKU.user, "wrong-password")
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await houmon.login(HOUMON.user, HOUMON.password)
        tid = (await kyotaku.send(list(files.items()), to=HOUMON.number))["transmission_id"]

        sent = await scrape(hub)
        assert value(sent, "careplan_hub_transmissions", state="pending") == 1
        assert value(sent, "careplan_hub_payload_bytes_pending") == size

        await houmon.download(tid, tmp_path / "got")
        with pytest.raises(CareplanError):
            await houmon.download(tid, tmp_path / "again")
    after = await scrape(hub)

    submit = "POST /api/v1/transmissions"
    assert value(after, "careplan_hub_requests_total", route=submit, status="201", code="") == 1
    assert value(after, "careplan_hub_submit_duration_seconds_count", outcome="stored") == 1
    assert value(after, "careplan_hub_payload_bytes_stored_total") == size
    login = "POST /api/v1/session"
    assert value(after, "careplan_hub_requests_total", route=login, status="401", code="LOGIN_FAILED") == 1
    assert value(after, "careplan_hub_login_failures_total", route=login, code="LOGIN_FAILED") == 1
    info = "GET /api/v1/inbox/{transmission_id}"
    assert value(after, "careplan_hub_requests_total", route=info, status="200", code="") == 1
    assert value(after, "careplan_hub_requests_total", route=info, status="410", code="ALREADY_DOWNLOADED") == 1
    assert value(after, "careplan_hub_request_duration_seconds_count", route=info) == 2
    assert value(after, "careplan_hub_transmissions", state="pending") == 0
    assert value(after, "careplan_hub_transmissions", state="downloaded") == 1
    assert value(after, "careplan_hub_payload_bytes_pending") == 0
    # Every write transaction is one commit until group commit: logins, the submit, the receipt.
    commits = value(after, "careplan_hub_commit_batch_size_count")
    assert commits >= 4 and value(after, "careplan_hub_commit_batch_size_bucket", le="1.0") == commits
    [node] = labels_of(after, "careplan_hub_node_info", "node")
    assert re.fullmatch(rf"[^:]+:{hub.running.port}/\d+", node), node
    assert labels_of(after, "careplan_hub_connections_refused_total", "reason") == {"tls_handshake", "busy", "slow"}
    assert not any(tid in str(key) for key in after), "a raw path leaked into a label"


async def test_unknown_and_varying_paths_collapse_to_their_route(hub: HubUnderTest) -> None:
    for n in range(20):
        await _get(hub, f"/no/such/page/{n}")
        await _get(hub, f"/api/v1/inbox/{n:032x}")  # no certificate: refused, under the route's template
    samples = await scrape(hub)
    routes = labels_of(samples, "careplan_hub_requests_total", "route")
    assert "unmatched" in routes and "GET /api/v1/inbox/{transmission_id}" in routes
    assert not any("/no/such" in r or re.search(r"[0-9a-f]{32}", r) for r in routes), routes
    assert value(samples, "careplan_hub_requests_total", route="unmatched", status="404", code="NOT_FOUND") == 20
    certless = value(
        samples,
        "careplan_hub_requests_total",
        route="GET /api/v1/inbox/{transmission_id}",
        status="401",
        code="CERT_MISSING",
    )
    assert certless == 20


async def test_only_scrapers_with_a_token_read_the_metrics(tmp_path: Path, pki: Pki) -> None:
    async with hub_with(tmp_path, pki, metrics_token="scraper-token") as hub:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic test-admin-token"}):
            status, text, _ = await _get(hub, "/metrics", headers)
            assert status == 403 and json.loads(text)["code"] == "ADMIN_FORBIDDEN", headers
        await scrape(hub, ADMIN)  # admin token from loopback
        samples = await scrape(hub, {"Authorization": "Bearer scraper-token"})
        assert (
            value(samples, "careplan_hub_requests_total", route="GET /metrics", status="403", code="ADMIN_FORBIDDEN")
            == 3
        )
        status, text, answer = await _get(hub, "/metrics", {**ADMIN, "Accept": "application/openmetrics-text"})
        assert status == 200 and answer["Content-Type"].startswith("application/openmetrics-text")
        assert text.endswith("# EOF\n")


def test_the_metrics_token_works_from_afar_the_admin_token_only_from_loopback() -> None:
    app = web.Application()
    app[CONFIG] = HubConfig(data_dir=Path("unused"), admin_token="admin", metrics_token="scrape")

    def allowed(address: str, token: str) -> bool:
        transport = mock.Mock()
        transport.get_extra_info.side_effect = lambda name, default=None: (
            (address, 40000) if name == "peername" else default
        )
        headers = {"Authorization": f"Bearer {token}"}
        request = make_mocked_request("GET", "/metrics", headers=headers, transport=transport, app=app)
        try:
            check_scraper(request)
        except CareplanError as error:
            assert error.code == "ADMIN_FORBIDDEN"
            return False
        return True

    assert allowed("203.0.113.7", "scrape") and allowed("127.0.0.1", "scrape")
    assert allowed("127.0.0.1", "admin") and not allowed("203.0.113.7", "admin")
    assert not allowed("127.0.0.1", "") and not allowed("203.0.113.7", "nope")


async def test_every_answer_carries_a_request_id(hub: HubUnderTest) -> None:
    _, _, answer = await _get(hub, "/healthz", {"X-Request-Id": "vendor-trace:42.a_b"})
    assert answer["X-Request-Id"] == "vendor-trace:42.a_b"
    ids = set()
    for given in (None, "has space", "x" * 129, "semi;colon"):
        _, _, answer = await _get(hub, "/healthz", {"X-Request-Id": given} if given else {})
        assert re.fullmatch(r"[0-9a-f]{32}", answer["X-Request-Id"]), given
        ids.add(answer["X-Request-Id"])
    assert len(ids) == 4
    status, _, answer = await _get(hub, "/web", follow=False)  # a redirect raised by the usage website
    assert status == 303 and "X-Request-Id" in answer
    _, _, answer = await _get(hub, "/no/such/page")
    assert "X-Request-Id" in answer


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The hub's log lines as the JSON formatter writes them, for the time of one test."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter(node="test-node"))
    hub_logger = logging.getLogger("hub")
    level = hub_logger.level
    hub_logger.addHandler(handler)
    hub_logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        hub_logger.removeHandler(handler)
        hub_logger.setLevel(level)


async def test_json_log_lines_carry_the_request_id_of_the_answer(hub: HubUnderTest, json_log: io.StringIO) -> None:
    status, _, answer = await _get(hub, "/api/v1/session")  # no certificate: refused and logged
    assert status == 401
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    [refusal] = [entry for entry in lines if "CERT_MISSING" in entry["message"]]
    assert refusal["request_id"] == answer["X-Request-Id"]
    assert set(refusal) == {"time", "level", "logger", "message", "request_id", "node"}
    assert refusal["level"] == "INFO" and refusal["logger"] == "hub.middleware" and refusal["node"] == "test-node"


def test_the_json_formatter_writes_one_line_and_nothing_extra() -> None:
    record = logging.LogRecord("hub.service", logging.ERROR, __file__, 1, "two\nlines %s", ("x",), None)
    record.file_value = "山田太郎"  # an `extra` attribute: never written
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line and "山田太郎" not in line
    entry = json.loads(line)
    assert entry["message"] == "two\nlines x" and entry["request_id"] is None and entry["node"] is None
    assert "ValueError: boom" in entry["exception"]


async def test_refused_tls_handshakes_are_counted(tmp_path: Path, pki: Pki, foreign_pki: Pki) -> None:
    forged = _pem_files(foreign_pki.terminals[KYOTAKU.number], tmp_path)  # its CA is not trusted: no handshake
    async with hub_with(tmp_path, pki, header_timeout=0.5) as hub:
        for _ in range(2):
            assert await _handshake_refused(hub, forged)
        deadline = time.monotonic() + 10
        while True:  # counted by the connection sweep once header_timeout has passed
            samples = await scrape(hub)
            refused = value(samples, "careplan_hub_connections_refused_total", reason="tls_handshake")
            if refused >= 2 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert refused == 2, "each forged handshake counts once; the scrapes' own handshakes not at all"


async def _handshake_refused(hub: HubUnderTest, cert: tuple[Path, Path]) -> bool:
    """One TLS connection with `cert`: True if the hub closed it without an answer. (Under TLS 1.3
    the client's side of the handshake ends before the hub judges its certificate.)"""
    context = client_ssl_context(hub.config.trusted_ca_file, None)
    context.load_cert_chain(*cert)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", hub.running.port, ssl=context)
    except (ssl.SSLError, ConnectionError):
        return True
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 10)
    except (ssl.SSLError, ConnectionError):
        return True
    finally:
        writer.close()
    return answer == b""


def _pem_files(pair: KeyPair, directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "client.pem", directory / "client-key.pem"
    cert.write_bytes(pair.certificate.public_bytes(serialization.Encoding.PEM))
    plain = serialization.NoEncryption()
    key.write_bytes(pair.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, plain))
    return cert, key


@pytest.mark.slow
def test_hub_serve_writes_json_logs(tmp_path: Path, pki: Pki) -> None:
    data = tmp_path / "hub"
    prepare_data_dir(data, pki)
    process = subprocess.Popen(
        [sys.executable, "-m", "careplan_cli.main", "hub", "--data", str(data), "serve", "--port", "0",
         "--log-format", "json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (data / "hub.json").exists():
            assert process.poll() is None and time.monotonic() < deadline, "the hub did not start"
            time.sleep(0.05)
        url = json.loads((data / "hub.json").read_text())["url"]
        context = ssl.create_default_context(cafile=str(data / "ca" / "ca.pem"))
        request = urllib.request.Request(url + "/api/v1/session", headers={"X-Request-Id": "cli-json-1"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, context=context, timeout=10)
        refused.value.close()
        assert refused.value.headers["X-Request-Id"] == "cli-json-1"
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]  # every line is one object
    [refusal] = [entry for entry in lines if entry["request_id"] == "cli-json-1"]
    assert "CERT_MISSING" in refusal["message"]
    assert refusal["node"] == f"{socket.gethostname()}:{url.rsplit(':', 1)[1]}/{process.pid}"


def test_careplan_up_takes_the_log_format() -> None:
    from careplan_cli.up import _parser

    assert _parser().parse_args(["--log-format", "json"]).log_format == "json"
    assert _parser().parse_args([]).log_format == "text"
