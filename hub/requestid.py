"""One id per request: answered in X-Request-Id, carried by every log line the request causes, and kept
on the request (`REQUEST_ID`) for whatever records the request (the journal, metrics).

Rules this module keeps:
1. A client may name its request (`X-Request-Id`, e.g. a vendor's own trace id); the hub keeps that
   name only if it is 1–128 characters of `A-Z a-z 0-9 . _ : -`, so a log line can never be forged
   or broken by it. Anything else, or nothing, gets a fresh random id (32 hex characters).
2. The id is also in a context variable for the time of the handler, so log records made anywhere
   below it (service, threads started with `asyncio.to_thread`) carry it without being passed it.
3. Refusals note their catalogue code on the request (`REFUSAL_CODE`): the API's error middleware
   and the usage website's error pages both do, so what counts requests needs no body parsing.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from careplan.errors import CareplanError
from hub.logformat import REQUEST_ID_VAR

HEADER = "X-Request-Id"
REQUEST_ID = web.RequestKey("request_id", str)
REFUSAL_CODE = web.RequestKey("refusal_code", str)

_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{1,128}")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def request_id_of(given: str | None) -> str:
    """The client's id if well-formed (rule 1), else a new one."""
    if given is not None and _WELL_FORMED.fullmatch(given):
        return given
    return secrets.token_hex(16)


def note_refusal(request: web.Request, error: CareplanError) -> None:
    request[REFUSAL_CODE] = error.code


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[REQUEST_ID] = request_id_of(request.headers.get(HEADER))
    token = REQUEST_ID_VAR.set(request[REQUEST_ID])
    try:
        return await handler(request)
    finally:
        REQUEST_ID_VAR.reset(token)


async def answer_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every answer carries the id, raised redirects and aiohttp's pages too."""
    request_id = request.get(REQUEST_ID)
    if request_id is not None:
        response.headers[HEADER] = request_id
