"""The control plane's live answers fit the schemas hub/openapi.yaml gives them."""

from __future__ import annotations

from typing import Any

import yaml
from controlkit import ok, plan
from openapi_schema_validator import OAS31Validator

from tests.conftest import HOUMON, KYOTAKU, HubUnderTest
from tests.hub.test_openapi import SPEC_FILE


def _fits(spec: dict[str, Any], path: str, method: str, status: str, answer: object) -> None:
    response = spec["paths"][path][method]["responses"][status]
    schema = response["content"]["application/json"]["schema"]
    OAS31Validator({**schema, "components": spec["components"]}).validate(answer)


async def test_live_control_answers_fit_the_schemas(hub: HubUnderTest) -> None:
    spec = yaml.safe_load(SPEC_FILE.read_text("utf-8"))
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        tid = (await kyotaku.send(plan(), to=HOUMON.number))["transmission_id"]
    checks = [
        ("/admin/v1/snapshots", "post", "201", await ok(hub, "POST", "/admin/v1/snapshots", {"name": "s"})),
        ("/admin/v1/snapshots", "get", "200", await ok(hub, "GET", "/admin/v1/snapshots")),
        ("/admin/v1/snapshots/{name}/restore", "post", "200", await ok(hub, "POST", "/admin/v1/snapshots/s/restore")),
        ("/admin/v1/journal", "get", "200", await ok(hub, "GET", "/admin/v1/journal")),
        ("/admin/v1/faults", "post", "201", await ok(hub, "POST", "/admin/v1/faults", {"kind": "latency"})),
        ("/admin/v1/faults", "get", "200", await ok(hub, "GET", "/admin/v1/faults")),
        ("/admin/v1/faults", "delete", "200", await ok(hub, "DELETE", "/admin/v1/faults")),
        ("/admin/v1/inspector/transmissions", "get", "200", await ok(hub, "GET", "/admin/v1/inspector/transmissions")),
        (
            "/admin/v1/inspector/transmissions/{transmission_id}",
            "get",
            "200",
            await ok(hub, "GET", f"/admin/v1/inspector/transmissions/{tid}"),
        ),
        ("/admin/v1/sessions", "get", "200", await ok(hub, "GET", "/admin/v1/sessions")),
        ("/admin/v1/corrections", "get", "200", await ok(hub, "GET", "/admin/v1/corrections")),
        ("/admin/v1/snapshots/{name}", "delete", "200", await ok(hub, "DELETE", "/admin/v1/snapshots/s")),
        ("/admin/v1/reset", "post", "200", await ok(hub, "POST", "/admin/v1/reset", {"to": "empty"})),
    ]
    for path, method, status, answer in checks:
        _fits(spec, path, method, status, answer)
