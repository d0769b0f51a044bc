"""The hub's aiohttp application, assembled: state on AppKeys (`hub.keys`), the middlewares, the
route tables of the API, the website, the pages, metrics and the control plane, and the lifecycle
(database, service, housekeeping). Nothing else lives here, and no module imports it but the
server (`hub.server`) and tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from hub import pages
from hub.admin_views import ADMIN_VIEWS
from hub.clock import Clock
from hub.config import HubConfig
from hub.control import install as install_control
from hub.headers import security_headers
from hub.keys import CLOCK, COLLECT_GARBAGE, CONFIG, SERVICE, USAGE, peer_der
from hub.limits import RateLimits, limits_middleware
from hub.logs import quiet_accept_errors, repeat_filtered
from hub.metrics import METRICS, HubMetrics, metrics_middleware
from hub.middleware import error_middleware
from hub.nodes import GARBAGE_GRACE, collect_garbage, collect_garbage_at_start, shared
from hub.passwords import PasswordHasher, cpu_pool
from hub.payloads import PayloadStore
from hub.requestid import answer_request_id, request_id_middleware
from hub.retention import harden
from hub.routes import ROUTES
from hub.scrape import METRICS_ROUTES
from hub.service import HubService
from hub.storage import open_storage
from hub.trust import TrustStore
from hub.usage import UsageSite
from hub.website import TEMPLATES, WEB, templates

log = logging.getLogger(__name__)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    db = await open_storage(config.database_url, config.db_file)
    db.on_commit_batch = app[METRICS].observe_commit_batch
    cpu = cpu_pool()  # scrypt and other CPU-heavy calls run here, never on the event loop
    try:
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
        if app[COLLECT_GARBAGE]:  # on a shared database only stale files: other nodes may be writing
            await collect_garbage_at_start(config, db, service.payloads)
        await _purge(service)  # at start, before the first request
        housekeeping = asyncio.get_running_loop().create_task(_housekeeping(service))
    except BaseException:  # a failure or Ctrl-C while starting: nothing may keep the process alive
        await db.close()
        cpu.shutdown(wait=True, cancel_futures=True)
        raise
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
        if shared(service.config):  # a crashed node's files (hub.nodes rule 5); alone: at start only
            try:
                await collect_garbage(service.db, service.payloads, grace=GARBAGE_GRACE)
            except Exception:
                log.exception("payload garbage collection failed")


def create_app(config: HubConfig, *, clock: Clock | None = None, collect_garbage: bool = True) -> web.Application:
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
