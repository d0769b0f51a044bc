"""The hub's aiohttp application: state on AppKeys, the error middleware, identity helpers.

Every refusal leaves as `{code, message, operation, explanation, detail, fix, findings}` with the
catalogue's HTTP status; anything unexpected becomes INTERNAL with a trace id (the trace goes to
the log, never to the user). Handlers live in `hub.routes`; operations in `hub.service`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from careplan.certificates import OfficeIdentity
from careplan.errors import CareplanError, Lang, Operation, parse_lang
from hub.bodies import refusal_for, too_large
from hub.clock import Clock
from hub.config import HubConfig
from hub.db import Database
from hub.headers import security_headers
from hub.limits import RateLimits, limits_middleware
from hub.logs import quiet_accept_errors, repeat_filtered
from hub.metrics import METRICS, HubMetrics, metrics_middleware
from hub.passwords import PasswordHasher, cpu_pool
from hub.payloads import PayloadStore
from hub.requestid import REQUEST_ID, answer_request_id, note_refusal, request_id_middleware
from hub.retention import audit_detail, harden
from hub.service import HubService, Session
from hub.trust import TrustStore
from hub.usage import UsageSite

log = logging.getLogger(__name__)

CONFIG = web.AppKey("config", HubConfig)
CLOCK = web.AppKey("clock", Clock)
SERVICE = web.AppKey("service", HubService)
PEER = web.RequestKey("peer", OfficeIdentity)
USAGE = web.AppKey("usage", UsageSite)
COLLECT_GARBAGE = web.AppKey("collect_garbage", bool)  # False in the workers of `serve --workers N`

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def json_response(data: object, *, status: int = 200) -> web.Response:
    """JSON as vendors read it: UTF-8 Japanese, not \\u escapes."""
    return web.json_response(data, status=status, dumps=_dumps)


def json_text_response(text: str, *, status: int = 200) -> web.Response:
    """JSON already serialized (list pages built by SQLite, hub.listing)."""
    return web.Response(text=text, status=status, content_type="application/json")


LANG_COOKIE = "careplan_lang"
API_PREFIXES = ("/api/", "/admin/")


def request_lang(request: web.Request) -> Lang:
    """Japanese unless asked: `?lang=`, the website's language switch (cookie), or, on the API
    only, Accept-Language (a browser's English locale must not turn the Japanese site English)."""
    chosen = request.query.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in Lang._value2member_map_:
        return Lang(chosen)
    api = request.path.startswith(API_PREFIXES)
    return parse_lang(request.headers.get("Accept-Language")) if api else Lang.JA


def error_response(error: CareplanError, request: web.Request | None = None) -> web.Response:
    """The JSON refusal, in the language the request asks for (Japanese by default)."""
    lang = request_lang(request) if request is not None else Lang.JA
    return json_response(error.to_wire(lang), status=error.status)


async def refusal_response(error: CareplanError, request: web.Request) -> web.Response:
    """JSON for API clients; an HTML page for a browser outside the API (hub.pages)."""
    from hub.pages import error_page, wants_html

    note_refusal(request, error)  # for the request counters (hub.metrics) and the journal
    return await error_page(request, error) if wants_html(request) else error_response(error, request)


async def _answer(request: web.Request, error: CareplanError) -> web.Response:
    return await refusal_response(error, request)


def _peer_label(request: web.Request) -> str | None:
    peer = request.get(PEER)
    return f"{peer.office_number}/{peer.serial:x}" if peer is not None else request.remote


async def _refused(request: web.Request, error: CareplanError) -> web.Response:
    """Audit (rate-limited by the service), log once per interval without values, answer."""
    service = request.app[SERVICE]
    peer = request.get(PEER)
    label = _peer_label(request)
    try:
        await service.record_refusal(
            peer=label, office_number=peer.office_number if peer is not None else None, error=error
        )
    except Exception as exc:  # the audit must never turn a refusal into a 500
        log.warning("could not record refusal %s: %s: %s", error.code, type(exc).__name__, exc)
    log.info(
        "refused %s %s: %s %s",
        request.method,
        request.path,
        error.code,
        audit_detail(error),
        extra={"repeat_key": (error.code, label)},
    )
    response = await _answer(request, error)  # Retry-After of a 429: hub.headers
    if error.code == "REQUEST_TIMEOUT":
        response.force_close()  # the rest of a too-slow body is not waited for
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except CareplanError as error:
        return await _refused(request, error)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 413:
            return await _refused(request, too_large(request.client_max_size))
        from hub.pages import http_refusal

        return await http_refusal(request, exc)
    except ConnectionError:  # the client went away while we read its body: nobody to answer
        log.debug("client left during %s %s", request.method, request.path)
        return await _answer(
            request,
            CareplanError(
                "BAD_REQUEST", detail="クライアントが接続を閉じました", detail_en="the client closed the connection"
            ),
        )
    except Exception as exc:
        refusal = refusal_for(request, exc)
        if refusal is not None:  # raised while reading a malformed body: the client's fault
            return await _refused(request, refusal)
        trace = request.get(REQUEST_ID) or secrets.token_hex(8)  # the X-Request-Id of the answer
        log.exception("internal error, trace %s", trace)
        return await _answer(
            request, CareplanError("INTERNAL", detail=f"追跡IDは {trace} です", detail_en=f"trace id {trace}")
        )


def peer_der(request: web.Request) -> bytes | None:
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    return ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None


def peer_identity(request: web.Request, operation: Operation) -> OfficeIdentity:
    """The office proven by the TLS client certificate, judged on the hub's clock."""
    service = request.app[SERVICE]
    identity = service.trust.judge(peer_der(request), now=service.clock.now(), operation=operation)
    request[PEER] = identity
    return identity


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise CareplanError(
            "SESSION_REQUIRED",
            detail="'Authorization: Bearer <トークン>' ヘッダがありません",
            fix="ログイン（POST /api/v1/session）し、返されたトークンを送ってください。",
            detail_en="no 'Authorization: Bearer <token>' header",
            fix_en="Log in (POST /api/v1/session) and send the token it returns.",
        )
    return token.strip()


async def office_session(request: web.Request, operation: Operation) -> tuple[OfficeIdentity, Session]:
    """The certificate's office and its session; both must agree (R2.3)."""
    peer = peer_identity(request, operation)
    session = await request.app[SERVICE].session(peer, bearer_token(request), operation)
    return peer, session


def presented_token(request: web.Request) -> str:
    """The Authorization header's bearer token, or "" (admin and metrics tokens are compared to it)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else ""


def require_admin(request: web.Request) -> None:
    token = request.app[CONFIG].admin_token
    remote = request.remote or ""
    try:
        loopback = ipaddress.ip_address(remote).is_loopback
    except ValueError:
        loopback = remote == "localhost"
    given = presented_token(request)
    if not token or not loopback or not secrets.compare_digest(given, token):
        raise CareplanError(
            "ADMIN_FORBIDDEN",
            detail="管理トークンがないか誤っている、または接続元がループバックではありません",
            fix="このマシンから data_dir/admin-token のトークンを 'Authorization: Bearer …' で送ってください。",
            detail_en="admin token missing or wrong, or peer not on loopback",
            fix_en="Send 'Authorization: Bearer <token>' from data_dir/admin-token on this machine.",
        )


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    db = await Database.open(config.db_file)
    db.on_commit_batch = app[METRICS].observe_commit_batch
    cpu = cpu_pool()  # scrypt and other CPU-heavy calls run here, never on the event loop
    service = HubService(
        config=config,
        db=db,
        payloads=PayloadStore(config.payload_dir, config.key_file),
        trust=TrustStore(config.trusted_ca_file, config.crl_file, config.data_dir / "trust" / "crl-in-force.pem"),
        clock=app[CLOCK],
        hasher=PasswordHasher(cpu),
    )
    app[SERVICE] = service
    app[USAGE] = UsageSite(service)
    harden(config.data_dir)
    if app[COLLECT_GARBAGE]:
        await service.collect_garbage()
    await _purge(service)  # at start, before the first request
    housekeeping = asyncio.get_running_loop().create_task(_housekeeping(service))
    restore_loop_handler = quiet_accept_errors(asyncio.get_running_loop())
    with repeat_filtered(config.log_interval):
        yield
    restore_loop_handler()
    housekeeping.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await housekeeping
    await db.close()
    cpu.shutdown(wait=True, cancel_futures=True)


async def _purge(service: HubService) -> None:
    try:
        purged = await service.purge_expired()
    except Exception:  # housekeeping must not take the hub down; it tries again later
        log.exception("purge failed")
        return
    if any(purged.values()):
        log.info("purged expired rows: %s", purged)


async def _housekeeping(service: HubService) -> None:
    """Retention purge and audit summaries every purge_interval seconds (hub.retention)."""
    while True:
        await asyncio.sleep(service.config.purge_interval)
        await _purge(service)


def create_app(config: HubConfig, *, clock: Clock | None = None, collect_garbage: bool = True) -> web.Application:
    from hub import pages
    from hub.admin_views import ADMIN_VIEWS  # read-only views for judges (the conformance kit)
    from hub.control import install as install_control  # journal, faults, snapshots, dashboard
    from hub.routes import ROUTES
    from hub.scrape import METRICS_ROUTES
    from hub.website import TEMPLATES, WEB, templates

    app = web.Application(client_max_size=config.max_form_bytes)
    app[CONFIG] = config
    app[CLOCK] = clock or Clock()
    app[COLLECT_GARBAGE] = collect_garbage
    limits = RateLimits(config)
    app[METRICS] = HubMetrics()
    app.middlewares.extend(
        [
            request_id_middleware,  # outermost: every log line of the request carries its id
            metrics_middleware(app[METRICS]),  # sees the final status of every answer
            error_middleware,
            limits_middleware(limits, lambda r: peer_der(r) is not None, lambda: app[SERVICE].today().isoformat()),
        ]
    )
    app.cleanup_ctx.append(_lifecycle)
    app.on_response_prepare.append(security_headers)
    app.on_response_prepare.append(answer_request_id)
    app[TEMPLATES] = templates()
    app.add_routes(ROUTES)
    app.add_routes(ADMIN_VIEWS)
    app.add_routes(WEB)
    app.add_routes(METRICS_ROUTES)
    pages.setup(app)
    install_control(app)
    return app
