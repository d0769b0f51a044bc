"""Shared helpers for the control-plane tests (imported by basename; pytest prepend mode)."""

from __future__ import annotations

from typing import Any

import aiohttp

from client.hubclient import HubClient, client_ssl_context
from fixtures.samples import sample_plan_set
from hub.control.plane import CONTROL, Control
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest, seed

ADMIN = {"Authorization": "Bearer test-admin-token"}


async def admin(hub: HubUnderTest, method: str, path: str, body: object | None = None) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {"headers": ADMIN}
    if body is not None:
        kwargs["json"] = body
    return await hub.raw(method, path, **kwargs)


async def ok(hub: HubUnderTest, method: str, path: str, body: object | None = None) -> Any:
    status, answer = await admin(hub, method, path, body)
    assert status < 300, (status, answer)
    return answer


def control(hub: HubUnderTest) -> Control:
    return hub.running.app[CONTROL]


def with_seed(hub: HubUnderTest) -> HubUnderTest:
    """The test hub's seed (tests.conftest.seed) as what a reset returns to."""
    control(hub).seeder = seed
    return hub


def plan(created: str = "20250420093000") -> list[tuple[str, bytes]]:
    return list(sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number, created=created).items())


async def journal(hub: HubUnderTest, **query: str) -> list[dict[str, Any]]:
    path = "/admin/v1/journal?" + "&".join(f"{k}={v}" for k, v in query.items())
    return list((await ok(hub, "GET", path))["entries"])


async def raw_send(hub: HubUnderTest, client: HubClient, tid: str) -> tuple[int, dict[str, Any]]:
    """One POST /api/v1/transmissions made by hand (no client retry policy in between): the HTTP
    status and the JSON answer; aiohttp.ClientError when the hub cuts the connection."""
    files = plan()
    manifest, signature = client.prepare(files, to=HOUMON.number, transmission_id=tid)
    form = aiohttp.MultipartWriter("form-data")
    form.append(manifest, {"Content-Type": "application/json"}).set_content_disposition("form-data", name="manifest")
    form.append(signature).set_content_disposition("form-data", name="signature")
    for name, data in files:
        form.append(data).set_content_disposition("form-data", quote_fields=False, name="file", filename=name)
    connector = aiohttp.TCPConnector(ssl=client_ssl_context(hub.config.trusted_ca_file, client.keypair))
    headers = {"Authorization": f"Bearer {client.token}"}
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(hub.url + "/api/v1/transmissions", data=form, headers=headers) as response,
    ):
        return response.status, await response.json()
