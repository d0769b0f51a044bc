"""Shared helpers for the control-plane tests (imported by basename; pytest prepend mode)."""

from __future__ import annotations

from typing import Any

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
