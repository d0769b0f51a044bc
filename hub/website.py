"""The usage-status website and the public office directory: server-rendered Japanese pages that
work without JavaScript. Thin handlers over `hub.usage.UsageSite`.

Security: cookies are `__Host-` prefixed, HttpOnly, Secure and SameSite=Strict. Every form carries
a CSRF token bound to the browser's session cookie, or before login to its pre-session cookie (an
HMAC of that cookie under the hub's key, `UsageSite.csrf_token`): a token read from one session is
worthless with another, and a cookie planted by someone else comes without a token. Security
headers (CSP, frame denial, nosniff, referrer, HSTS) are added to every response by
`hub.headers`. Refusals render the page again with the catalogue's message and status, never a
traceback.
"""

from __future__ import annotations

import secrets
from importlib import resources
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from careplan.errors import CareplanError
from careplan.office import PREFECTURES
from careplan.standard import standard
from hub import tokens
from hub.bodies import form_fields
from hub.headers import retry_after_on_throttle
from hub.keys import CLOCK, USAGE, request_lang
from hub.offices import JST
from hub.requestid import note_refusal
from hub.templates import Templates
from hub.usage import CORRECTABLE_FIELDS, WebSession

WEB = web.RouteTableDef()
# __Host-: the browser takes them only from this host over HTTPS, never from a sibling domain.
SESSION_COOKIE = "__Host-careplan_web"
PRESESSION_COOKIE = "__Host-careplan_pre"
TEMPLATES = web.AppKey("templates", Templates)
JST_FORMAT = "%Y-%m-%d %H:%M"


def templates() -> Templates:
    return Templates("hub")


