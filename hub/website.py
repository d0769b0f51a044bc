"""The usage-status website and the public office directory: server-rendered Japanese pages that
work without JavaScript. Thin handlers over `hub.usage.UsageSite`.

Security: the session cookie is HttpOnly, Secure and SameSite=Strict; every form carries a CSRF
token that must equal the token in its own cookie (double submit); refusals render the page again
with the catalogue's message and status, never a traceback.
"""

from __future__ import annotations

import secrets
from typing import Any

import jinja2
from aiohttp import web
from multidict import MultiDictProxy

from careplan.errors import CareplanError
from careplan.office import PREFECTURES
from careplan.standard import standard
from hub.keys import CLOCK, USAGE
from hub.offices import JST
from hub.usage import CORRECTABLE_FIELDS, WebSession

WEB = web.RouteTableDef()
SESSION_COOKIE = "careplan_web"
CSRF_COOKIE = "careplan_csrf"
TEMPLATES = web.AppKey("templates", jinja2.Environment)
JST_FORMAT = "%Y-%m-%d %H:%M"


def templates() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("hub", "templates"), autoescape=True)


def _cookie(response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(name, value, httponly=True, secure=True, samesite="Strict", path="/")


def render(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    hub_time = request.app[CLOCK].now().astimezone(JST).strftime(JST_FORMAT)
    html = request.app[TEMPLATES].get_template(template).render(csrf=csrf, hub_time=hub_time, **context)
    response = web.Response(text=html, content_type="text/html", status=status)
    if CSRF_COOKIE not in request.cookies:
        _cookie(response, CSRF_COOKIE, csrf)
    return response


async def _form(request: web.Request) -> MultiDictProxy[str]:
    form = await request.post()
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not secrets.compare_digest(str(form.get("csrf", "")), expected):
        raise CareplanError(
            "CSRF_FAILED",
            detail="the form's csrf token does not match its cookie",
            fix="Reload the page and submit the form again.",
        )
    return MultiDictProxy(form)  # type: ignore[arg-type]


def _refused(request: web.Request, template: str, error: CareplanError, **context: Any) -> web.Response:
    return render(request, template, status=error.status, error=error, **context)


async def _session(request: web.Request, *, allow_must_change: bool = False) -> WebSession:
    ws = await request.app[USAGE].session(request.cookies.get(SESSION_COOKIE))
    if ws is None:
        raise web.HTTPSeeOther("/web/login")
    if ws.must_change_password and not allow_must_change:
        raise web.HTTPSeeOther("/web/password")
    return ws


async def _office_page(request: web.Request, template: str, page: str, ws: WebSession, **context: Any) -> web.Response:
    office = await request.app[USAGE].service.office(ws.office_number)
    return render(request, template, office=office, page=page, **context)


# --- login and password -------------------------------------------------------------------------
@WEB.get("/web")
async def web_root(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/web/")


@WEB.get("/web/login")
async def login_page(request: web.Request) -> web.Response:
    return render(request, "login.html", page="login")


@WEB.post("/web/login")
async def login(request: web.Request) -> web.Response:
    try:
        form = await _form(request)
        token, must_change = await request.app[USAGE].login(
            str(form.get("user_id", "")), str(form.get("password", "")), remote=request.remote or "?"
        )
    except CareplanError as error:
        return _refused(request, "login.html", error, page="login")
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
        await request.app[USAGE].change_password(
            request.cookies.get(SESSION_COOKIE, ""),
            ws,
            str(form.get("current_password", "")),
            str(form.get("new_password", "")),
            str(form.get("new_password_confirm", "")),
        )
    except CareplanError as error:
        office = await request.app[USAGE].service.office(ws.office_number)
        return _refused(
            request, "password.html", error, office=office, page="password", must_change=ws.must_change_password
        )
    raise web.HTTPSeeOther("/web/?changed=1")


@WEB.post("/web/logout")
async def logout(request: web.Request) -> web.Response:
    try:
        await _form(request)
    except CareplanError as error:
        return _refused(request, "error.html", error)
    await request.app[USAGE].logout(request.cookies.get(SESSION_COOKIE))
    response = web.HTTPSeeOther("/web/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


# --- the office's pages ---------------------------------------------------------------------------
@WEB.get("/web/")
async def top(request: web.Request) -> web.Response:
    ws = await _session(request)
    data = await request.app[USAGE].top(ws)
    flash = "パスワードを変更しました。" if request.query.get("changed") else None
    return render(request, "top.html", page="top", flash=flash, kinds=_service_kinds(), **data)


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
        return _refused(
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
    return render(
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
    return render(
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
        return _refused(
            request,
            "correction.html",
            error,
            page="directory",
            fields=CORRECTABLE_FIELDS,
            done=False,
            office_number=request.query.get("office", ""),
        )
    return render(request, "correction.html", page="directory", fields=CORRECTABLE_FIELDS, done=True)
