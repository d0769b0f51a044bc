"""Connections the hub accepts: slow clients cannot hold them, a flood cannot exhaust them (issue 9 §5).

Rules this module keeps:
1. Every connection is in one phase: HEADERS (the TLS handshake, then the request line and headers
   must arrive within `header_timeout`), BODY (the body must arrive at `body_min_rate` on average
   after `body_grace` seconds), BUSY (the whole body is in; the handler works or writes, no deadline)
   or IDLE (between requests: aiohttp closes it after `keepalive_timeout`; we close it after
   `keepalive_timeout + header_timeout` as a backstop). One sweep per `tick` checks every deadline.
2. A request line or headers too slow: 408 REQUEST_TIMEOUT written on the socket, then closed. A
   body too slow: the handler's next read raises REQUEST_TIMEOUT (so it answers 408 through the
   error middleware, nothing half-stored) and the connection closes after that answer.
3. At most `max_connections` connections (clamped below the process's file limit, which is raised
   to its hard limit first): one more is answered 503 HUB_BUSY with Retry-After and closed, so the
   process never meets EMFILE and other users keep being served.
4. Nothing here logs per connection (reaching the cap is one warning per `log_interval`); the
   counters `refused_busy`, `closed_slow` and `refused_handshake` say what happened (GET /metrics).
   A TLS handshake that has not completed `header_timeout` after the connection was accepted was
   refused or timed out (asyncio tells the application nothing of either): the sweep counts it.

The phases BODY and BUSY are told by `hub.limits.limits_middleware`, which sees each request start
(aiohttp parsed its headers) and end (its answer written).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import resource
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler, RequestPayloadError
from aiohttp.web_request import BaseRequest

from careplan.errors import CareplanError
from hub import heap
from hub.bodies import describe, unparsable_head
from hub.config import HubConfig

log = logging.getLogger(__name__)
FILE_RESERVE = 128  # descriptors kept for the database, payload files, worker threads, logs
CLOSE_GRACE = 1.0  # seconds a refused connection has to take its answer before it is cut


class Phase(enum.Enum):
    HEADERS = "headers"
    BODY = "body"
    BUSY = "busy"
    IDLE = "idle"


def canned(error: CareplanError, *, reason: str, retry_after: int | None = None) -> bytes:
    """A complete HTTP/1.1 answer carrying `error`, for moments no handler runs."""
    body = json.dumps(error.to_wire(), ensure_ascii=False).encode()
    head = (
        f"HTTP/1.1 {error.status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n"
    )
    if retry_after is not None:
        head += f"Retry-After: {retry_after}\r\n"
    return head.encode() + b"\r\n" + body


def slow_request_error(config: HubConfig, *, body: bool) -> CareplanError:
    if body:
        detail = (
            f"本文の受信が遅すぎます（{config.body_grace:g} 秒経過後は平均 "
            f"{config.body_min_rate} バイト/秒以上が必要です）。"
        )
        detail_en = f"the body arrived slower than {config.body_min_rate} bytes/s after {config.body_grace:g} s"
    else:
        detail = f"要求行とヘッダが {config.header_timeout:g} 秒以内に届きませんでした。"
        detail_en = f"the request line and headers did not arrive within {config.header_timeout:g} s"
    return CareplanError(
        "REQUEST_TIMEOUT",
        detail=detail,
        detail_en=detail_en,
        fix="要求を一度に送ってください。回線が遅い場合は、ファイルを分けて送信してください。",
        fix_en="Send the request in one go; on a slow line, split the files over several sends.",
    )


def try_again_later(code: str, *, seconds: int, detail: str, detail_en: str) -> CareplanError:
    """A refusal whose fix is to wait `seconds` (the answer's Retry-After): HUB_BUSY, RATE_LIMITED."""
    return CareplanError(
        code,
        detail=detail,
        detail_en=detail_en,
        fix=f"{seconds} 秒ほど待ってから、再度実行してください。",
        fix_en=f"Wait {seconds} s (Retry-After), then try again.",
    )


def busy_error(config: HubConfig, cap: int) -> CareplanError:
    return try_again_later(
        "HUB_BUSY",
        seconds=config.retry_after,
        detail=f"同時接続数が上限（{cap}）に達しています。",
        detail_en=f"the hub holds its maximum of {cap} connections",
    )


def connection_cap(config: HubConfig) -> int:
    """max_connections, after raising the soft file limit to the hard one, kept below that limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = config.max_connections + FILE_RESERVE
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return config.max_connections
    reserve = max(16, min(FILE_RESERVE, soft // 4))  # a small limit keeps most of it for connections
    return max(1, min(config.max_connections, soft - reserve))


class ConnectionGate:
    """The live connections of one listening site, their deadlines and their cap."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.cap = connection_cap(config)
        self.tick = max(0.02, min(1.0, config.header_timeout / 5, config.body_grace / 5))
        self.handlers: set[GuardedRequestHandler] = set()
        self.refused_busy = 0
        self.closed_slow = 0
        self.refused_handshake = 0
        self.served_at: float | None = None  # a request's end, if the heap is due (hub.heap rule 2)
        self.handshaking: dict[GuardedRequestHandler, float] = {}  # accepted, TLS not yet through (rule 4)
        self._sweeper: asyncio.Task[None] | None = None
        self._header_timeout = canned(slow_request_error(config, body=False), reason="Request Timeout")
        self._busy = canned(busy_error(config, self.cap), reason="Service Unavailable", retry_after=config.retry_after)

    def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.tick)
            now = loop.time()
            for handler in list(self.handlers):
                handler.check(now)
            self._expire_handshakes(now)
            due = self.served_at is not None and now - self.served_at >= heap.QUIET
            if due and all(handler.at_rest() for handler in self.handlers):
                self.served_at = None
                heap.give_back()

    def _expire_handshakes(self, now: float) -> None:
        for handler, accepted in list(self.handshaking.items()):  # oldest first
            if now - accepted <= self.config.header_timeout + self.tick:
                break
            del self.handshaking[handler]
            self.refused_handshake += 1