def _cookie(response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(name, value, httponly=True, secure=True, samesite="Strict", path="/")


def _binding(request: web.Request) -> str | None:
    """What the browser's CSRF tokens are bound to: its session cookie, else its pre-session one."""
    if session := request.cookies.get(SESSION_COOKIE):
        return f"session:{session}"
    if presession := request.cookies.get(PRESESSION_COOKIE):
        return f"pre:{presession}"
    return None


async def render(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    binding, presession = _binding(request), None
    if binding is None:  # a first visit: a pre-session cookie for the forms of this page
        presession = secrets.token_urlsafe(24)
        binding = f"pre:{presession}"
    csrf = await request.app[USAGE].csrf_token(binding)
    hub_time = request.app[CLOCK].now().astimezone(JST).strftime(JST_FORMAT)
    page_context = {"lang": str(request_lang(request)), "path": request.path_qs} | context
    html = request.app[TEMPLATES].render(template, csrf=csrf, hub_time=hub_time, **page_context)
    response = web.Response(text=html, content_type="text/html", status=status)
    if presession is not None:
        _cookie(response, PRESESSION_COOKIE, presession)
    return response


async def _form(request: web.Request) -> MultiDictProxy[str]:
    form = await form_fields(request)
    binding = _binding(request)
    expected = await request.app[USAGE].csrf_token(binding) if binding else ""
    if not expected or not tokens.same(str(form.get("csrf", "")), expected):
        raise CareplanError(
            "CSRF_FAILED",
            detail="フォームのCSRFトークンが、このブラウザのセッションのものではありません",
            fix="ページを再読み込みしてから、もう一度送信してください。",
            detail_en="the form's csrf token does not belong to this browser's session or pre-session cookie",
            fix_en="Reload the page and submit the form again.",
        )
    return MultiDictProxy(form)  # type: ignore[arg-type]


async def _refused(request: web.Request, template: str, error: CareplanError, **context: Any) -> web.Response:
    note_refusal(request, error)  # for the request counters (hub.metrics) and the journal
    return await render(request, template, status=error.status, error=error, **context)


async def _session(request: web.Request, *, allow_must_change: bool = False) -> WebSession:
    ws = await request.app[USAGE].session(request.cookies.get(SESSION_COOKIE))
    if ws is None:
        raise web.HTTPSeeOther("/web/login")
    if ws.must_change_password and not allow_must_change:
        raise web.HTTPSeeOther("/web/password")
    return ws


async def _office_page(request: web.Request, template: str, page: str, ws: WebSession, **context: Any) -> web.Response:
    office = await request.app[USAGE].service.office(ws.office_number)
    return await render(request, template, office=office, page=page, **context)


# --- login and password -------------------------------------------------------------------------
@WEB.get("/web")
async def web_root(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/web/")


@WEB.get("/web/static/site.css")
async def style_sheet(request: web.Request) -> web.Response:
    css = resources.files("hub").joinpath("static/site.css").read_bytes()
    return web.Response(body=css, content_type="text/css", headers={"Cache-Control": "max-age=3600"})


@WEB.get("/web/login")
async def login_page(request: web.Request) -> web.Response:
    flash = "ログアウトしました。" if request.query.get("logged_out") else None
    return await render(request, "login.html", page="login", flash=flash)


@WEB.post("/web/login")
async def login(request: web.Request) -> web.Response:
    try:
        form = await _form(request)
        with retry_after_on_throttle(request):
            token, must_change = await request.app[USAGE].login(
                str(form.get("user_id", "")), str(form.get("password", "")), remote=request.remote
            )
    except CareplanError as error:  # the form keeps the user ID typed (never the password)
        user_id = str((await request.post()).get("user_id", "")).replace("\x00", "")  # shown again: no NUL
        return await _refused(request, "login.html", error, page="login", user_id=user_id)
    response = web.HTTPSeeOther("/web/password" if must_change else "/web/")
    _cookie(response, SESSION_COOKIE, token)
    raise response


@WEB.get("/web/password")
async def password_page(request: web.Request) -> web.Response:
    ws = await _session(request, allow_must_change=True)
    return await _office_page(request, "password.html", "password", ws, must_change=ws.must_change_password)


@WEB.post("/web/password")
async def change_password(request: web.Request) -> web.Response:
    ws = await _session(request, allow_must_change=True)
    try:
        form = await _form(request)
        token = await request.app[USAGE].change_password(
            ws,
            str(form.get("current_password", "")),
            str(form.get("new_password", "")),
            str(form.get("new_password_confirm", "")),
            remote=request.remote,
        )
    except CareplanError as error:
        office = await request.app[USAGE].service.office(ws.office_number)
        return await _refused(
            request, "password.html", error, office=office, page="password", must_change=ws.must_change_password
        )
    response = web.HTTPSeeOther("/web/?changed=1")
    _cookie(response, SESSION_COOKIE, token)  # every older session of the user has ended
    raise response


@WEB.post("/web/logout")
async def logout(request: web.Request) -> web.Response:
    try:
        await _form(request)
    except CareplanError as error:
        return await _refused(request, "error.html", error)
    await request.app[USAGE].logout(request.cookies.get(SESSION_COOKIE))
    response = web.HTTPSeeOther("/web/login?logged_out=1")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


# --- the office's pages ---------------------------------------------------------------------------
@WEB.get("/web/")
async def top(request: web.Request) -> web.Response:
    ws = await _session(request)
    data = await request.app[USAGE].top(ws)
    flash = "パスワードを変更しました。" if request.query.get("changed") else None
    return await render(request, "top.html", page="top", flash=flash, kinds=_service_kinds(), **data)


@WEB.get("/web/apply")
async def apply_page(request: web.Request) -> web.Response:
    ws = await _session(request)
    return await _office_page(request, "apply.html", "apply", ws, licence=await request.app[USAGE].licence_summary(ws))


@WEB.post("/web/apply")
async def apply(request: web.Request) -> web.Response:
    return await _licence_action(request, "apply")


@WEB.post("/web/renew")
async def renew(request: web.Request) -> web.Response:
    return await _licence_action(request, "renew")


async def _licence_action(request: web.Request, action: str) -> web.Response:
    ws = await _session(request)
    usage = request.app[USAGE]
    try:
        form = await _form(request)
        if action == "apply":
            await usage.apply(ws, str(form.get("payment", "deduction")))
        else:
            await usage.renew(ws)
    except CareplanError as error:
        office = await usage.service.office(ws.office_number)
        return await _refused(
            request, "apply.html", error, office=office, page="apply", licence=await usage.licence_summary(ws)
        )
    raise web.HTTPSeeOther("/web/apply")


@WEB.get("/web/licence")
async def licence(request: web.Request) -> web.Response:
    ws = await _session(request)
    return await _office_page(
        request, "licence.html", "licence", ws, licence=await request.app[USAGE].licence_summary(ws)
    )


# --- the public directory ---------------------------------------------------------------------------
def _service_kinds() -> dict[str, str]:
    """サービス種類 of the directory's filter: the care-management kinds and the kinds in scope."""
    return {**standard().care_manager_kinds, **standard().kinds_in_scope}


@WEB.get("/directory")
async def directory(request: web.Request) -> web.Response:
    query = {k: request.query.get(k, "").strip() for k in ("q", "prefecture", "service_kind")}
    offices = await request.app[USAGE].directory(**query)
    return await render(
        request,
        "directory.html",
        page="directory",
        offices=offices,
        prefectures=PREFECTURES,
        kinds=_service_kinds(),
        **query,
    )


@WEB.get("/directory/correction")
async def correction_page(request: web.Request) -> web.Response:
    return await render(
        request,
        "correction.html",
        page="directory",
        office_number=request.query.get("office", ""),
        fields=CORRECTABLE_FIELDS,
        done=False,
    )


@WEB.post("/directory/correction")
async def correction(request: web.Request) -> web.Response:
    try:
        form = await _form(request)
        await request.app[USAGE].request_correction(
            office_number=str(form.get("office_number", "")),
            field=str(form.get("field", "")),
            value=str(form.get("value", "")),
            contact=str(form.get("contact", "")),
        )
    except CareplanError as error:
        return await _refused(
            request,
            "correction.html",
            error,
            page="directory",
            fields=CORRECTABLE_FIELDS,
            done=False,
            office_number=request.query.get("office", ""),
        )
    return await render(request, "correction.html", page="directory", fields=CORRECTABLE_FIELDS, done=True)
