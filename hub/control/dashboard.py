"""The live dashboard at /dashboard and the message inspector: Japanese pages for a trainer's
projector, updated by server-sent events from the journal.

Access: the admin token (Authorization header, or once as ?token=) or the trainer passcode that
`careplan up` prints (data_dir/trainer-passcode, or once as ?passcode=). Either sets a cookie
(HttpOnly, Secure, SameSite=Strict) holding an HMAC of the admin token, which any worker process
can check. The page's controls post JSON with a custom header, which a cross-site form cannot.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
from importlib import resources
from typing import Any

from aiohttp import web

from careplan.errors import CareplanError, Operation
from hub import tokens
from hub.bodies import json_object
from hub.config import HubConfig
from hub.control import views
from hub.control.feed import feed_item, jst, state
from hub.control.inspector import inspect
from hub.control.plane import CONTROL
from hub.control.steer import restore_snapshot
from hub.datadir import made_once
from hub.keys import CLOCK, CONFIG, SERVICE, json_response, presented_token
from hub.templates import Templates

DASHBOARD = web.RouteTableDef()
COOKIE = "careplan_dashboard"
KEEPALIVE_SECONDS = 15
ADVANCE_LIMIT_DAYS = 400
# The pages load their script and styles from /dashboard/static (no inline code), talk to the hub
# only (fetch, server-sent events), and are never framed.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css", "inspector.css": "text/css",
          "login.css": "text/css"}  # fmt: skip
_TEMPLATES = Templates("hub.control")


def trainer_passcode(config: HubConfig) -> str:
    """The trainer's passcode, kept in data_dir/trainer-passcode (made on first use)."""
    return made_once(config.data_dir / "trainer-passcode", lambda: f"{secrets.randbelow(10**8):08d}")


def _cookie_value(config: HubConfig) -> str:
    return hmac.new(config.admin_token.encode(), b"careplan-dashboard-v1", hashlib.sha256).hexdigest()


def _forbidden() -> CareplanError:
    return CareplanError(
        "ADMIN_FORBIDDEN",
        operation=Operation.ADMIN,
        detail="ダッシュボードには管理トークンまたは講師用パスコードが必要です",
        fix="`careplan up` が表示した講師用パスコードで /dashboard?passcode=… を開いてください。",
        detail_en="the dashboard needs the admin token or the trainer passcode",
        fix_en="Open /dashboard?passcode=… with the passcode `careplan up` printed.",
    )


def _allowed(request: web.Request) -> bool:
    config = request.app[CONFIG]
    if config.admin_token and tokens.same(presented_token(request), config.admin_token):
        return True
    return tokens.same(request.cookies.get(COOKIE, ""), _cookie_value(config))


def _grant(request: web.Request) -> bool:
    """?token= or ?passcode= given and right: the browser may come in (with the cookie)."""
    config = request.app[CONFIG]
    token, passcode = request.query.get("token", ""), request.query.get("passcode", "")
    return bool(
        (token and config.admin_token and tokens.same(token, config.admin_token))
        or (passcode and tokens.same(passcode, trainer_passcode(config)))
    )


def _guard(request: web.Request, *, control: bool = False) -> None:
    if not _allowed(request):
        raise _forbidden()
    if control and request.headers.get("X-Dashboard") != "1":
        raise CareplanError(
            "CSRF_FAILED",
            detail="ダッシュボードの操作はダッシュボード画面からのみ受け付けます",
            fix="ダッシュボード画面を再読み込みして、画面のボタンから操作してください。",
            detail_en="dashboard controls are posted by the dashboard page only",
            fix_en="Reload the dashboard and use its buttons.",
        )


async def _control_field(request: web.Request, name: str) -> str:
    """One field of a control's JSON body, after the access and CSRF checks."""
    _guard(request, control=True)
    value = (await json_object(request)).get(name)  # refusals of a body that is no JSON object, or unstorable text
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    raise CareplanError(
        "BAD_REQUEST",
        detail=f'本文は JSON の {{"{name}": …}} です',
        fix="ダッシュボード画面のボタンから操作してください。",
        detail_en=f'send {{"{name}": …}}',
        fix_en="Use the dashboard's buttons.",
    )