class GuardedRequestHandler(RequestHandler):
    """aiohttp's connection handler with the phases and deadlines of this module."""

    def __init__(self, manager: web.Server, *, gate: ConnectionGate, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._gate = gate
        self._phase = Phase.HEADERS
        self._since = self._loop.time()
        self._received = 0
        self._body_start = 0
        self._body: web.Request | None = None
        gate.handshaking[self] = self._since  # made for each accepted connection, before its TLS handshake

    @property
    def gate(self) -> ConnectionGate:
        return self._gate

    # --- asyncio protocol --------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        gate = self._gate
        gate.handshaking.pop(self, None)
        if len(gate.handlers) >= gate.cap:
            gate.refused_busy += 1
            log.warning("%d connections open: new ones are answered 503 HUB_BUSY", gate.cap)  # once an interval
            self._answer_and_close(gate._busy)
            return
        gate.handlers.add(self)
        self._phase, self._since = Phase.HEADERS, self._loop.time()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._gate.handlers.discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._received += len(data)
        if self._phase is Phase.IDLE:
            self._phase, self._since = Phase.HEADERS, self._loop.time()
        super().data_received(data)

    # --- told by the middleware ----------------------------------------------------------------------
    def request_started(self, request: web.Request) -> None:
        self._phase, self._since = Phase.BODY, self._loop.time()
        self._body_start, self._body = self._received, request

    def request_finished(self) -> None:
        self._phase, self._since, self._body = Phase.IDLE, self._loop.time(), None
        self._gate.served_at = self._since

    def at_rest(self) -> bool:
        """No request of this connection is in flight: between requests, or connected and nothing
        asked yet."""
        return self._phase is Phase.IDLE or (self._phase is Phase.HEADERS and self._received == 0)

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        """aiohttp calls this when its parser refuses a request line or headers (status 400): answer
        from the catalogue, log one line without a traceback. Anything else stays aiohttp's."""
        if status != 400:
            return super().handle_error(request, status, exc, message)
        error = unparsable_head(exc, message)
        log.info("refused unparsable request from %s: %s", request.remote, error.detail_en, extra={"repeat_key": 400})
        if request.writer.output_size > 0:
            raise ConnectionError("an answer was already started")
        response = web.Response(
            status=error.status,
            text=json.dumps(error.to_wire(), ensure_ascii=False),
            content_type="application/json",
        )
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """A malformed body found while aiohttp drains it after the answer is the client's fault: one
        line, no traceback. Anything else is logged as aiohttp would."""
        exc = kw.get("exc_info")
        if isinstance(exc, HttpProcessingError | RequestPayloadError | ConnectionError):
            log.info("dropped a malformed or cut-off request body: %s", describe(exc), extra={"repeat_key": 400})
            return
        super().log_exception(*args, **kw)

    # --- the sweep -----------------------------------------------------------------------------------
    def check(self, now: float) -> None:
        config, elapsed = self._gate.config, now - self._since
        if self._phase is Phase.HEADERS and elapsed > config.header_timeout:
            self._gate.closed_slow += 1
            self._answer_and_close(self._gate._header_timeout)
        elif self._phase is Phase.BODY and self._body is not None:
            if self._body.content.is_eof():
                self._phase = Phase.BUSY
            elif elapsed > config.body_grace and self._received - self._body_start < (
                (elapsed - config.body_grace) * config.body_min_rate
            ):
                self._gate.closed_slow += 1
                self._phase = Phase.BUSY  # the handler answers 408 and the connection closes
                self._body.content.set_exception(slow_request_error(config, body=True))
                self._loop.call_later(config.lingering_time + 1, self._abort)
        elif self._phase is Phase.IDLE and elapsed > config.keepalive_timeout + config.header_timeout:
            self._abort()

    def _answer_and_close(self, answer: bytes) -> None:
        self._gate.handlers.discard(self)
        transport = self.transport
        if transport is not None:
            transport.write(answer)
            # A closing TLS connection waits for the peer's close_notify; a flood of refused
            # connections must not keep their descriptors that long.
            self._loop.call_later(CLOSE_GRACE, transport.abort)
        self.force_close()

    def _abort(self) -> None:
        self._gate.handlers.discard(self)
        if self.transport is not None:
            self.transport.abort()  # not close(): that would wait to flush what the client does not read
        self.force_close()


class GuardedSite(web.TCPSite):
    """aiohttp's TCPSite whose connections are GuardedRequestHandlers, with a TLS handshake
    deadline of `header_timeout`."""

    def __init__(self, runner: web.AppRunner, config: HubConfig, handler_args: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(runner, config.host, config.port, **kwargs)
        self.gate = ConnectionGate(config)
        self._handler_args = handler_args

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        config, gate, args = self.gate.config, self.gate, self._handler_args

        def factory() -> GuardedRequestHandler:
            return GuardedRequestHandler(server, gate=gate, loop=loop, **args)

        tls: dict[str, Any] = {}
        if self._ssl_context is not None:
            tls = {"ssl_handshake_timeout": config.header_timeout, "ssl_shutdown_timeout": 5.0}
        self._server = await loop.create_server(
            factory,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_port=self._reuse_port,  # workers of `serve --workers N` share the port (hub.workers)
            **tls,
        )
        self._bound_port = self._server.sockets[0].getsockname()[1]
        gate.start()

    async def stop(self) -> None:
        await self.gate.stop()
        await super().stop()


def handler_args(config: HubConfig) -> dict[str, Any]:
    """aiohttp's per-connection settings from the hub's configuration (also given to AppRunner)."""
    return {
        "keepalive_timeout": config.keepalive_timeout,
        "lingering_time": config.lingering_time,
        "access_log": None,
    }
