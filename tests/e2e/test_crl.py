"""The CRL a running hub keeps in force (issue 9, point 11): a corrupt, forged or older CRL put in
place of the published one is refused at load, the last good one stays in force (revoked stays
revoked, no 500), the refusal is logged once and shown by GET /admin/v1/crl and
`careplan hub crl-status`; a restart keeps the CRL in force."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from rich.cells import cell_len

from ca.authority import CertificateAuthority
from ca.cli import write_server_cert
from careplan.errors import CareplanError
from hub.clock import Clock
from hub.config import HubConfig
from hub.server import start_hub
from tests.conftest import KYOTAKU, NOW, OFFICES, HubUnderTest, Pki, run_careplan, seed

ADMIN = {"Authorization": "Bearer test-admin-token"}
TOKEN_ENV = {"CAREPLAN_ADMIN_TOKEN": "test-admin-token"}


@dataclass(slots=True)
class OwnCaHub:
    """A hub whose CA directory is its own copy (the session PKI's CRL is shared by other tests)."""

    hub: HubUnderTest
    ca: CertificateAuthority

    @property
    def crl_file(self) -> Path:
        return self.hub.config.crl_file

    async def status(self) -> dict[str, object]:
        status, body = await self.hub.raw("GET", "/admin/v1/crl", headers=ADMIN)
        assert status == 200, body
        return body  # type: ignore[no-any-return]

    async def kyotaku_login(self) -> None:
        async with self.hub.client(KYOTAKU) as client:
            await client.login(KYOTAKU.user, KYOTAKU.password)

    async def restart(self) -> None:
        await self.hub.running.stop()
        self.hub.running = await start_hub(self.hub.config, clock=self.hub.clock)


@pytest.fixture
async def own(tmp_path: Path, pki: Pki) -> AsyncIterator[OwnCaHub]:
    data = tmp_path / "hub"
    data.mkdir()
    shutil.copytree(pki.ca.directory, data / "ca")
    write_server_cert(pki.server.cert_pem(), pki.server.key_pem(), data / "tls")
    (data / "admin-token").write_text("test-admin-token")
    ca = CertificateAuthority.load(data / "ca")
    clock = Clock()
    config = HubConfig(data_dir=data, port=0, admin_token="test-admin-token")
    running = await start_hub(config, clock=clock)
    hub = HubUnderTest(running=running, config=config, clock=clock, pki=pki)
    await seed(hub.service)
    yield OwnCaHub(hub=hub, ca=ca)
    await hub.running.stop()


def _number(pem: bytes) -> int:
    crl = x509.load_pem_x509_crl(pem)
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


async def _revoke_kyotaku(own: OwnCaHub) -> bytes:
    """Revoke KYOTAKU's terminal certificate; the CRL published before it."""
    before = own.crl_file.read_bytes()
    own.ca.revoke(own.hub.pki.terminals[KYOTAKU.number].certificate.serial_number, now=NOW)
    return before


async def _assert_revoked(own: OwnCaHub) -> None:
    with pytest.raises(CareplanError) as caught:
        await own.kyotaku_login()
    assert caught.value.code == "CERT_REVOKED"


def test_every_publication_gets_the_next_crl_number(tmp_path: Path) -> None:
    ca = CertificateAuthority.create(now=NOW, directory=tmp_path / "ca")
    first = _number((tmp_path / "ca" / "crl.pem").read_bytes())
    ca.save(now=NOW)
    assert _number((tmp_path / "ca" / "crl.pem").read_bytes()) == first + 1
    again = CertificateAuthority.load(tmp_path / "ca")
    again.save(now=NOW)
    assert _number((tmp_path / "ca" / "crl.pem").read_bytes()) == first + 2, "the counter survives a reload"


async def test_an_older_crl_put_back_does_not_un_revoke(own: OwnCaHub, caplog: pytest.LogCaptureFixture) -> None:
    await own.kyotaku_login()
    older = await _revoke_kyotaku(own)
    await _assert_revoked(own)
    in_force = (await own.status())["in_force"]
    assert isinstance(in_force, dict) and in_force["revoked_count"] >= 1

    with caplog.at_level(logging.ERROR, logger="hub.trust"):
        own.crl_file.write_bytes(older)  # re-installing the CRL from before the revocation
        await _assert_revoked(own)
        await _assert_revoked(own)
    status = await own.status()
    assert status["in_force"] == in_force, "the last good CRL stays in force"
    refused = status["refused"]
    assert isinstance(refused, dict) and refused["reason"] == "not-newer"
    assert f"number {_number(older)}" in str(refused["detail"])
    assert len([r for r in caplog.records if "refused the CRL" in r.getMessage()]) == 1, "logged once"


@pytest.mark.parametrize(
    "content",
    [b"-----BEGIN X509 CRL-----\ngarbage\n-----END X509 CRL-----\n", b"", b"\x00\xff not pem at all"],
    ids=["bad-base64", "empty", "binary"],
)
async def test_a_corrupt_crl_is_refused_and_nothing_answers_500(own: OwnCaHub, content: bytes) -> None:
    await _revoke_kyotaku(own)
    await _assert_revoked(own)
    own.crl_file.write_bytes(content)
    await _assert_revoked(own)  # a clean 403 with its code, not a 500; the revocation holds
    async with own.hub.client(own.hub.pki.terminals[OFFICES[1].number]) as houmon:
        await houmon.login(OFFICES[1].user, OFFICES[1].password)  # others still work
    refused = (await own.status())["refused"]
    assert isinstance(refused, dict) and refused["reason"] == "unreadable"


async def test_a_crl_signed_by_another_ca_is_refused(own: OwnCaHub, foreign_pki: Pki) -> None:
    await _revoke_kyotaku(own)
    await _assert_revoked(own)
    own.crl_file.write_bytes(foreign_pki.ca.crl(now=NOW).public_bytes(serialization.Encoding.PEM))
    await _assert_revoked(own)
    refused = (await own.status())["refused"]
    assert isinstance(refused, dict) and refused["reason"] == "untrusted"


async def test_a_newer_crl_clears_the_refusal_and_a_restart_keeps_the_crl_in_force(own: OwnCaHub) -> None:
    older = await _revoke_kyotaku(own)
    await _assert_revoked(own)
    own.crl_file.write_bytes(older)
    await _assert_revoked(own)
    own.ca.save(now=NOW)  # the CA publishes its next CRL
    status = await own.status()
    assert status["refused"] is None
    assert isinstance(status["in_force"], dict) and status["in_force"]["crl_number"] == own.ca.crl_number

    own.crl_file.write_bytes(older)  # while the hub is down, the older CRL comes back
    await own.restart()
    await _assert_revoked(own)
    status = await own.status()
    assert isinstance(status["in_force"], dict) and status["in_force"]["crl_number"] == own.ca.crl_number
    assert isinstance(status["refused"], dict) and status["refused"]["reason"] == "not-newer"


async def test_crl_status_command(own: OwnCaHub) -> None:
    older = await _revoke_kyotaku(own)
    await _assert_revoked(own)
    data = own.hub.config.data_dir
    shown = await asyncio.to_thread(run_careplan, "hub", "--data", str(data), "crl-status", env=TOKEN_ENV)
    assert shown.returncode == 0, shown.stderr
    assert f"CRL number {own.ca.crl_number}" in shown.stdout and "失効リスト / CRL" in shown.stdout
    as_json = await asyncio.to_thread(run_careplan, "hub", "--data", str(data), "crl-status", "--json", env=TOKEN_ENV)
    assert json.loads(as_json.stdout)["in_force"]["crl_number"] == own.ca.crl_number
    own.crl_file.write_bytes(older)
    shown = await asyncio.to_thread(run_careplan, "hub", "--data", str(data), "crl-status", env=TOKEN_ENV)
    assert shown.returncode == 1
    refused = next(line for line in shown.stdout.splitlines() if "不採用 / refused" in line)
    assert "not-newer" in refused and "JST" in refused
    path = f"    {own.crl_file}"  # a value wider than its line stays whole below its label (render.pairs)
    assert path in shown.stdout.splitlines()
    assert max(cell_len(line) for line in shown.stdout.splitlines() if line != path) <= 80, shown.stdout
    assert "CRL number" in shown.stdout  # the one in force stays
