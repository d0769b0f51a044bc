"""Every catalogue code, end to end: raised in the hub → HTTP status and JSON on the wire → the
client's exception class → the CLI's exit status (issue 13; httpx's 'no error left unmapped')."""

from __future__ import annotations

import argparse
import io
import json
from contextlib import redirect_stdout
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from careplan.errors import CATALOGUE, ERROR_CLASSES, CareplanError, Lang, Operation, is_japanese
from client import cli
from client.hubclient import HubClient
from hub.keys import SERVICE
from hub.middleware import error_middleware

CODES = sorted(CATALOGUE)


class _Audit:
    """Stands in for the service: the middleware records each refusal."""

    def __init__(self) -> None:
        self.codes: list[str] = []

    async def record_refusal(self, *, peer: str | None, office_number: str | None, error: CareplanError) -> None:
        self.codes.append(error.code)


async def _raise(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    if code == "boom":
        raise ValueError("a bug, not a refusal")
    raise CareplanError(code, detail="詳細", detail_en="detail")


@pytest.fixture
async def api(aiohttp_client: Any) -> TestClient[web.Request, web.Application]:
    app = web.Application(middlewares=[error_middleware])
    app[SERVICE] = _Audit()  # type: ignore[assignment]
    app.router.add_get("/api/v1/raise/{code}", _raise)
    app.router.add_post("/api/v1/only-post", _raise)
    client: TestClient[web.Request, web.Application] = await aiohttp_client(app)
    return client


@pytest.mark.parametrize("lang", list(Lang))
@pytest.mark.parametrize("code", CODES)
async def test_every_code_maps_to_wire_exception_and_exit_status(
    api: TestClient[web.Request, web.Application], code: str, lang: Lang
) -> None:
    spec = CATALOGUE[code]
    response = await api.get(f"/api/v1/raise/{code}", headers={"Accept-Language": str(lang)})
    assert response.status == spec.status
    body = await response.json()
    assert body["code"] == code and body["lang"] == lang.value
    assert body["message"] == spec.message()
    assert body["fix"], "every refusal says how to mend it"
    assert body["explanation"] == spec.explanation_in(lang)
    error = await HubClient._refusal(response, Operation.LOAD)
    assert type(error) is ERROR_CLASSES[spec.category]
    assert error.code == code and error.fix_in(lang) == body["fix"]
    out = io.StringIO()
    with redirect_stdout(out):
        status = cli.report_refusal(argparse.Namespace(json=True, lang=lang), error)
    assert status == (3 if code == "HUB_UNREACHABLE" else 1)
    assert json.loads(out.getvalue())["error"]["code"] == code


async def test_an_unexpected_exception_leaves_as_internal_only(api: TestClient[web.Request, web.Application]) -> None:
    response = await api.get("/api/v1/raise/boom")
    assert response.status == 500
    body = await response.json()
    assert body["code"] == "INTERNAL" and "boom" not in json.dumps(body) and "ValueError" not in json.dumps(body)


async def test_a_wrong_method_is_405_with_allow(api: TestClient[web.Request, web.Application]) -> None:
    response = await api.get("/api/v1/only-post", headers={"Accept-Language": "en"})
    assert response.status == 405
    assert response.headers["Allow"] == "POST"
    body = await response.json()
    assert body["code"] == "METHOD_NOT_ALLOWED" and "POST" in body["detail"] and body["fix"]


async def test_an_unknown_route_is_not_found_with_a_fix(api: TestClient[web.Request, web.Application]) -> None:
    response = await api.get("/api/v1/nothing-here")
    assert response.status == 404
    body = await response.json()
    assert body["code"] == "NOT_FOUND" and is_japanese(body["fix"]) and body["lang"] == "ja"
