"""What the hub's handlers share: the application's state keys and the request helpers (identity
from the TLS certificate, the session, the admin check, JSON answers).

They live apart from `hub.app`, which only assembles the application, so handler modules
(`hub.routes`, `hub.website`, `hub.control`) import this module and never `hub.app`: no cycle.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from careplan.certificates import OfficeIdentity
from careplan.errors import CareplanError, Operation
from hub.clock import Clock
from hub.config import HubConfig
from hub.service import HubService, Session
from hub.usage import UsageSite

CONFIG = web.AppKey("config", HubConfig)
CLOCK = web.AppKey("clock", Clock)
SERVICE = web.AppKey("service", HubService)
PEER = web.RequestKey("peer", OfficeIdentity)
USAGE = web.AppKey("usage", UsageSite)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def json_response(data: object, *, status: int = 200) -> web.Response:
    """JSON as vendors read it: UTF-8 Japanese, not \\u escapes."""
    return web.json_response(data, status=status, dumps=_dumps)


def error_response(error: CareplanError) -> web.Response:
    return json_response(error.to_wire(), status=error.status)


def _peer_der(request: web.Request) -> bytes | None:
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    return ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None


def peer_identity(request: web.Request, operation: Operation) -> OfficeIdentity:
    """The office proven by the TLS client certificate, judged on the hub's clock."""
    service = request.app[SERVICE]
    identity = service.trust.judge(_peer_der(request), now=service.clock.now(), operation=operation)
    request[PEER] = identity
    return identity


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise CareplanError(
            "SESSION_REQUIRED",
            detail="no 'Authorization: Bearer <token>' header",
            fix="Log in (POST /api/v1/session) and send the token it returns.",
        )
    return token.strip()


async def office_session(request: web.Request, operation: Operation) -> tuple[OfficeIdentity, Session]:
    """The certificate's office and its session; both must agree (R2.3)."""
    peer = peer_identity(request, operation)
    session = await request.app[SERVICE].session(peer, bearer_token(request), operation)
    return peer, session


def require_admin(request: web.Request) -> None:
    token = request.app[CONFIG].admin_token
    remote = request.remote or ""
    try:
        loopback = ipaddress.ip_address(remote).is_loopback
    except ValueError:
        loopback = remote == "localhost"
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    given = given.strip() if scheme.lower() == "bearer" else ""
    if not token or not loopback or not secrets.compare_digest(given, token):
        raise CareplanError(
            "ADMIN_FORBIDDEN",
            detail="admin token missing or wrong, or peer not on loopback",
            fix="Send 'Authorization: Bearer <token>' from data_dir/admin-token on this machine.",
        )
