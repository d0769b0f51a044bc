"""Running the hub: the mutual-TLS context, the listening site, the ready file, shutdown.

The TLS layer requests a client certificate but does not require one (CERT_OPTIONAL), so that a
missing, revoked, expired or wrong-kind certificate is refused by the application with a message
the office understands (R2.3) instead of a bare handshake failure. A certificate from an unknown CA
still fails the handshake (OpenSSL cannot be told otherwise from Python); the client diagnoses that
case itself against GET /api/v1/trust.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from hub.app import create_app
from hub.banner import listening_lines
from hub.clock import Clock
from hub.config import HubConfig
from hub.connections import ConnectionGate, GuardedSite, handler_args
from hub.datadir import CA_LOST_EN, CA_LOST_JA, TLS_AGAIN_EN, TLS_AGAIN_JA, admin_token, using, write_ready_file

REQUIRED_FILES = ("ca/ca.pem", "tls/hub.pem", "tls/hub-key.pem")


def missing_files(config: HubConfig) -> list[Path]:
    return [config.data_dir / name for name in REQUIRED_FILES if not (config.data_dir / name).exists()]


def server_ssl_context(config: HubConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with using(config.tls_dir / "hub.pem", TLS_AGAIN_JA, TLS_AGAIN_EN, (OSError,)):  # ssl.SSLError is one
        context.load_cert_chain(config.tls_dir / "hub.pem", config.tls_dir / "hub-key.pem")
    with using(config.trusted_ca_file, CA_LOST_JA, CA_LOST_EN, (OSError,)):
        context.load_verify_locations(config.trusted_ca_file)
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


@dataclass(slots=True)
class RunningHub:
    url: str
    port: int
    runner: web.AppRunner
    gate: ConnectionGate  # live connections, their deadlines and cap (hub.connections)

    @property
    def app(self) -> web.Application:
        return self.runner.app

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_hub(
    config: HubConfig, *, clock: Clock | None = None, announce_ready: bool = True, worker: bool = False
) -> RunningHub:
    """Start listening (port 0 picks a free one) and, unless told not to, write the ready file.
    A `worker` of `serve --workers N` (hub.workers) shares its port and leaves garbage collection
    to its supervisor."""
    from dataclasses import replace

    config = replace(config, admin_token=admin_token(config))
    args = handler_args(config)
    runner = web.AppRunner(create_app(config, clock=clock, collect_garbage=not worker), **args)
    try:
        await runner.setup()
        site = GuardedSite(runner, config, args, ssl_context=server_ssl_context(config), reuse_port=worker or None)
        await site.start()
    except BaseException:  # e.g. the port is taken, or Ctrl-C: close the database, or its thread keeps us alive
        await runner.cleanup()
        raise
    port = runner.addresses[0][1]
    host = f"[{config.host}]" if ":" in config.host else config.host
    hub = RunningHub(url=f"https://{host}:{port}", port=port, runner=runner, gate=site.gate)
    if announce_ready:
        write_ready_file(config, url=hub.url, port=hub.port)
    return hub


async def serve_forever(config: HubConfig, *, on_start: Callable[[RunningHub], Awaitable[None]] | None = None) -> None:
    """Run until SIGINT/SIGTERM; `on_start` runs once the hub listens (seeding, announcements).

    The signal handlers come first, before anything can see the ready file: Ctrl-C at any moment,
    even while the hub is still starting or seeding, stops it cleanly (exit 0, no traceback)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    starting = asyncio.ensure_future(_start(config, on_start))
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():  # stopped while starting: _start closes what it opened
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        return
    if starting.exception() is not None:
        stopping.cancel()
    hub = starting.result()
    try:
        write_ready_file(config, url=hub.url, port=hub.port)
        print("\n".join(listening_lines(hub.url, config)), flush=True)
        await stopping
    finally:
        config.ready_file.unlink(missing_ok=True)
        await hub.stop()


async def _start(config: HubConfig, on_start: Callable[[RunningHub], Awaitable[None]] | None) -> RunningHub:
    hub = await start_hub(config, announce_ready=False)
    try:
        if on_start is not None:
            await on_start(hub)
    except BaseException:  # a failure, or Ctrl-C while seeding
        await hub.stop()
        raise
    return hub
