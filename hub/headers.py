"""Security headers on every response the hub prepares (API, usage website, directory, errors,
redirects), and Retry-After on throttled logins.

Registered as the app's `on_response_prepare` signal rather than as a middleware: the signal also
sees responses no middleware returns (redirects raised as exceptions, aiohttp's own error pages).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from aiohttp import web

from hub.throttle import LoginThrottled

RETRY_AFTER = web.RequestKey("retry_after", int)

# Pages: everything from the hub itself, no inline script or style, never framed, forms post only here.
PAGE_CSP = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# JSON, YAML, files: nothing to load at all.
DATA_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
COMMON = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000",  # the hub serves HTTPS only
    "Cross-Origin-Opener-Policy": "same-origin",
}


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    for name, value in COMMON.items():
        headers.setdefault(name, value)
    html = (headers.get("Content-Type") or "").startswith("text/html")
    headers.setdefault("Content-Security-Policy", PAGE_CSP if html else DATA_CSP)
    if request.path.startswith(("/web/", "/api/")) and not request.path.startswith("/web/static/"):
        headers.setdefault("Cache-Control", "no-store")  # session pages and office data stay out of caches
    retry_after = request.get(RETRY_AFTER)
    if retry_after is not None and response.status == 429:
        headers["Retry-After"] = str(retry_after)


@contextlib.contextmanager
def retry_after_on_throttle(request: web.Request) -> Iterator[None]:
    """Around a login: a LoginThrottled refusal answers with Retry-After (the refusal itself goes
    on to the error handling as usual)."""
    try:
        yield
    except LoginThrottled as throttled:
        request[RETRY_AFTER] = throttled.retry_after
        raise
