"""Shared test fixtures: a session-wide PKI (CA, office terminals, forged and odd certificates) and
a real hub on a loopback port with mutual TLS, one per test, with its own data and clock."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import aiosqlite
import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from ca.authority import CertificateAuthority, Issued
from ca.cli import write_server_cert
from careplan.certificates import KeyPair
from careplan.office import with_check_digit
from client.hubclient import HubClient, client_ssl_context
from client.profile import Profile
from fixtures import pgcluster
from fixtures.pgcluster import PgCluster, free_port
from hub.clock import Clock
from hub.config import HubConfig
from hub.keys import SERVICE
from hub.server import RunningHub, start_hub
from hub.service import HubService

NOW = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Office:
    number: str
    name: str
    kind: str
    user: str
    password: str
    licence: str = "valid"

    @property
    def personal_user(self) -> str:
        return f"C{self.number}01"


KYOTAKU = Office(
    number=with_check_digit("137010001"),
    name="テスト居宅介護支援事業所",
    kind="43",
    user=f"KJ{with_check_digit('137010001')}",
    password="kyotaku-pass",
)
HOUMON = Office(
    number=with_check_digit("137010002"),
    name="テスト訪問介護",
    kind="11",
    user=f"KJ{with_check_digit('137010002')}",
    password="houmon-pass",
)
TSUSHO = Office(
    number=with_check_digit("137010003"),
    name="テスト通所介護",
    kind="15",
    user=f"KJ{with_check_digit('137010003')}",
    password="tsusho-pass",
)
MISHINSEI = Office(
    number=with_check_digit("137010005"),
    name="テスト未申請事業所",
    kind="13",
    user=f"KJ{with_check_digit('137010005')}",
    password="mishinsei-pass",
    licence="none",
)
OFFICES = (KYOTAKU, HOUMON, TSUSHO, MISHINSEI)


def keypair(issued: Issued) -> KeyPair:
    return KeyPair(certificate=issued.certificate, key=issued.key)


@dataclass(slots=True)
class Pki:
    directory: Path
    ca: CertificateAuthority
    server: Issued
    terminals: dict[str, KeyPair] = field(default_factory=dict)

    def issue(self, office: Office, **kwargs: object) -> KeyPair:
        return keypair(
            self.ca.issue_office(
                office_number=office.number,
                office_user_id=office.user,
                office_name=office.name,
                now=kwargs.pop("now", NOW),
                **kwargs,
            )
        )  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority.create(now=NOW - dt.timedelta(days=30), directory=directory / "ca")
    built = Pki(directory=directory, ca=ca, server=ca.issue_server(now=NOW))
    for office in OFFICES:
        built.terminals[office.number] = built.issue(office)
    return built


@pytest.fixture(scope="session")
def foreign_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Another CA issuing look-alike certificates for the same offices (a forger's)."""
    directory = tmp_path_factory.mktemp("foreign")
    ca = CertificateAuthority.create(
        name="careplan-sim Test Office CA", now=NOW - dt.timedelta(days=30), directory=directory / "ca"
    )
    built = Pki(directory=directory, ca=ca, server=ca.issue_server(now=NOW))
    built.terminals[KYOTAKU.number] = built.issue(KYOTAKU)
    return built


def prepare_data_dir(data: Path, pki: Pki) -> None:
    """A hub data directory trusting `pki`'s CA (shared, so revocations reach every hub)."""
    data.mkdir(parents=True, exist_ok=True)
    (data / "ca").symlink_to(pki.ca.directory)
    write_server_cert(pki.server.cert_pem(), pki.server.key_pem(), data / "tls")
    (data / "admin-token").write_text("test-admin-token")


async def seed(service: HubService) -> None:
    for office in OFFICES:
        await service.register_office(
            office_number=office.number,
            name=office.name,
            service_kind=office.kind,
            office_user_id=office.user,
            password=office.password,
            licence=office.licence,
            personal_users=[(office.personal_user, office.password + "-c")],
        )


@dataclass(slots=True)
class HubUnderTest:
    running: RunningHub
    config: HubConfig
    clock: Clock
    pki: Pki

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def service(self) -> HubService:
        return self.running.app[SERVICE]

    def client(self, office_or_pair: Office | KeyPair) -> HubClient:
        pair = office_or_pair if isinstance(office_or_pair, KeyPair) else self.pki.terminals[office_or_pair.number]
        client = HubClient(url=self.url, ca_file=self.config.trusted_ca_file, keypair=pair)
        client.lang = "en"  # the e2e tests match on the English details (Japanese: tests/hub/test_pages.py)
        return client

    async def raw(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """A request with no client certificate (as a browser, curl or the admin would make it):
        the HTTP status and the JSON answer."""
        connector = aiohttp.TCPConnector(ssl=client_ssl_context(self.config.trusted_ca_file, None))
        kwargs.setdefault("headers", {"Accept-Language": "en"})  # details in English, as the tests match them
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.request(method, self.url + path, **kwargs) as response,
        ):
            return response.status, await response.json()

    async def transmission_count(self) -> int:
        row = await self.service.db.fetch_one("SELECT count(*) FROM transmissions")
        assert row is not None
        return int(row[0])

    def payload_files(self) -> list[Path]:
        return sorted(self.config.payload_dir.iterdir())


