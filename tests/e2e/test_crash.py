"""Crash safety: SIGKILL the hub while 8 senders stream submissions in; the hub restarts on the same
port while they retry with the same ids (HubClient's retry, issue 9 point 8). Afterwards every
acknowledged transmission is intact, every send in flight at the kill was completed by its retry,
none is stored twice and nothing half-written is visible."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from careplan.errors import CareplanError
from client.hubclient import HubClient, client_ssl_context
from client.retry import RetryPolicy
from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, Pki, prepare_data_dir

pytestmark = pytest.mark.slow
SEND_LIMIT = 200  # bounds the load loop in count …
TIME_LIMIT = 60.0  # … and in time
SENDERS = 8
KILL_AFTER = 12  # acknowledged sends before the SIGKILL
AFTER_RESTART = 16  # acknowledged sends after the restart before the senders stop
# Retries span the restart (a few seconds): up to ~30 s of backoff, far inside the ±10 min signing rule.
ACROSS_A_RESTART = RetryPolicy(attempts=30, base_delay=0.1, max_delay=1.0)


def _start(data: Path, port: int = 0) -> tuple[subprocess.Popen[bytes], str]:
    (data / "hub.json").unlink(missing_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "careplan_cli.main", "hub", "--data", str(data), "serve", "--port", str(port)],
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


@dataclass(slots=True)
class Stream:
    hub: subprocess.Popen[bytes]
    data: Path
    acknowledged: dict[str, dict[str, bytes]] = field(default_factory=dict)
    already_stored: set[str] = field(default_factory=set)  # answered by a retry with the stored record
    failed: list[tuple[str, CareplanError]] = field(default_factory=list)
    restarted_at: int | None = None  # acknowledgements when the restarted hub was ready

    def done(self, started: float) -> bool:
        after = self.restarted_at is not None and len(self.acknowledged) >= self.restarted_at + AFTER_RESTART
        return after or len(self.acknowledged) >= SEND_LIMIT or time.monotonic() - started >= TIME_LIMIT


async def _stream_across_a_kill(client: HubClient, stream: Stream, port: int) -> None:
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    started = time.monotonic()

    async def sender() -> None:
        while not stream.done(started):
            transmission_id = uuid.uuid4().hex
            try:
                result = await client.send(list(files.items()), to=HOUMON.number, transmission_id=transmission_id)
            except CareplanError as error:
                stream.failed.append((transmission_id, error))
                return
            assert result["transmission_id"] == transmission_id
            stream.acknowledged[transmission_id] = files
            if result["already_stored"]:
                stream.already_stored.add(transmission_id)

    async def killer() -> None:
        while len(stream.acknowledged) < KILL_AFTER and time.monotonic() - started < TIME_LIMIT:
            await asyncio.sleep(0.01)
        os.kill(stream.hub.pid, signal.SIGKILL)
        await asyncio.to_thread(stream.hub.wait, 10)
        assert stream.hub.returncode == -signal.SIGKILL
        stream.hub, _ = await asyncio.to_thread(_start, stream.data, port)
        stream.restarted_at = len(stream.acknowledged)

    await asyncio.gather(*(sender() for _ in range(SENDERS)), killer())


async def test_sigkill_during_submissions_loses_and_duplicates_nothing(tmp_path: Path, pki: Pki) -> None:
    data = tmp_path / "hub"
    prepare_data_dir(data, pki)
    ca_file = data / "ca" / "ca.pem"
    process, url = _start(data)
    stream = Stream(hub=process, data=data)
    try:
        await _seed(url, ca_file)
        pair = pki.terminals[KYOTAKU.number]
        async with HubClient(url=url, ca_file=ca_file, keypair=pair, retry=ACROSS_A_RESTART) as kyotaku:
            await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
            await _stream_across_a_kill(kyotaku, stream, int(url.rsplit(":", 1)[1]))
        assert stream.restarted_at is not None, "the hub was killed and restarted"
        assert stream.failed == [], "every send in flight at the kill completed by retrying"
        assert len(stream.acknowledged) >= stream.restarted_at + AFTER_RESTART
        assert kyotaku.retries >= 1, "sends were in flight at the kill"

        async with HubClient(url=url, ca_file=ca_file, keypair=pki.terminals[HOUMON.number]) as houmon:
            await houmon.login(HOUMON.user, HOUMON.password)
            inbox = await houmon.inbox()
            visible = [t["transmission_id"] for t in inbox]
            assert len(visible) == len(set(visible))
            assert set(visible) == set(stream.acknowledged), "0 acknowledged lost, none stored twice or unasked"
            stored = sorted(p.name for p in (data / "payloads").iterdir())
            assert len(stored) == sum(t["file_count"] for t in inbox), "a half-written payload is left"
            for transmission_id in sorted(visible):
                got = await houmon.download(transmission_id, tmp_path / "received")  # verifies every SHA-256
                assert {p.name: p.read_bytes() for p in got.files} == stream.acknowledged[transmission_id]
        print(  # the figures the report quotes (pytest -s)
            f"crash: {len(stream.acknowledged)} acknowledged, {kyotaku.retries} retries, "
            f"{len(stream.already_stored)} answered as already stored"
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            stream.hub.kill()
        stream.hub.wait(timeout=10)
