"""The impersonation matrix (R2): every attempt through the real hub over mutual TLS is refused with
its stable code, the exact message of R2.3 for the operation (login, send or receive), a detail
naming exactly what was wrong — and nothing is stored or delivered."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from ca.authority import CertificateAuthority
from careplan.certificates import CertificateKind, KeyPair
from careplan.errors import (
    MSG_COMBINATION_INVALID,
    MSG_LOGIN_CERT,
    MSG_RECEIVE_CERT,
    MSG_SEND_CERT,
    MSG_SEND_FAILED,
    CareplanError,
)
from careplan.manifest import Manifest
from careplan.signature import sign
from client.hubclient import HubClient
from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, TSUSHO, HubUnderTest, Pki

Attempt = Callable[[HubUnderTest, Pki], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Row:
    attempt: Attempt
    code: str
    message: str
    detail: str  # a piece of the detail that names what exactly was wrong


MATRIX: dict[str, Row] = {}


def row(name: str, code: str, message: str, detail: str) -> Callable[[Attempt], Attempt]:
    def register(attempt: Attempt) -> Attempt:
        MATRIX[name] = Row(attempt, code, message, detail)
        return attempt

    return register


def _files(recipient: str = HOUMON.number) -> list[tuple[str, bytes]]:
    return list(sample_plan_set(sender=KYOTAKU.number, recipient=recipient).items())


def _manifest(
    files: list[tuple[str, bytes]],
    *,
    sender: str = KYOTAKU.number,
    recipient: str = HOUMON.number,
    transmission_id: str = "d" * 32,
    signed_at: dt.datetime | None = None,
) -> bytes:
    return Manifest.build(
        transmission_id=transmission_id,
        sender=sender,
        recipient=recipient,
        signed_at=signed_at or dt.datetime.now(dt.UTC),
        files=files,
    ).to_bytes()


def _signed(pair: KeyPair, manifest: bytes) -> bytes:
    return sign(manifest, pair.certificate, pair.key)


async def _login_with(hub: HubUnderTest, pair: KeyPair, office: object = KYOTAKU) -> object:
    async with hub.client(pair) as client:
        return await client.login(office.user, office.password)  # type: ignore[attr-defined]


async def _logged_in_send(
    hub: HubUnderTest, pair: KeyPair, manifest: bytes, signature: bytes, files: list[tuple[str, bytes]]
) -> object:
    async with hub.client(pair) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        return await client.upload(manifest, signature, files)


# --- identity and certificate kind -------------------------------------------------------------
@row("tls-office-A-login-as-office-B", "CERT_OFFICE_MISMATCH", MSG_LOGIN_CERT, f"belongs to office {HOUMON.number}")
async def _a(hub: HubUnderTest, pki: Pki) -> object:
    return await _login_with(hub, pki.terminals[KYOTAKU.number], HOUMON)


@row("signature-by-A-claiming-sender-B", "SIGNER_MISMATCH", MSG_SEND_CERT, f"claims sender {HOUMON.number}")
async def _b(hub: HubUnderTest, pki: Pki) -> object:
    files = list(sample_plan_set(sender=HOUMON.number, recipient=TSUSHO.number).items())
    manifest = _manifest(files, sender=HOUMON.number, recipient=TSUSHO.number)
    me = pki.terminals[KYOTAKU.number]
    return await _logged_in_send(hub, me, manifest, _signed(me, manifest), files)


@row("signature-by-another-office", "SIGNER_MISMATCH", MSG_SEND_CERT, f"signed by office {HOUMON.number}")
async def _c(hub: HubUnderTest, pki: Pki) -> object:
    files = _files()
    manifest = _manifest(files)
    return await _logged_in_send(
        hub, pki.terminals[KYOTAKU.number], manifest, _signed(pki.terminals[HOUMON.number], manifest), files
    )


@row("signer-certificate-differs-from-tls-certificate", "SIGNER_MISMATCH", MSG_SEND_CERT, "but connected with serial")
async def _d(hub: HubUnderTest, pki: Pki) -> object:
    files = _files()
    manifest = _manifest(files)
    other_terminal = pki.issue(KYOTAKU)  # same office, another certificate
    return await _logged_in_send(hub, pki.terminals[KYOTAKU.number], manifest, _signed(other_terminal, manifest), files)


@row("dairinin-certificate-at-login", "CERT_KIND_NOT_ACCEPTED", MSG_LOGIN_CERT, "代理人証明書")
async def _e(hub: HubUnderTest, pki: Pki) -> object:
    return await _login_with(hub, pki.issue(KYOTAKU, kind=CertificateKind.DAIRININ))


@row("dairinin-certificate-at-send", "CERT_KIND_NOT_ACCEPTED", MSG_SEND_CERT, "代理人証明書")
async def _f(hub: HubUnderTest, pki: Pki) -> object:
    async with hub.client(pki.issue(KYOTAKU, kind=CertificateKind.DAIRININ)) as client:
        return await client.send(_files(), to=HOUMON.number)


@row("shogai-certificate-at-receive", "CERT_KIND_NOT_ACCEPTED", MSG_RECEIVE_CERT, "障害総合支援証明書")
async def _g(hub: HubUnderTest, pki: Pki) -> object:
    async with hub.client(pki.issue(HOUMON, kind=CertificateKind.SHOGAI)) as client:
        return await client.inbox()


@row("no-client-certificate", "CERT_MISSING", MSG_SEND_CERT, "no client certificate")
async def _h(hub: HubUnderTest, pki: Pki) -> object:
    _, body = await hub.raw("POST", "/api/v1/transmissions", data=b"x")
    raise CareplanError.from_wire(body)


@row("certificate-from-another-ca", "CERT_UNTRUSTED", MSG_LOGIN_CERT, "not a CA this hub trusts")
async def _i(hub: HubUnderTest, pki: Pki) -> object:
    # A forger's CA with the same name, issuing a look-alike certificate for the same office.
    now = dt.datetime.now(dt.UTC)
    fake = CertificateAuthority.create(name="careplan-sim Test Office CA", now=now).issue_office(
        office_number=KYOTAKU.number, office_user_id=KYOTAKU.user, office_name=KYOTAKU.name, now=now
    )
    return await _login_with(hub, KeyPair(certificate=fake.certificate, key=fake.key))


@row("certificate-without-client-auth-usage", "CERT_NO_CLIENT_AUTH", MSG_LOGIN_CERT, "clientAuth")
async def _j(hub: HubUnderTest, pki: Pki) -> object:
    return await _login_with(hub, pki.issue(KYOTAKU, client_auth=False))


# --- certificate life on the clocks --------------------------------------------------------------
@row("expired-on-the-hub-clock", "CERT_EXPIRED", MSG_SEND_CERT, "expired at")
async def _k(hub: HubUnderTest, pki: Pki) -> object:
    short = pki.issue(KYOTAKU, now=dt.datetime.now(dt.UTC), days=1)
    async with hub.client(short) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        hub.clock.advance(dt.timedelta(days=2))
        return await client.send(_files(), to=HOUMON.number)


@row("not-yet-valid-on-the-hub-clock", "CERT_NOT_YET_VALID", MSG_LOGIN_CERT, "valid from")
async def _l(hub: HubUnderTest, pki: Pki) -> object:
    hub.clock.set(dt.datetime.now(dt.UTC) - dt.timedelta(days=30), frozen=True)
    return await _login_with(hub, pki.issue(KYOTAKU, now=dt.datetime.now(dt.UTC)))


@row("expired-in-real-time-refused-in-the-handshake", "CERT_EXPIRED", MSG_LOGIN_CERT, "the hub refused the TLS")
async def _m(hub: HubUnderTest, pki: Pki) -> object:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    return await _login_with(hub, pki.issue(KYOTAKU, now=old, not_before=old, days=1))


@row("revoked-at-receive", "CERT_REVOKED", MSG_RECEIVE_CERT, "revocation list")
async def _n(hub: HubUnderTest, pki: Pki) -> object:
    terminal = pki.issue(HOUMON)
    async with hub.client(terminal) as client:
        await client.login(HOUMON.user, HOUMON.password)
        pki.ca.revoke(terminal.certificate.serial_number, now=dt.datetime.now(dt.UTC))
        return await client.inbox()


@row("session-used-with-another-offices-certificate", "CERT_OFFICE_MISMATCH", MSG_RECEIVE_CERT, "another certificate")
async def _o(hub: HubUnderTest, pki: Pki) -> object:
    async with hub.client(HOUMON) as owner:
        await owner.login(HOUMON.user, HOUMON.password)
        token = owner.token
    thief = HubClient(
        url=hub.url, ca_file=hub.config.trusted_ca_file, keypair=pki.terminals[KYOTAKU.number], token=token
    )
    async with thief:
        return await thief.inbox()


# --- the transmission itself -----------------------------------------------------------------------
@row("tampered-file", "FILE_TAMPERED", MSG_SEND_FAILED, "but the manifest signed")
async def _p(hub: HubUnderTest, pki: Pki) -> object:
    files = _files()
    me = pki.terminals[KYOTAKU.number]
    manifest = _manifest(files)
    name, data = files[0]
    return await _logged_in_send(hub, me, manifest, _signed(me, manifest), [(name, data + b" "), *files[1:]])


@row("tampered-manifest", "SIGNATURE_INVALID", MSG_SEND_FAILED, "messageDigest")
async def _q(hub: HubUnderTest, pki: Pki) -> object:
    files = _files()
    me = pki.terminals[KYOTAKU.number]
    manifest = _manifest(files)
    forged = manifest.replace(HOUMON.number.encode(), TSUSHO.number.encode())
    return await _logged_in_send(hub, me, forged, _signed(me, manifest), files)


@row("manifest-naming-another-recipient", "COMBINATION_INVALID", MSG_COMBINATION_INVALID, "names another recipient")
async def _r(hub: HubUnderTest, pki: Pki) -> object:
    files = _files(recipient=HOUMON.number)  # the files are addressed to HOUMON …
    me = pki.terminals[KYOTAKU.number]
    manifest = _manifest(files, recipient=TSUSHO.number)  # … the signed manifest to TSUSHO
    return await _logged_in_send(hub, me, manifest, _signed(me, manifest), files)


@row("stale-signing-time", "SIGNING_TIME_INVALID", MSG_SEND_FAILED, "behind the hub's time")
async def _s(hub: HubUnderTest, pki: Pki) -> object:
    files = _files()
    me = pki.terminals[KYOTAKU.number]
    manifest = _manifest(files, signed_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    return await _logged_in_send(hub, me, manifest, _signed(me, manifest), files)


@row("post-dated-signing-time", "SIGNING_TIME_INVALID", MSG_SEND_FAILED, "ahead of the hub's time")
async def _t(hub: HubUnderTest, pki: Pki) -> object:
    files = _files()
    me = pki.terminals[KYOTAKU.number]
    manifest = _manifest(files, signed_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    return await _logged_in_send(hub, me, manifest, _signed(me, manifest), files)


async def _state(hub: HubUnderTest) -> tuple[int, int, list[str]]:
    delivered = await hub.service.db.fetch_all(
        "SELECT id FROM transmissions WHERE recipient IN (?, ?)", (HOUMON.number, TSUSHO.number)
    )
    return await hub.transmission_count(), len(hub.payload_files()), [r[0] for r in delivered]


@pytest.mark.parametrize("name", list(MATRIX))
async def test_impersonation_is_refused_and_explained(hub: HubUnderTest, name: str) -> None:
    expected = MATRIX[name]
    before = await _state(hub)
    with pytest.raises(CareplanError) as caught:
        await expected.attempt(hub, hub.pki)
    error = caught.value
    assert (error.code, error.message) == (expected.code, expected.message), error.detail
    assert expected.detail in error.detail
    assert error.fix, "every refusal says how to fix it"
    assert await _state(hub) == before, "nothing may be stored or delivered"


@pytest.mark.parametrize("same", ["signed-manifest", "transmission-id"])
async def test_replay_is_refused_and_stores_nothing_more(hub: HubUnderTest, same: str) -> None:
    files = _files()
    me = hub.pki.terminals[KYOTAKU.number]
    manifest = _manifest(files)
    async with hub.client(me) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        await client.upload(manifest, _signed(me, manifest), files)
        before = await _state(hub)
        # Other bytes under the stored id: the same manifest signed anew, or another manifest.
        again = manifest if same == "signed-manifest" else _manifest(files, signed_at=dt.datetime.now(dt.UTC))
        with pytest.raises(CareplanError) as caught:
            await client.upload(again, sign(again, me.certificate, me.key, capabilities=False), files)
    assert (caught.value.code, caught.value.message) == ("REPLAY", MSG_SEND_FAILED)
    assert "d" * 32 in caught.value.detail
    assert await _state(hub) == before


async def test_identical_resubmission_is_answered_with_the_stored_record(hub: HubUnderTest) -> None:
    """A retry whose answer was lost: the same id, manifest, signature and files get 200 and the
    stored record with already_stored, even after the receiver downloaded it; nothing is stored twice."""
    files = _files()
    me = hub.pki.terminals[KYOTAKU.number]
    manifest = _manifest(files)
    signature = _signed(me, manifest)
    async with hub.client(me) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        first = await client.upload(manifest, signature, files)
        before = await _state(hub)
        again = await client.upload(manifest, signature, files)
        assert (first["already_stored"], again["already_stored"]) == (False, True)
        assert {k: v for k, v in again.items() if k != "already_stored"} == {
            k: v for k, v in first.items() if k != "already_stored"
        }
        assert await _state(hub) == before
        async with hub.client(HOUMON) as houmon:
            await houmon.login(HOUMON.user, HOUMON.password)
            await houmon.download("d" * 32, hub.config.data_dir / "received")
        after_download = await client.upload(manifest, signature, files)
    assert after_download["already_stored"] is True
    assert after_download["status"] == "ダウンロード済"
    assert await hub.transmission_count() == 1
