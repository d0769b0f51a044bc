"""Hygiene of the hub (issue 4 §4): TLS 1.2 or newer only, the admin API behind its token and
loopback, body limits applied before the body is read, and safe file names."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import ssl
import warnings
from unittest import mock

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request

from careplan.errors import CareplanError
from careplan.signature import sign
from client.hubclient import client_ssl_context
from hub.config import HubConfig
from hub.keys import CONFIG, require_admin
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
async def test_tls_below_1_2_is_refused(hub: HubUnderTest, version: ssl.TLSVersion) -> None:
    old = client_ssl_context(hub.config.trusted_ca_file, None)
    with warnings.catch_warnings():  # Python warns that these versions are deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        old.maximum_version = version
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer it, so the hub is what refuses
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=old)) as session:
        with pytest.raises(aiohttp.ClientConnectorError):
            await session.get(hub.url + "/healthz")


async def test_tls_1_2_is_accepted(hub: HubUnderTest) -> None:
    context = client_ssl_context(hub.config.trusted_ca_file, None)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session,
        session.get(hub.url + "/healthz") as response,
    ):
        assert response.status == 200


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 403),
        ("Bearer wrong", 403),
        ("Basic test-admin-token", 403),
        ("bearer test-admin-token", 200),
    ],
)
async def test_admin_api_needs_its_token(hub: HubUnderTest, header: str | None, status: int) -> None:
    answer = await hub.raw("GET", "/admin/v1/offices", headers={"Authorization": header} if header else {})
    assert answer[0] == status
    if status == 403:
        assert answer[1]["code"] == "ADMIN_FORBIDDEN"


@pytest.mark.parametrize("peer", ["10.0.0.5", "192.168.1.20", "203.0.113.9"])
def test_admin_api_refuses_peers_off_loopback_even_with_the_token(peer: str, tmp_path: object) -> None:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (peer, 50000) if name == "peername" else default
    request = make_mocked_request(
        "GET", "/admin/v1/offices", headers={"Authorization": "Bearer t"}, transport=transport
    )
    request.app[CONFIG] = HubConfig(data_dir=tmp_path, admin_token="t")  # type: ignore[arg-type]
    with pytest.raises(CareplanError) as caught:
        require_admin(request)
    assert caught.value.code == "ADMIN_FORBIDDEN"


async def test_a_declared_oversize_body_is_refused_before_it_is_read(hub: HubUnderTest) -> None:
    pair = hub.pki.terminals[KYOTAKU.number]
    async with hub.client(pair) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        token = client.token
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", hub.running.port, ssl=client_ssl_context(hub.config.trusted_ca_file, pair)
    )
    writer.write(
        b"POST /api/v1/transmissions HTTP/1.1\r\nHost: hub\r\n"
        + f"Authorization: Bearer {token}\r\n".encode()
        + b"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 999999999\r\n\r\n"
    )  # and not one byte of the body
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
    assert head.startswith(b"HTTP/1.1 413")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    body = json.loads(await asyncio.wait_for(reader.readexactly(length), timeout=10))
    assert body["code"] == "TRANSMISSION_TOO_LARGE"
    writer.close()
    assert await hub.transmission_count() == 0


UNSAFE_NAMES = {
    "path traversal": "../../etc/passwd",
    "absolute path": "/etc/passwd",
    "sub-folder": "plans/UPPLAN.CSV",
    "windows path": "C:\\plans\\UPPLAN.CSV",
    "control character": "UPPLAN\x07.CSV",
    "newline": "UPPLAN\n.CSV",
    "right-to-left override": "plan\u202eVSC.exe",
    "overlong": "A" * 252 + ".CSV",
    "fullwidth solidus": "..／..／etc／passwd",
    "division slash": "..∕secret.CSV",
    "fullwidth reverse solidus": "plans＼UPPLAN.CSV",
    "two dot leader": "‥",
    "reserved character": "plan?.CSV",
}


@pytest.mark.parametrize("name", list(UNSAFE_NAMES.values()), ids=list(UNSAFE_NAMES))
async def test_unsafe_file_names_are_refused(hub: HubUnderTest, name: str) -> None:
    data = b"memo"
    manifest = json.dumps(
        {
            "version": 1,
            "transmission_id": "e" * 32,
            "sender": KYOTAKU.number,
            "recipient": HOUMON.number,
            "signed_at": dt.datetime.now(dt.UTC).isoformat(),
            "files": [{"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}],
        },
        ensure_ascii=False,
    ).encode()
    pair = hub.pki.terminals[KYOTAKU.number]
    async with hub.client(pair) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        with pytest.raises(CareplanError) as caught:
            await client.upload(manifest, sign(manifest, pair.certificate, pair.key), [("memo.txt", data)])
    assert caught.value.code == "MANIFEST_INVALID"
    assert "file name" in caught.value.detail or "255" in caught.value.detail
    assert await hub.transmission_count() == 0
    assert hub.payload_files() == []
