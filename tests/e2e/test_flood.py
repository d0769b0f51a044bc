"""A connection flood against a hub process with a small file limit (issue 9 §5): it answers the
connections beyond its cap with 503 HUB_BUSY instead of meeting EMFILE, its log stays a few lines
without a traceback, and once the flood is gone a normal request is served."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import sys
import time
from pathlib import Path

import pytest

from client.hubclient import client_ssl_context
from tests.conftest import Pki, prepare_data_dir

FILE_LIMIT = 256  # the hub's cap becomes 256 - 64 = 192 connections
FLOOD = 300


def _limit_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


@pytest.mark.slow
async def test_a_flood_beyond_the_file_limit_gets_503_and_a_quiet_log(tmp_path: Path, pki: Pki) -> None:
    data = tmp_path / "hub"
    prepare_data_dir(data, pki)
    log = tmp_path / "hub.log"
    env = os.environ | {"CAREPLAN_HUB_MAX_CONNECTIONS": "100000", "CAREPLAN_ADMIN_TOKEN": "flood-token"}
    command = [sys.executable, "-m", "careplan_cli.main", "hub", "--data", str(data), "serve", "--port", "0"]
    with log.open("w") as output:
        hub = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=output, stderr=output, preexec_fn=_limit_files
        )
    held: list[asyncio.StreamWriter] = []
    try:
        deadline = time.monotonic() + 60
        while not (data / "hub.json").exists():
            assert hub.returncode is None and time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.05)
        port = json.loads((data / "hub.json").read_text())["port"]
        context = client_ssl_context(data / "ca" / "ca.pem", None)
        busy = 0
        for _ in range(FLOOD):
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
            held.append(writer)
            with contextlib.suppress(TimeoutError):
                first = await asyncio.wait_for(reader.readline(), timeout=0.02)
                busy += first.startswith(b"HTTP/1.1 503")
        assert busy >= FLOOD - FILE_LIMIT, f"only {busy} of {FLOOD} connections were told HUB_BUSY"
        for writer in held:
            writer.close()
        held.clear()
        await asyncio.sleep(0.5)  # let the hub see the flood go
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
        assert (await asyncio.wait_for(reader.readline(), timeout=10)).startswith(b"HTTP/1.1 200")
        writer.close()
    finally:
        for writer in held:
            writer.close()
        hub.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(hub.wait(), timeout=20)
        except TimeoutError:
            hub.kill()
            await hub.wait()
    text = log.read_text()
    assert text.count("answered 503 HUB_BUSY") == 1, text[-2000:]
    assert "Traceback" not in text and "Too many open files" not in text, text[-2000:]
    assert len(text) < 4000, f"{len(text)} bytes of log for one flood"
