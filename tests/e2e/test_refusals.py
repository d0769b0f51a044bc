"""Refusals over the real hub, each with its stable code, the exact message of REQUIREMENTS.md for
the operation (R2.3), an explanation of what exactly was wrong, and nothing stored. The full
impersonation matrix is test_impersonation.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from careplan.errors import (
    MSG_LOGIN_CERT,
    MSG_RECIPIENT_NOT_LICENSED,
    MSG_SEND_CERT,
    MSG_SENDER_NOT_APPLIED,
    CareplanError,
)
from client.hubclient import client_ssl_context
from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, MISHINSEI, HubUnderTest, Pki


def _files(sender: str = KYOTAKU.number, recipient: str = HOUMON.number) -> list[tuple[str, bytes]]:
    return list(sample_plan_set(sender=sender, recipient=recipient).items())


async def _refused(hub: HubUnderTest, action: Callable[[], Awaitable[object]]) -> CareplanError:
    with pytest.raises(CareplanError) as caught:
        await action()
    assert await hub.transmission_count() == 0, "a refused transmission must store nothing"
    assert hub.payload_files() == []
    assert caught.value.detail, "every refusal says exactly what was wrong"
    return caught.value


async def test_no_client_certificate_at_login(hub: HubUnderTest) -> None:
    status, body = await hub.raw("POST", "/api/v1/session", json={"user_id": KYOTAKU.user, "password": "x"})
    assert (status, body["code"], body["message"]) == (401, "CERT_MISSING", MSG_LOGIN_CERT)
    assert "no client certificate" in str(body["detail"])


async def test_no_client_certificate_at_send(hub: HubUnderTest) -> None:
    status, body = await hub.raw("POST", "/api/v1/transmissions", data=b"x")
    assert (status, body["code"], body["message"]) == (401, "CERT_MISSING", MSG_SEND_CERT)
    assert await hub.transmission_count() == 0


async def test_certificate_from_another_ca_at_send(hub: HubUnderTest, foreign_pki: Pki) -> None:
    forged = hub.client(foreign_pki.terminals[KYOTAKU.number])
    async with forged:
        error = await _refused(hub, lambda: forged.send(_files(), to=HOUMON.number))
    assert (error.code, error.message) == ("CERT_UNTRUSTED", MSG_SEND_CERT)


async def test_revoked_certificate_takes_effect_on_the_running_hub(hub: HubUnderTest) -> None:
    terminal = hub.pki.issue(KYOTAKU)
    async with hub.client(terminal) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        hub.pki.ca.revoke(terminal.certificate.serial_number, now=dt.datetime.now(dt.UTC))
        error = await _refused(hub, lambda: client.send(_files(), to=HOUMON.number))
    assert (error.code, error.message) == ("CERT_REVOKED", MSG_SEND_CERT)
    assert f"{terminal.certificate.serial_number:x}" in error.detail


async def test_sender_without_application(hub: HubUnderTest) -> None:
    async with hub.client(MISHINSEI) as client:
        await client.login(MISHINSEI.user, MISHINSEI.password)
        error = await _refused(hub, lambda: client.send(_files(MISHINSEI.number, HOUMON.number), to=HOUMON.number))
    assert (error.code, error.message) == ("SENDER_NOT_APPLIED", MSG_SENDER_NOT_APPLIED)


async def test_recipient_without_licence(hub: HubUnderTest) -> None:
    async with hub.client(KYOTAKU) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        error = await _refused(hub, lambda: client.send(_files(KYOTAKU.number, MISHINSEI.number), to=MISHINSEI.number))
    assert (error.code, error.message) == ("RECIPIENT_NOT_LICENSED", MSG_RECIPIENT_NOT_LICENSED)


async def test_wrong_password(hub: HubUnderTest) -> None:
    async with hub.client(KYOTAKU) as client:
        error = await _refused(hub, lambda: client.login(KYOTAKU.user, "wrong"))
    assert error.code == "LOGIN_FAILED"


async def test_refusals_are_audited(hub: HubUnderTest) -> None:
    async with hub.client(KYOTAKU) as client:
        with pytest.raises(CareplanError):
            await client.login(HOUMON.user, HOUMON.password)
    status, body = await hub.raw("GET", "/admin/v1/audit", headers={"Authorization": "Bearer test-admin-token"})
    assert status == 200
    assert body["refusals"][0]["code"] == "CERT_OFFICE_MISMATCH"  # type: ignore[index]


async def test_unknown_route_and_malformed_body_are_catalogue_errors(hub: HubUnderTest) -> None:
    status, body = await hub.raw("GET", "/api/v1/nothing")
    assert (status, body["code"]) == (404, "NOT_FOUND")
    context = client_ssl_context(hub.config.trusted_ca_file, hub.pki.terminals[KYOTAKU.number])
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session,
        session.post(hub.url + "/api/v1/session", data=b"{not json") as response,
    ):
        assert response.status == 400
        assert (await response.json())["code"] == "BAD_REQUEST"
