"""A TCP load balancer for tests of several hub nodes: what haproxy `mode tcp` does in a
deployment (README "Deployment"). Mutual TLS ends at the hub, so the balancer only passes bytes:
each new connection goes to the next node in turn, skipping nodes that refuse connections (a
killed node), and a connection whose node dies is closed, so the client retries on a new one."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass(slots=True)
class Balancer:
    backends: list[tuple[str, int]]
    port: int = 0
    connections: dict[tuple[str, int], int] = field(default_factory=dict)  # accepted per node
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        start = next(self._turn)
        for offset in range(len(self.backends)):
            backend = self.backends[(start + offset) % len(self.backends)]
            try:
                pair = await asyncio.open_connection(*backend)
            except OSError:
                continue
            self.connections[backend] = self.connections.get(backend, 0) + 1
            return pair
        return None

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream = await self._connect()
        if upstream is None:  # no node answers: the client sees a refused/closed connection
            client_writer.close()
            return
        node_reader, node_writer = upstream
        await asyncio.gather(self._pipe(client_reader, node_writer), self._pipe(node_reader, client_writer))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        """Listen on loopback; yields the hub URL to give clients (same host, the balancer's port)."""
        server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield f"https://127.0.0.1:{self.port}"
        finally:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)
