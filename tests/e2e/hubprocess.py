"""A hub as a subprocess (`careplan hub serve`) in its own process group, for tests that kill it
or measure it from outside."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from client.hubclient import client_ssl_context
from tests.conftest import HOUMON, KYOTAKU


def start(data: Path, port: int = 0, workers: int = 1, database_url: str = "") -> tuple[subprocess.Popen[bytes], str]:
    (data / "hub.json").unlink(missing_ok=True)
    serve = ["serve", "--port", str(port), "--workers", str(workers)]
    if database_url:
        serve += ["--database", database_url]
    log = data.parent / f"hub-{len(list(data.parent.glob('hub-*.log')))}.log"  # what it said, if it fails
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "careplan_cli.main", "hub", "--data", str(data), *serve],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # its own process group: the supervisor and its workers die together
        )
    deadline = time.monotonic() + 90  # generous: CI shares two cores with everything else
    while time.monotonic() < deadline:
        if (data / "hub.json").exists():
            return process, json.loads((data / "hub.json").read_text())["url"]
        if process.poll() is not None:
            raise RuntimeError(f"the hub exited with {process.returncode}: {log.read_text()[-2000:]}")
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    raise TimeoutError(f"the hub did not become ready: {log.read_text()[-2000:]}")


async def seed(url: str, ca_file: Path) -> None:
    connector = aiohttp.TCPConnector(ssl=client_ssl_context(ca_file, None))
    async with aiohttp.ClientSession(connector=connector) as session:
        for office in (KYOTAKU, HOUMON):
            body = {
                "office_number": office.number,
                "name": office.name,
                "service_kind": office.kind,
                "office_user_id": office.user,
                "password": office.password,
            }
            async with session.post(
                url + "/admin/v1/offices", json=body, headers={"Authorization": "Bearer test-admin-token"}
            ) as response:
                assert response.status == 201, await response.text()
