"""Crash safety: SIGKILL the hub while submissions stream in; after a restart every acknowledged
transmission is intact and nothing half-written is visible."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from careplan.errors import CareplanError
from client.hubclient import HubClient, client_ssl_context
from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, Pki, prepare_data_dir

pytestmark = pytest.mark.slow
SEND_LIMIT = 200  # bounds the load loop in count …
TIME_LIMIT = 60.0  # … and in time


def _start(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    (data / "hub.json").unlink(missing_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "careplan_cli.main", "hub", "--data", str(data), "serve", "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (data / "hub.json").exists():
            return process, json.loads((data / "hub.json").read_text())["url"]
        if process.poll() is not None:
            raise RuntimeError(f"the hub exited with {process.returncode}")
        time.sleep(0.05)
    process.kill()
    raise TimeoutError("the hub did not become ready")


async def _seed(url: str, ca_file: Path) -> None:
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


async def _stream_until_killed(client: HubClient, process: subprocess.Popen[bytes]) -> dict[str, dict[str, bytes]]:
    acknowledged: dict[str, dict[str, bytes]] = {}
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    started = time.monotonic()

    async def worker() -> None:
        while len(acknowledged) < SEND_LIMIT and time.monotonic() - started < TIME_LIMIT:
            try:
                result = await client.send(list(files.items()), to=HOUMON.number)
            except CareplanError as error:
                assert error.code == "HUB_UNREACHABLE", error
                return
            acknowledged[result["transmission_id"]] = files

    async def killer() -> None:
        while len(acknowledged) < 12 and time.monotonic() - started < TIME_LIMIT:
            await asyncio.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)

    await asyncio.gather(worker(), worker(), worker(), killer())
    return acknowledged


async def test_sigkill_during_submissions_keeps_every_acknowledged_transmission(tmp_path: Path, pki: Pki) -> None:
    data = tmp_path / "hub"
    prepare_data_dir(data, pki)
    ca_file = data / "ca" / "ca.pem"
    process, url = _start(data)
    try:
        await _seed(url, ca_file)
        async with HubClient(url=url, ca_file=ca_file, keypair=pki.terminals[KYOTAKU.number]) as kyotaku:
            await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
            acknowledged = await _stream_until_killed(kyotaku, process)
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL
        assert len(acknowledged) >= 12

        process, url = _start(data)
        async with HubClient(url=url, ca_file=ca_file, keypair=pki.terminals[HOUMON.number]) as houmon:
            await houmon.login(HOUMON.user, HOUMON.password)
            inbox = await houmon.inbox()
            visible = {t["transmission_id"] for t in inbox}
            assert set(acknowledged) <= visible, "an acknowledged transmission was lost"
            assert len(visible - set(acknowledged)) <= 3, "at most the in-flight sends may have committed"
            stored = sorted(p.name for p in (data / "payloads").iterdir())
            assert len(stored) == sum(t["file_count"] for t in inbox), "a half-written payload is left"
            for transmission_id in sorted(visible):
                got = await houmon.download(transmission_id, tmp_path / "received")  # verifies every SHA-256
                if transmission_id in acknowledged:
                    assert {p.name: p.read_bytes() for p in got.files} == acknowledged[transmission_id]
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait(timeout=10)
