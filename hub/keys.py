"""What the hub's handlers share: the application's state keys and the request helpers (JSON
answers, the request's language, the TLS peer's office, the session, the admin check).

`hub.app` only assembles the application; handler modules (`hub.routes`, `hub.website`,
`hub.pages`, `hub.control`, …) import from here, never from `hub.app`, so no module imports the
one that assembles it.
"""

from __future__ import annotations

import ipaddress
import json

from aiohttp import web

from careplan.certificates import OfficeIdentity
from careplan.errors import CareplanError, Lang, Operation, parse_lang
from hub import tokens
from hub.clock import Clock
from hub.config import HubConfig
from hub.service import HubService, Session
from hub.usage import UsageSite

CONFIG = web.AppKey("config", HubConfig)
CLOCK = web.AppKey("clock", Clock)
SERVICE = web.AppKey("service", HubService)
PEER = web.RequestKey("peer", OfficeIdentity)
USAGE = web.AppKey("usage", UsageSite)
COLLECT_GARBAGE = web.AppKey("collect_garbage", bool)  # False in the workers of `serve --workers N`


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


_PEER_DER = web.RequestKey("peer_der", tuple)  # (DER or None,): read once a request


def peer_der(request: web.Request) -> bytes | None:
    """The TLS client certificate (DER) of the request's connection, or None. Kept on the request:
    the rate limits and the handler both ask, and each read copies the certificate out of OpenSSL."""
    known = request.get(_PEER_DER)
    if known is None:
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        known = request[_PEER_DER] = (ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None,)
    der: bytes | None = known[0]
    return der


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
    if not token or not loopback or not tokens.same(given, token):
        raise CareplanError(
            "ADMIN_FORBIDDEN",
            detail="管理トークンがないか誤っている、または接続元がループバックではありません",
            fix="このマシンから data_dir/admin-token のトークンを 'Authorization: Bearer …' で送ってください。",
            detail_en="admin token missing or wrong, or peer not on loopback",
            fix_en="Send 'Authorization: Bearer <token>' from data_dir/admin-token on this machine.",
        )
