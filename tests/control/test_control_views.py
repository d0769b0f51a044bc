"""Admin views: transmissions of every office (paginated), open sessions, directory correction
requests with a status change."""

from __future__ import annotations

from controlkit import admin, ok, plan

from hub.keys import USAGE
from tests.conftest import HOUMON, KYOTAKU, TSUSHO, HubUnderTest


async def test_transmissions_pages_and_sessions(hub: HubUnderTest) -> None:
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        sent = [
            (await kyotaku.send(plan(f"202504200930{i:02d}"), to=HOUMON.number))["transmission_id"] for i in range(5)
        ]
        first = await ok(hub, "GET", "/admin/v1/inspector/transmissions?limit=2")
        second = await ok(hub, "GET", f"/admin/v1/inspector/transmissions?limit=2&cursor={first['next_cursor']}")
        third = await ok(hub, "GET", f"/admin/v1/inspector/transmissions?limit=2&cursor={second['next_cursor']}")
        pages = [t["transmission_id"] for page in (first, second, third) for t in page["transmissions"]]
        assert pages == sent[::-1] and third["next_cursor"] is None
        only = await ok(hub, "GET", f"/admin/v1/inspector/transmissions?office={TSUSHO.number}")
        assert only == {"transmissions": [], "next_cursor": None}
        sessions = await ok(hub, "GET", "/admin/v1/sessions")
        assert [s["user_id"] for s in sessions["client"]] == [KYOTAKU.user] and sessions["website"] == []
        assert "token" not in str(sessions)
    status, refusal = await admin(hub, "GET", "/admin/v1/inspector/transmissions?limit=0")
    assert (status, refusal["code"]) == (400, "BAD_REQUEST")


async def test_directory_corrections_and_their_status(hub: HubUnderTest) -> None:
    await hub.running.app[USAGE].request_correction(
        office_number=HOUMON.number, field="name", value="新テスト訪問介護", contact="03-0000-0000"
    )
    [request] = (await ok(hub, "GET", "/admin/v1/corrections"))["corrections"]
    assert (request["status"], request["value"]) == ("受付済", "新テスト訪問介護")
    changed = await ok(hub, "POST", f"/admin/v1/corrections/{request['id']}", {"status": "反映済"})
    assert changed["status"] == "反映済"
    status, refusal = await admin(hub, "POST", f"/admin/v1/corrections/{request['id']}", {"status": "done"})
    assert (status, refusal["code"]) == (400, "BAD_REQUEST") and "受付済" in refusal["detail"]
    status, refusal = await admin(hub, "POST", "/admin/v1/corrections/999", {"status": "却下"})
    assert (status, refusal["code"]) == (404, "CORRECTION_NOT_FOUND")
