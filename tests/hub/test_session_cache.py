"""Sessions cached per process (hub.sessions rule 4): the cache changes no answer of rule 3.

Two HubService instances on one data directory stand for two worker processes of
`careplan hub serve --workers 2` (each its own database connection and cache; one shared
revocation generation file)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from ca.authority import CertificateAuthority
from careplan.errors import CareplanError, Operation
from hub.clock import Clock
from hub.config import HubConfig
from hub.db import Database
from hub.payloads import PayloadStore
from hub.service import HubService
from hub.sessions import CACHE_SECONDS
from hub.trust import TrustStore
from tests.hub.test_store_db import NOW, OFFICE, peer, register

USER = f"KJ{OFFICE}"


@pytest.fixture
async def workers(tmp_path: Path) -> AsyncIterator[tuple[HubService, HubService]]:
    ca = CertificateAuthority.create(now=NOW - dt.timedelta(days=1))
    ca_pem = tmp_path / "ca.pem"
    ca_pem.write_bytes(ca.certificate.public_bytes(Encoding.PEM))
    config = HubConfig(data_dir=tmp_path / "hub", session_hours=12)
    clock = Clock()
    clock.set(NOW, frozen=True)
    services, databases = [], []
    for _ in range(2):
        databases.append(await Database.open(config.db_file))
        services.append(
            HubService(
                config=config,
                db=databases[-1],
                payloads=PayloadStore(config.payload_dir, config.key_file),
                trust=TrustStore(ca_pem, tmp_path / "crl.pem"),
                clock=clock,
            )
        )
    yield services[0], services[1]
    for database in databases:
        await database.close()


async def refused(service: HubService, token: str) -> str:
    with pytest.raises(CareplanError) as caught:
        await service.session(peer(), token, Operation.SEND)
    return caught.value.code


async def test_logout_through_another_worker_ends_a_cached_session(workers: tuple[HubService, HubService]) -> None:
    first, second = workers
    await register(first)
    token = str((await first.login(peer(), USER, "secret"))["token"])
    await first.session(peer(), token, Operation.SEND)  # now in first's cache
    await second.logout(token)
    assert await refused(first, token) == "SESSION_REQUIRED"
    assert await refused(second, token) == "SESSION_REQUIRED"


async def test_password_change_revocation_reaches_every_cache(workers: tuple[HubService, HubService]) -> None:
    first, second = workers
    await register(first)
    token = str((await first.login(peer(), USER, "secret"))["token"])
    await first.session(peer(), token, Operation.SEND)
    await second.session(peer(), token, Operation.SEND)
    async with second.db.transaction() as tx:  # what the usage website's password change does
        await second.revoke_sessions(tx, USER)
    assert await refused(first, token) == "SESSION_REQUIRED"
    assert await refused(second, token) == "SESSION_REQUIRED"


async def test_a_rolled_back_revocation_ends_nothing(workers: tuple[HubService, HubService]) -> None:
    first, second = workers
    await register(first)
    token = str((await first.login(peer(), USER, "secret"))["token"])

    async def failed_change() -> None:
        async with second.db.transaction() as tx:
            await second.revoke_sessions(tx, USER)
            raise RuntimeError("the password change failed")

    with pytest.raises(RuntimeError):
        await failed_change()
    assert (await first.session(peer(), token, Operation.SEND)).user_id == USER


async def test_expiry_and_certificate_are_judged_on_every_request(workers: tuple[HubService, HubService]) -> None:
    first, _ = workers
    await register(first)
    token = str((await first.login(peer(), USER, "secret"))["token"])
    await first.session(peer(), token, Operation.SEND)
    with pytest.raises(CareplanError) as caught:
        await first.session(peer(fingerprint="e" * 64), token, Operation.SEND)
    assert caught.value.code == "CERT_OFFICE_MISMATCH"
    first.clock.advance(dt.timedelta(hours=12))
    assert await refused(first, token) == "SESSION_REQUIRED"


async def test_an_entry_is_read_again_after_its_time_or_when_the_clock_moves_back(
    workers: tuple[HubService, HubService],
) -> None:
    first, _ = workers
    await register(first)
    token = str((await first.login(peer(), USER, "secret"))["token"])
    await first.session(peer(), token, Operation.SEND)
    async with first.db.transaction() as tx:
        await tx.execute("UPDATE sessions SET cert_fingerprint = ?", ("e" * 64,))
    first.clock.advance(dt.timedelta(seconds=-1))  # before the entry was cached: read again
    with pytest.raises(CareplanError) as caught:
        await first.session(peer(), token, Operation.SEND)
    assert caught.value.code == "CERT_OFFICE_MISMATCH"
    await first.session(peer(fingerprint="e" * 64), token, Operation.SEND)  # cached again
    async with first.db.transaction() as tx:
        await tx.execute("UPDATE sessions SET cert_fingerprint = ?", ("f" * 64,))
    first.clock.advance(dt.timedelta(seconds=CACHE_SECONDS))
    assert (await first.session(peer(), token, Operation.SEND)).user_id == USER
