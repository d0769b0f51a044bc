"""The hub's pages for people with a browser: the landing page (/), the API description rendered
from hub/openapi.yaml (/api), how to trust the test CA (/trust, /ca.pem), the language switch, and
HTML error pages.

Rules this module keeps:
1. API clients get JSON, browsers get pages: a refusal is HTML only for a request outside
   /api/ and /admin/ whose Accept header asks for text/html (refusal_response asks here).
2. Everything works offline: no CDN, no JavaScript needed; the API description is rendered on
   the server from the same openapi.yaml that /openapi.yaml serves.
3. Pages are Japanese; English explanations and fixes with the language switch (cookie).
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from careplan.errors import CATALOGUE, CareplanError, Lang
from careplan.trust_help import sections
from hub.keys import API_PREFIXES, CONFIG, LANG_COOKIE, error_response, request_lang
from hub.requestid import note_refusal

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

PAGES = web.RouteTableDef()
METHODS = ("get", "post", "put", "patch", "delete")


def wants_html(request: web.Request) -> bool:
    """A browser asking for a page (not the API, whatever its Accept header says)."""
    if request.path.startswith(API_PREFIXES):
        return False
    return "text/html" in request.headers.get("Accept", "")


async def refusal_response(error: CareplanError, request: web.Request) -> web.Response:
    """JSON for API clients; an HTML page for a browser outside the API (hub.pages)."""
    note_refusal(request, error)  # for the request counters (hub.metrics) and the journal
    return await error_page(request, error) if wants_html(request) else error_response(error, request)


async def _render(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    from hub.website import render  # the site's shell: CSRF token, hub time, language

    return await render(request, template, status=status, **context)


async def error_page(request: web.Request, error: CareplanError) -> web.Response:
    return await _render(request, "error.html", status=error.status, error=error, page="error")


async def http_refusal(request: web.Request, exc: web.HTTPException) -> web.Response:
    """aiohttp's own 404/405/4xx as catalogue refusals (405 keeps its Allow header)."""
    where = f"{request.method} {request.path}"
    if exc.status == 404:
        error = CareplanError("NOT_FOUND", detail=f"{where} はありません", detail_en=f"{where}: no such page or route")
    elif exc.status == 405:
        allowed = ", ".join(sorted(getattr(exc, "allowed_methods", ()) or ()))
        error = CareplanError(
            "METHOD_NOT_ALLOWED",
            detail=f"{where}: 使えるメソッドは {allowed} です",
            detail_en=f"{where}: this route takes {allowed}",
        )
    else:
        error = CareplanError("BAD_REQUEST", detail=f"{where}: {exc.reason}", detail_en=f"{where}: {exc.reason}")
    response = await refusal_response(error, request)
    if exc.status == 405 and "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


# --- the landing page ---------------------------------------------------------------------------
def _has_route(request: web.Request, path: str) -> bool:
    return any(getattr(r, "canonical", None) == path for r in request.app.router.resources())


@PAGES.get("/")
async def landing(request: web.Request) -> web.Response:
    return await _render(
        request,
        "landing.html",
        page="landing",
        hub_url=f"{request.scheme}://{request.host}",
        dashboard=_has_route(request, "/dashboard"),
    )


# --- the API description --------------------------------------------------------------------------
class ApiDoc:
    """hub/openapi.yaml parsed on first use and kept by the application (not the module)."""

    def __init__(self) -> None:
        self._spec: dict[str, Any] | None = None

    @property
    def spec(self) -> dict[str, Any]:
        if self._spec is None:  # yaml and markdown-it load here: ~5 MB a process that never shows /api
            import yaml

            self._spec = dict(yaml.safe_load(resources.files("hub").joinpath("openapi.yaml").read_text("utf-8")))
        return self._spec


API_DOC = web.AppKey("api_doc", ApiDoc)


def setup(app: web.Application) -> None:
    """The pages' routes and state (called by hub.app.create_app)."""
    app[API_DOC] = ApiDoc()
    app.add_routes(PAGES)


def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")


def _operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                op = item[method]
                found.append(
                    {
                        "method": method.upper(),
                        "path": path,
                        "anchor": quote(f"{method}-{path}", safe=""),
                        "summary": op.get("summary", ""),
                        "tag": (op.get("tags") or ["other"])[0],
                        "description": _markdown().render(op.get("description", "")),
                        "codes": op.get("x-error-codes", []),
                        "statuses": sorted(str(s) for s in op.get("responses", {})),
                    }
                )
    return found


@PAGES.get("/api")
async def api_description(request: web.Request) -> web.Response:
    spec = request.app[API_DOC].spec
    lang = request_lang(request)
    codes = [(spec.code, spec.status, spec.message(), spec.explanation_in(lang)) for spec in CATALOGUE.values()]
    return await _render(
        request,
        "api.html",
        page="api",
        info=spec["info"],
        intro=_markdown().render(spec["info"].get("description", "")),
        operations=_operations(spec),
        codes=codes,
    )


# --- trusting the test CA ---------------------------------------------------------------------------
@PAGES.get("/trust")
async def trust_help(request: web.Request) -> web.Response:
    hub_url = f"{request.scheme}://{request.host}"
    ca_file = str(request.app[CONFIG].trusted_ca_file)
    return await _render(request, "trust.html", page="trust", sections=sections(ca_file, hub_url), hub_url=hub_url)


@PAGES.get("/ca.pem")
async def ca_certificate(request: web.Request) -> web.Response:
    pem = request.app[CONFIG].trusted_ca_file.read_bytes()
    return web.Response(
        body=pem,
        content_type="application/x-pem-file",
        headers={"Content-Disposition": 'attachment; filename="careplan-sim-ca.pem"'},
    )


# --- the language switch ------------------------------------------------------------------------------
@PAGES.get("/lang/{lang}")
async def switch_language(request: web.Request) -> web.Response:
    lang = request.match_info["lang"]
    if lang not in Lang._value2member_map_:
        raise CareplanError(
            "NOT_FOUND", detail=f"言語 {lang!r} はありません（ja・en）", detail_en=f"no language {lang!r} (ja, en)"
        )
    target = request.query.get("next", "/")
    if not target.startswith("/") or target.startswith("//"):  # only pages of this hub
        target = "/"
    response = web.HTTPSeeOther(target)
    response.set_cookie(LANG_COOKIE, lang, secure=True, samesite="Lax", path="/", max_age=365 * 24 * 3600)
    raise response
