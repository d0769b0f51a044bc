"""The error middleware: every refusal leaves as `{code, message, operation, explanation, detail,
fix, findings}` with the catalogue's HTTP status (JSON for API clients, an HTML page for browsers:
`hub.pages.refusal_response`); anything unexpected becomes INTERNAL with a trace id (the trace goes
to the log, never to the user). A refusal raised without `operation=` is worded for the route's
operation (`hub.operations`: INTERNAL inside a submit reads as a failed send). Refusals are audited
(rate-limited) and logged once per interval, without values from files.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from careplan.errors import CareplanError
from hub.bodies import refusal_for, too_large
from hub.keys import CONFIG, PEER, SERVICE
from hub.logs import logged_path
from hub.operations import in_route
from hub.pages import http_refusal, refusal_response
from hub.requestid import REQUEST_ID
from hub.retention import audit_detail

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _peer_label(request: web.Request) -> str | None:
    peer = request.get(PEER)
    return f"{peer.office_number}/{peer.serial:x}" if peer is not None else request.remote


async def _refused(request: web.Request, error: CareplanError) -> web.Response:
    """Word for the route, audit (rate-limited by the service), log once per interval without
    values, answer."""
    error = in_route(error, request)
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
        logged_path(request),
        error.code,
        audit_detail(error),
        extra={"repeat_key": (error.code, label)},
    )
    response = await refusal_response(error, request)  # Retry-After of a 429: hub.headers
    if error.code == "DATABASE_UNAVAILABLE":  # the storage said so (hub.storage): try again soon
        config = request.app.get(CONFIG)
        response.headers["Retry-After"] = str(config.retry_after if config is not None else 5)
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
        return await http_refusal(request, exc)
    except ConnectionError:  # the client went away while we read its body: nobody to answer
        log.debug("client left during %s %s", request.method, logged_path(request))
        return await refusal_response(
            CareplanError(
                "BAD_REQUEST", detail="クライアントが接続を閉じました", detail_en="the client closed the connection"
            ),
            request,
        )
    except Exception as exc:
        refusal = refusal_for(request, exc)
        if refusal is not None:  # raised while reading a malformed body: the client's fault
            return await _refused(request, refusal)
        trace = request.get(REQUEST_ID) or secrets.token_hex(8)  # the X-Request-Id of the answer
        log.exception("internal error, trace %s", trace)
        internal = CareplanError("INTERNAL", detail=f"追跡IDは {trace} です", detail_en=f"trace id {trace}")
        return await refusal_response(in_route(internal, request), request)
