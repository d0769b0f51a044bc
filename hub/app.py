"""The hub's aiohttp application, assembled: the error middleware, the lifecycle, the routes.

Every refusal leaves as `{code, message, operation, explanation, detail, fix, findings}` with the
catalogue's HTTP status; anything unexpected becomes INTERNAL with a trace id (the trace goes to
the log, never to the user). Handlers live in `hub.routes`, `hub.website` and `hub.control`;
the keys and request helpers they share in `hub.keys` (re-exported here for older imports);
operations in `hub.service`. No module imports this one except the server that runs it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator

from aiohttp import web

from careplan.errors import CareplanError
from hub.clock import Clock
from hub.config import HubConfig
from hub.control import install as install_control
from hub.db import Database
from hub.headers import security_headers
from hub.keys import (  # re-exported: modules written before hub.keys import them from here
    CLOCK,
    CONFIG,
    PEER,
    SERVICE,
    USAGE,
    Handler,
    bearer_token,
    error_response,
    json_response,
    office_session,
    peer_identity,
    require_admin,
)
from hub.passwords import PasswordHasher, cpu_pool
from hub.payloads import PayloadStore
from hub.routes import ROUTES
from hub.service import HubService
from hub.trust import TrustStore
from hub.usage import UsageSite
from hub.website import TEMPLATES, WEB, templates

log = logging.getLogger(__name__)
__all__ = [
    "CLOCK", "CONFIG", "PEER", "SERVICE", "USAGE", "bearer_token", "create_app", "error_response", "json_response",
    "office_session", "peer_identity", "require_admin",
]  # fmt: skip


def _peer_label(request: web.Request) -> str | None:
    peer = request.get(PEER)
    return f"{peer.office_number}/{peer.serial:x}" if peer is not None else request.remote


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except CareplanError as error:
        service = request.app[SERVICE]
        peer = request.get(PEER)
        try:
            await service.record_refusal(
                peer=_peer_label(request),
                office_number=peer.office_number if peer is not None else None,
                error=error,
            )
        except Exception:  # the audit must never turn a refusal into a 500
            log.exception("could not record refusal %s", error.code)
        log.info("refused %s %s: %s %s", request.method, request.path, error.code, error.detail)
        return error_response(error)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = "NOT_FOUND" if exc.status == 404 else "BAD_REQUEST"
        return error_response(CareplanError(code, detail=f"{request.method} {request.path}: {exc.reason}"))
    except Exception:
        trace = secrets.token_hex(8)
        log.exception("internal error, trace %s", trace)
        return error_response(CareplanError("INTERNAL", detail=f"trace id {trace}"))


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    db = await Database.open(config.db_file)
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
    await service.collect_garbage()
    yield
    await db.close()
    cpu.shutdown(wait=True, cancel_futures=True)


def create_app(config: HubConfig, *, clock: Clock | None = None) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=1024 * 1024)
    app[CONFIG] = config
    app[CLOCK] = clock or Clock()
    app.cleanup_ctx.append(_lifecycle)
    app.on_response_prepare.append(security_headers)
    app[TEMPLATES] = templates()
    app.add_routes(ROUTES)
    app.add_routes(WEB)
    install_control(app)  # the control plane: journal, faults, snapshots, dashboard
    return app