def _page(template: str, status: int = 200, **context: Any) -> web.Response:
    html = _TEMPLATES.render(template, **context)
    return web.Response(text=html, content_type="text/html", status=status, headers={"Content-Security-Policy": CSP})


@DASHBOARD.get("/dashboard/static/{name}")
async def static(request: web.Request) -> web.Response:
    """The pages' script and styles (the login page's too, so no access check)."""
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    text = resources.files("hub.control").joinpath("static", name).read_text("utf-8")
    return web.Response(text=text, content_type=STATIC[name], headers={"Cache-Control": "no-cache"})


@DASHBOARD.get("/dashboard")
async def dashboard(request: web.Request) -> web.StreamResponse:
    if _grant(request):
        response = web.HTTPSeeOther("/dashboard" + ("?presenter=1" if request.query.get("presenter") else ""))
        response.set_cookie(COOKIE, _cookie_value(request.app[CONFIG]), httponly=True, secure=True, samesite="Strict")
        raise response
    if not _allowed(request):
        return _page("dashboard_login.html", status=403)
    return _page("dashboard.html", presenter=bool(request.query.get("presenter")))


@DASHBOARD.get("/dashboard/state")
async def dashboard_state(request: web.Request) -> web.Response:
    _guard(request)
    limit = views.page_limit(request.query.get("limit"), default=15)  # さらに表示 asks for more rows
    return json_response(await state(request.app[SERVICE], request.app[CONTROL], limit=limit))


@DASHBOARD.get("/dashboard/events")
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: each new journal entry, from the moment the page connects."""
    _guard(request)
    after = views.cursor_value(request.query.get("after"))  # refused before the stream starts
    control = request.app[CONTROL]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    cursor = after or await control.journal.last_id()
    quiet_since = time.monotonic()
    try:
        async for entries in control.journal.follow(cursor, control.closing):
            for entry in entries:
                item = json.dumps(feed_item(entry), ensure_ascii=False)
                await response.write(f"id: {entry['id']}\ndata: {item}\n\n".encode())
            if entries:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
                await response.write(b": keep-alive\n\n")
                quiet_since = time.monotonic()
    except ConnectionError:  # the page was closed
        pass
    return response


@DASHBOARD.post("/dashboard/clock")
async def advance(request: web.Request) -> web.Response:
    """{"days": n}: the trainer moves the hub's clock forward."""
    try:
        days = float(await _control_field(request, "days"))
    except ValueError:
        days = -1
    if not 0 < days <= ADVANCE_LIMIT_DAYS:
        raise CareplanError(
            "BAD_REQUEST",
            detail=f"days は 0 より大きく {ADVANCE_LIMIT_DAYS} 以下です",
            fix="進める日数を指定し直してください。",
            detail_en=f"days must be in (0, {ADVANCE_LIMIT_DAYS}]",
            fix_en="Give the number of days to advance again.",
        )
    clock = request.app[CLOCK]
    clock.advance(dt.timedelta(days=days))
    return json_response(clock.state() | {"jst": jst(clock.now().isoformat())})


@DASHBOARD.post("/dashboard/restore")
async def restore(request: web.Request) -> web.Response:
    """{"name": snapshot}: the trainer returns the hub to a saved state."""
    name = await _control_field(request, "name")
    return json_response(await restore_snapshot(request.app[CONTROL], name))


@DASHBOARD.post("/dashboard/corrections/{correction_id}")
async def correction(request: web.Request) -> web.Response:
    """{"status": …}: a directory correction request moves on (受付済 → 対応中 → 反映済 / 却下)."""
    status = await _control_field(request, "status")
    changed = await views.set_correction_status(request.app[SERVICE], request.match_info["correction_id"], status)
    return json_response(changed)


@DASHBOARD.get("/dashboard/transmissions/{transmission_id}")
async def inspector(request: web.Request) -> web.Response:
    _guard(request)
    tid = request.match_info["transmission_id"]
    found = await inspect(request.app[SERVICE], request.app[CONTROL].journal, tid)
    if found is None:
        return _page("inspector.html", status=404, transmission_id=tid, found=None, jst=jst)
    return _page("inspector.html", transmission_id=tid, found=found, jst=jst)
