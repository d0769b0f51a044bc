"""A throwaway PostgreSQL cluster for the benches (the recipe of ../shared/HOWTO.md and of the
tests' `pg_cluster` fixture), but durable: fsync stays on, so a commit costs what it costs on a
real server and the figures compare fairly with SQLite at synchronous=FULL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

PG_BIN = Path(os.environ.get("CAREPLAN_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # it refuses to run as root


@dataclass(frozen=True, slots=True)
class Cluster:
    directory: Path
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://careplan@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        name = f"bench_{secrets.token_hex(4)}"

        async def create() -> None:
            connection = await asyncpg.connect(self.url())
            try:
                await connection.execute(f"CREATE DATABASE {name}")
            finally:
                await connection.close()

        asyncio.run(create())
        return self.url(name)

    def postmaster_pid(self) -> int:
        return int((self.directory / "data" / "postmaster.pid").read_text().split()[0])


def available() -> bool:
    return (PG_BIN / "initdb").exists()


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    directory = Path(tempfile.mkdtemp(prefix="careplan-bench-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    data = directory / "data"
    initdb = [str(PG_BIN / "initdb"), "-D", str(data), "-U", "careplan", "--auth=trust", "-E", "UTF8"]
    subprocess.run([*_as_postgres(), *initdb], check=True, stdout=subprocess.DEVNULL, timeout=120)
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c max_connections=200"
    pg_ctl = [*_as_postgres(), str(PG_BIN / "pg_ctl"), "-D", str(data)]
    subprocess.run([*pg_ctl, "-o", options, "-l", str(directory / "log"), "-w", "start"], check=True,
                   stdout=subprocess.DEVNULL, timeout=120)  # fmt: skip
    try:
        yield Cluster(directory=directory, port=port)
    finally:
        subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], stdout=subprocess.DEVNULL, timeout=120, check=False)
        shutil.rmtree(directory, ignore_errors=True)
