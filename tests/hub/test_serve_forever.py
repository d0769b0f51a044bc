"""Ctrl-C at any moment of `serve` / `careplan up` stops the hub cleanly: while it is still starting
or seeding, or just before it announces itself (the ready file), not only once it is waiting.
The signal handlers are in place before anything can see the ready file; CI once caught the
gap, when a test sent SIGINT the moment the ready file appeared and got a KeyboardInterrupt."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

from hub.config import HubConfig
from hub.server import RunningHub, serve_forever
from tests.conftest import Pki, prepare_data_dir


def _config(tmp_path: Path, pki: Pki) -> HubConfig:
    data = tmp_path / "data"
    prepare_data_dir(data, pki)
    return HubConfig(data_dir=data, port=0, admin_token="test-admin-token")


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_ctrl_c_while_seeding_stops_the_hub_without_announcing_it(tmp_path: Path, pki: Pki) -> None:
    config = _config(tmp_path, pki)
    seen: dict[str, object] = {}

    async def on_start(hub: RunningHub) -> None:
        seen["port"] = hub.port
        os.kill(os.getpid(), signal.SIGINT)
        try:
            await asyncio.Event().wait()  # seeding that would never end
        except asyncio.CancelledError:
            seen["cancelled"] = True
            raise

    asyncio.run(asyncio.wait_for(serve_forever(config, on_start=on_start), 30))
    assert seen["cancelled"] is True, "the seeding was stopped, not waited for"
    assert not config.ready_file.exists()
    assert _refused(int(str(seen["port"]))), "the listening socket is closed"


def test_ctrl_c_just_before_the_ready_file_is_a_clean_stop(tmp_path: Path, pki: Pki) -> None:
    config = _config(tmp_path, pki)
    seen: dict[str, int] = {}

    async def on_start(hub: RunningHub) -> None:
        seen["port"] = hub.port
        os.kill(os.getpid(), signal.SIGINT)  # delivered before serve_forever writes the ready file

    asyncio.run(asyncio.wait_for(serve_forever(config, on_start=on_start), 30))
    assert not config.ready_file.exists(), "removed again on the way out"
    assert _refused(seen["port"])


def test_a_failing_start_closes_what_it_opened_and_says_why(tmp_path: Path, pki: Pki) -> None:
    config = _config(tmp_path, pki)
    seen: dict[str, int] = {}

    async def on_start(hub: RunningHub) -> None:
        seen["port"] = hub.port
        raise RuntimeError("seeding failed")

    try:
        asyncio.run(asyncio.wait_for(serve_forever(config, on_start=on_start), 30))
    except RuntimeError as error:
        assert str(error) == "seeding failed"
    else:
        raise AssertionError("the failure of on_start reaches the caller")
    assert not config.ready_file.exists()
    assert _refused(seen["port"])