# --- PostgreSQL: one throwaway cluster per test session, a fresh database per test ---------------
_free_port = free_port  # the tests' name for it


@contextlib.contextmanager
def running_pg_cluster() -> Iterator[PgCluster]:
    """A throwaway cluster (fixtures.pgcluster), stopped and removed afterwards. Without
    PostgreSQL 15 the test is skipped, except in CI (.ci/run installs it)."""
    if not pgcluster.available():
        if os.environ.get("CI") == "true":
            pytest.fail(pgcluster.missing_reason())
        pytest.skip(pgcluster.missing_reason())
    with pgcluster.throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """The session's PostgreSQL cluster (a fresh database per test: `database_url`)."""
    with running_pg_cluster() as cluster:
        yield cluster


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> str:
    """The hub's database for a test: "" (SQLite in its data directory) unless the test is
    parametrized with "postgresql" (tests/e2e/conftest.py, tests/hub/test_store_db.py): then a
    fresh database of the session's cluster."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return ""
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    return cluster.new_database()


@contextlib.asynccontextmanager
async def hub_with(tmp_path: Path, pki: Pki, **config: Any) -> AsyncIterator[HubUnderTest]:
    """A seeded hub on a loopback port whose configuration differs from the defaults by `config`."""
    data = tmp_path / "hub"
    prepare_data_dir(data, pki)
    settings = HubConfig(data_dir=data, port=0, admin_token="test-admin-token", **config)
    clock = Clock()
    running = await start_hub(settings, clock=clock)
    under_test = HubUnderTest(running=running, config=settings, clock=clock, pki=pki)
    try:
        await seed(under_test.service)
        yield under_test
    finally:
        await under_test.running.stop()  # a test may have restarted it


@pytest.fixture
async def hub(tmp_path: Path, pki: Pki, database_url: str) -> AsyncIterator[HubUnderTest]:
    async with hub_with(tmp_path, pki, database_url=database_url) as under_test:
        yield under_test


def openssl() -> str | None:
    """The openssl CLI; CI must have it (its absence there is a failure, not a skip)."""
    found = shutil.which("openssl")
    if found is None and os.environ.get("CI") == "true":
        pytest.fail("openssl is required in CI (.ci/run installs it)")
    return found


@contextlib.contextmanager
def careplan_up(root: Path, *options: str) -> Iterator[tuple[str, Path, list[str]]]:
    """`careplan up --port 0` in a subprocess under `root`: yields (URL, data dir, its output once it
    has stopped — filled in after the block), stops it with SIGINT and checks it stopped cleanly."""
    data = root / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "careplan_cli.main", "up", "--data", str(data), "--port", "0", *options],
        cwd=root,
        env=this_checkout(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (data / "hub.json").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"careplan up did not start: {process.communicate()[0]}")
        time.sleep(0.05)
    output: list[str] = []
    try:
        yield json.loads((data / "hub.json").read_text())["url"], data, output
    finally:
        process.send_signal(signal.SIGINT)
        output.append(process.communicate(timeout=20)[0])
    assert process.returncode == 0, output[0]
    assert not (data / "hub.json").exists(), "a stopped hub removes its ready file"


def this_checkout() -> dict[str, str]:
    """The environment with this checkout first on the path: run from another folder (`cwd=`), a
    shared virtualenv's editable install would otherwise import another worktree's code."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [CHECKOUT, os.environ.get("PYTHONPATH")]))}


CHECKOUT = str(Path(__file__).resolve().parents[1])


def run_careplan(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "careplan_cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**this_checkout(), **(env or {})},
        timeout=timeout,
        check=False,
    )


class SqliteTrips:
    """Counts the trips to an aiosqlite connection's thread (each call of its `_execute`, which
    every method of it and hub.db's batch of statements go through): `count_sqlite_trips`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        execute = aiosqlite.Connection._execute

        async def counted(connection: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await execute(connection, fn, *args, **kwargs)

        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)


def terminal(
    pki: Pki,
    home: Path,
    url: str,
    *,
    token: str = "a-session-token",
    office: Office = KYOTAKU,
    ca_file: Path | None = None,
) -> None:
    """The client profile "kyotaku" under `home`: a terminal of `office` (kyotaku's by default)
    logged in to `url` with `token`, trusting `ca_file` (the test CA's by default)."""
    pair = pki.terminals[office.number]
    p12 = home / "kyotaku.p12"
    p12.parent.mkdir(parents=True, exist_ok=True)
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"kyotaku", pair.key, pair.certificate, None, BestAvailableEncryption(b"pw")
        )
    )
    Profile(
        name="kyotaku",
        hub_url=url,
        ca_file=str(ca_file or pki.ca.directory / "ca.pem"),
        p12_file=str(p12),
        p12_password="pw",
        user_id=office.user,
        token=token,
    ).save(home)
