"""Crash safety: SIGKILL the hub while 8 senders stream submissions in; the hub restarts on the same
port while they retry with the same ids (HubClient's retry, issue 9 point 8). Afterwards every
acknowledged transmission is intact, every send in flight at the kill was completed by its retry,
none is stored twice and nothing half-written is visible. Run with one process and with several
workers sharing the port (`serve --workers N`): then the supervisor and every worker are killed at
once, as a power cut would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from careplan.errors import CareplanError
from client.hubclient import HubClient
from client.retry import RetryPolicy
from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, Pki, prepare_data_dir
from tests.e2e.hubprocess import seed as _seed
from tests.e2e.hubprocess import start as _start

pytestmark = pytest.mark.slow
SEND_LIMIT = 200  # bounds the load loop in count …
TIME_LIMIT = 60.0  # … and in time
SENDERS = 8
KILL_AFTER = 12  # acknowledged sends before the SIGKILL
AFTER_RESTART = 16  # acknowledged sends after the restart before the senders stop
# Retries span the restart (a few seconds): up to ~30 s of backoff, far inside the ±10 min signing rule.
ACROSS_A_RESTART = RetryPolicy(attempts=30, base_delay=0.1, max_delay=1.0)


@dataclass(slots=True)
class Stream:
    hub: subprocess.Popen[bytes]
    data: Path
    workers: int
    database_url: str  # "" for SQLite
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
        os.killpg(stream.hub.pid, signal.SIGKILL)
        await asyncio.to_thread(stream.hub.wait, 10)
        assert stream.hub.returncode == -signal.SIGKILL
        stream.hub, _ = await asyncio.to_thread(_start, stream.data, port, stream.workers, stream.database_url)
        stream.restarted_at = len(stream.acknowledged)

    await asyncio.gather(*(sender() for _ in range(SENDERS)), killer())


@pytest.mark.parametrize("workers", [1, 3])
async def test_sigkill_during_submissions_loses_and_duplicates_nothing(
    tmp_path: Path, pki: Pki, workers: int, database_url: str
) -> None:
    data = tmp_path / "hub"
    prepare_data_dir(data, pki)
    ca_file = data / "ca" / "ca.pem"
    process, url = _start(data, workers=workers, database_url=database_url)
    stream = Stream(hub=process, data=data, workers=workers, database_url=database_url)
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
            os.killpg(stream.hub.pid, signal.SIGKILL)
        stream.hub.wait(timeout=10)
