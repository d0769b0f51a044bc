"""Refusals over the real hub, each with its stable code, the exact message of REQUIREMENTS.md for
the operation (R2.3), an explanation of what exactly was wrong, and nothing stored."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from careplan.certificates import CertificateKind
from careplan.errors import (
    MSG_LOGIN_CERT,
    MSG_RECIPIENT_NOT_LICENSED,
    MSG_SEND_CERT,
    MSG_SEND_FAILED,
    MSG_SENDER_NOT_APPLIED,
    CareplanError,
)
from careplan.manifest import Manifest
from careplan.signature import sign
from client.hubclient import HubClient, client_ssl_context
from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, MISHINSEI, NOW, HubUnderTest, Pki


def _files(sender: str = KYOTAKU.number, recipient: str = HOUMON.number) -> list[tuple[str, bytes]]:
    return list(sample_plan_set(sender=sender, recipient=recipient).items())


async def _refused(hub: HubUnderTest, action: Callable[[], Awaitable[object]]) -> CareplanError:
    with pytest.raises(CareplanError) as caught:
        await action()
    assert await hub.transmission_count() == 0, "a refused transmission must store nothing"
    assert hub.payload_files() == []
    assert caught.value.detail, "every refusal says exactly what was wrong"
    return caught.value


async def _raw(hub: HubUnderTest, method: str, path: str, **kwargs: object) -> tuple[int, dict[str, object]]:
    connector = aiohttp.TCPConnector(ssl=client_ssl_context(hub.config.trusted_ca_file, None))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.request(method, hub.url + path, **kwargs) as response,
    ):  # type: ignore[arg-type]
        return response.status, await response.json()


async def test_no_client_certificate_at_login(hub: HubUnderTest) -> None:
    status, body = await _raw(hub, "POST", "/api/v1/session", json={"user_id": KYOTAKU.user, "password": "x"})
    assert (status, body["code"], body["message"]) == (401, "CERT_MISSING", MSG_LOGIN_CERT)
    assert "no client certificate" in str(body["detail"])


async def test_no_client_certificate_at_send(hub: HubUnderTest) -> None:
    status, body = await _raw(hub, "POST", "/api/v1/transmissions", data=b"x")
    assert (status, body["code"], body["message"]) == (401, "CERT_MISSING", MSG_SEND_CERT)
    assert await hub.transmission_count() == 0


async def test_certificate_from_another_ca(hub: HubUnderTest, foreign_pki: Pki) -> None:
    forged = hub.client(foreign_pki.terminals[KYOTAKU.number])
    async with forged:
        error = await _refused(hub, lambda: forged.login(KYOTAKU.user, KYOTAKU.password))
    assert (error.code, error.message) == ("CERT_UNTRUSTED", MSG_LOGIN_CERT)
    assert "not a CA this hub trusts" in error.detail


async def test_certificate_from_another_ca_at_send(hub: HubUnderTest, foreign_pki: Pki) -> None:
    forged = hub.client(foreign_pki.terminals[KYOTAKU.number])
    async with forged:
        error = await _refused(hub, lambda: forged.send(_files(), to=HOUMON.number))
    assert (error.code, error.message) == ("CERT_UNTRUSTED", MSG_SEND_CERT)


@pytest.mark.parametrize("kind", [CertificateKind.DAIRININ, CertificateKind.SHOGAI])
async def test_certificate_kind_not_accepted(hub: HubUnderTest, kind: CertificateKind) -> None:
    proxy = hub.client(hub.pki.issue(KYOTAKU, kind=kind))
    async with proxy:
        error = await _refused(hub, lambda: proxy.login(KYOTAKU.user, KYOTAKU.password))
        assert (error.code, error.message) == ("CERT_KIND_NOT_ACCEPTED", MSG_LOGIN_CERT)
        assert kind.value in error.detail
        error = await _refused(hub, lambda: proxy.send(_files(), to=HOUMON.number))
        assert (error.code, error.message) == ("CERT_KIND_NOT_ACCEPTED", MSG_SEND_CERT)


async def test_revoked_certificate_takes_effect_on_the_running_hub(hub: HubUnderTest) -> None:
    terminal = hub.pki.issue(KYOTAKU)
    async with hub.client(terminal) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        hub.pki.ca.revoke(terminal.certificate.serial_number, now=dt.datetime.now(dt.UTC))
        error = await _refused(hub, lambda: client.send(_files(), to=HOUMON.number))
    assert (error.code, error.message) == ("CERT_REVOKED", MSG_SEND_CERT)
    assert f"{terminal.certificate.serial_number:x}" in error.detail


async def test_expired_certificate_judged_on_the_hub_clock(hub: HubUnderTest) -> None:
    async with hub.client(KYOTAKU) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        hub.clock.set(NOW + dt.timedelta(days=731), frozen=True)
        error = await _refused(hub, lambda: client.send(_files(), to=HOUMON.number))
    assert (error.code, error.message) == ("CERT_EXPIRED", MSG_SEND_CERT)


async def test_signature_by_another_office(hub: HubUnderTest) -> None:
    files = _files()
    other = hub.pki.terminals[HOUMON.number]
    manifest = Manifest.build(
        transmission_id="a" * 32,
        sender=KYOTAKU.number,
        recipient=HOUMON.number,
        signed_at=dt.datetime.now(dt.UTC),
        files=files,
    ).to_bytes()
    forged_signature = sign(manifest, other.certificate, other.key)
    async with hub.client(KYOTAKU) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        error = await _refused(hub, lambda: client.upload(manifest, forged_signature, files))
    assert (error.code, error.message) == ("SIGNER_MISMATCH", MSG_SEND_CERT)
    assert f"signed by office {HOUMON.number}" in error.detail


async def test_manifest_claiming_another_sender(hub: HubUnderTest) -> None:
    files = _files(sender=HOUMON.number, recipient=KYOTAKU.number)
    async with hub.client(KYOTAKU) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        me = hub.pki.terminals[KYOTAKU.number]
        manifest = Manifest.build(
            transmission_id="b" * 32,
            sender=HOUMON.number,
            recipient=KYOTAKU.number,
            signed_at=dt.datetime.now(dt.UTC),
            files=files,
        ).to_bytes()
        error = await _refused(hub, lambda: client.upload(manifest, sign(manifest, me.certificate, me.key), files))
    assert error.code == "SIGNER_MISMATCH"
    assert f"claims sender {HOUMON.number}" in error.detail


async def test_tampered_file(hub: HubUnderTest) -> None:
    files = _files()
    async with hub.client(KYOTAKU) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        manifest, signature = client.prepare(files, to=HOUMON.number)
        name, data = files[0]
        tampered = [(name, data.replace(b"202504", b"202505", 1)), *files[1:]]
        error = await _refused(hub, lambda: client.upload(manifest, signature, tampered))
    assert (error.code, error.message) == ("FILE_TAMPERED", MSG_SEND_FAILED)
    assert name in error.detail


async def test_tampered_manifest(hub: HubUnderTest) -> None:
    files = _files()
    async with hub.client(KYOTAKU) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        manifest, signature = client.prepare(files, to=HOUMON.number)
        changed = manifest.replace(HOUMON.number.encode(), MISHINSEI.number.encode())
        error = await _refused(hub, lambda: client.upload(changed, signature, files))
    assert (error.code, error.message) == ("SIGNATURE_INVALID", MSG_SEND_FAILED)


async def test_replayed_transmission(hub: HubUnderTest) -> None:
    files = _files()
    async with hub.client(KYOTAKU) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        manifest, signature = client.prepare(files, to=HOUMON.number)
        await client.upload(manifest, signature, files)
        with pytest.raises(CareplanError) as caught:
            await client.upload(manifest, signature, files)
    assert (caught.value.code, caught.value.message, caught.value.status) == ("REPLAY", MSG_SEND_FAILED, 409)
    assert await hub.transmission_count() == 1


async def test_login_with_another_offices_user(hub: HubUnderTest) -> None:
    async with hub.client(KYOTAKU) as client:
        error = await _refused(hub, lambda: client.login(HOUMON.user, HOUMON.password))
    assert (error.code, error.message) == ("CERT_OFFICE_MISMATCH", MSG_LOGIN_CERT)
    assert HOUMON.number in error.detail and KYOTAKU.number in error.detail


async def test_session_used_with_another_certificate(hub: HubUnderTest) -> None:
    async with hub.client(KYOTAKU) as first:
        await first.login(KYOTAKU.user, KYOTAKU.password)
        token = first.token
    thief = HubClient(
        url=hub.url, ca_file=hub.config.trusted_ca_file, keypair=hub.pki.terminals[HOUMON.number], token=token
    )
    async with thief:
        error = await _refused(hub, lambda: thief.sent())
    assert (error.code, error.message) == ("CERT_OFFICE_MISMATCH", MSG_SEND_CERT)


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
    status, body = await _raw(hub, "GET", "/admin/v1/audit", headers={"Authorization": "Bearer test-admin-token"})
    assert status == 200
    assert body["refusals"][0]["code"] == "CERT_OFFICE_MISMATCH"  # type: ignore[index]


async def test_unknown_route_and_malformed_body_are_catalogue_errors(hub: HubUnderTest) -> None:
    status, body = await _raw(hub, "GET", "/api/v1/nothing")
    assert (status, body["code"]) == (404, "NOT_FOUND")
    context = client_ssl_context(hub.config.trusted_ca_file, hub.pki.terminals[KYOTAKU.number])
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session,
        session.post(hub.url + "/api/v1/session", data=b"{not json") as response,
    ):
        assert response.status == 400
        assert (await response.json())["code"] == "BAD_REQUEST"
