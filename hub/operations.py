"""Which operation of an office each route of the hub serves, so that a refusal raised without
`operation=` reads as what the office was doing (R2.3): INTERNAL inside a submit says
送信に失敗しました。…, inside the inbox or a download 受信に失敗しました。…

Rules this module keeps:
1. One table, by the route aiohttp matched (`METHOD /template`): the session and the usage
   website's login routes are LOGIN, the submit (one send, and each send of a 一括送信) is SEND,
   the inbox, download info, file and acknowledgement routes are RECEIVE; the admin API and the
   dashboard are ADMIN by prefix. Anything else, an unmatched path included, is the client's data
   load (LOAD, R3.6), and so is the send list: it sends nothing.
2. The route only words what its raise site left open, and only where the catalogue has a wording
   for it (`CareplanError.in_context`): INTERNAL has none for login or admin, so it reads as a
   data load there. The error middleware and the fault injector ask here; handlers never do.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from aiohttp import web

from careplan.errors import CareplanError, Operation

ROUTE_OPERATIONS: Mapping[str, Operation] = MappingProxyType(
    {
        "POST /api/v1/session": Operation.LOGIN,
        "GET /api/v1/session": Operation.LOGIN,
        "DELETE /api/v1/session": Operation.LOGIN,
        "GET /web/login": Operation.LOGIN,
        "POST /web/login": Operation.LOGIN,
        "GET /web/password": Operation.LOGIN,
        "POST /web/password": Operation.LOGIN,
        "POST /web/logout": Operation.LOGIN,
        "POST /api/v1/transmissions": Operation.SEND,
        "GET /api/v1/inbox": Operation.RECEIVE,
        "GET /api/v1/inbox/{transmission_id}": Operation.RECEIVE,
        "GET /api/v1/inbox/{transmission_id}/files/{position}": Operation.RECEIVE,
        "POST /api/v1/inbox/{transmission_id}/ack": Operation.RECEIVE,
    }
)
ADMIN_PREFIXES = ("/admin/", "/dashboard")


def _named(method: str, resource: web.AbstractResource | None) -> str | None:
    """`METHOD /template`, the one name of a route for faults, the journal and their checks."""
    return f"{method} {resource.canonical}" if resource is not None else None


def matched_route(request: web.Request) -> str | None:
    """`METHOD /template` of the route that matched, None when none did (a 404 or a 405)."""
    return _named(request.method, request.match_info.route.resource)


def route_of(request: web.Request) -> str:
    """`METHOD /template` of the route that matched (the path itself when none did)."""
    return matched_route(request) or f"{request.method} {request.path}"


def routes_of(app: web.Application) -> tuple[str, ...]:
    """Every route of `app` named as `route_of` names a request's (`METHOD /template`), in the
    router's order."""
    return tuple(name for r in app.router.routes() if (name := _named(r.method, r.resource)) is not None)


def route_operation(request: web.Request) -> Operation:
    """The operation the request's route serves (rule 1)."""
    if request.path.startswith(ADMIN_PREFIXES):
        return Operation.ADMIN
    return ROUTE_OPERATIONS.get(route_of(request), Operation.LOAD)


def in_route(error: CareplanError, request: web.Request) -> CareplanError:
    """`error` worded for the request's route where its raise site named no operation (rule 2)."""
    return error.in_context(route_operation(request))
