"""Moving the hub's clock (issue 9, point 12): no admin clock move leads to a 500. A licence action
dated before the office's last recorded licence event (the clock moved back) is a clean 409
CLOCK_BEFORE_RECORDED that changes nothing; moves that would leave the calendar are 400."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, MISHINSEI, NOW, HubUnderTest

ADMIN = {"Authorization": "Bearer test-admin-token"}


async def _clock(hub: HubUnderTest, body: object) -> tuple[int, dict[str, object]]:
    return await hub.raw("POST", "/admin/v1/clock", json=body, headers=ADMIN)


async def _licence(hub: HubUnderTest, action: str, payment: str | None = None) -> tuple[int, dict[str, object]]:
    body = {"action": action} | ({"payment": payment} if payment else {})
    return await hub.raw("POST", f"/admin/v1/offices/{MISHINSEI.number}/licence", json=body, headers=ADMIN)


async def _licence_json(hub: HubUnderTest) -> str:
    row = await hub.service.db.fetch_one(
        "SELECT licence_json FROM offices WHERE office_number = ?", (MISHINSEI.number,)
    )
    assert row is not None
    return str(row[0])


async def test_paying_an_invoice_after_the_clock_moved_back_is_a_clean_409(hub: HubUnderTest) -> None:
    assert (await _clock(hub, {"set": NOW.isoformat(), "frozen": True}))[0] == 200
    status, applied = await _licence(hub, "apply", "invoice")
    assert status == 200, applied
    status, moved = await _clock(hub, {"advance_seconds": -40 * 86400})  # back before the application
    assert status == 200, moved
    before = await _licence_json(hub)

    status, refusal = await _licence(hub, "pay_invoice")
    assert status == 409, refusal
    assert refusal["code"] == "CLOCK_BEFORE_RECORDED"
    assert refusal["message"] == "ハブの時刻が記録済みの出来事より前のため、この操作は行えません。"
    assert "2026-11-24" in str(refusal["detail"]) and refusal["fix"]
    assert await _licence_json(hub) == before, "nothing changed"
    for action, payment in (("apply", "deduction"), ("renew", None), ("cancel", None)):
        status, refusal = await _licence(hub, action, payment)
        assert (status, refusal["code"]) == (409, "CLOCK_BEFORE_RECORDED"), action
    assert await _licence_json(hub) == before

    assert (await _clock(hub, {"set": (NOW + dt.timedelta(days=3)).isoformat(), "frozen": True}))[0] == 200
    status, paid = await _licence(hub, "pay_invoice")
    assert status == 200, paid
    assert paid["state"] == "有効"


@pytest.mark.parametrize(
    "body",
    [
        {"set": "9999-12-31T00:00:00+00:00"},
        {"set": "1970-01-01T00:00:00+00:00", "frozen": True},
        {"set": "2026-11-24T10:00:00"},  # no zone
        {"set": "tomorrow"},
        {"advance_seconds": 1e20},
        {"advance_seconds": -1e12},
        {"advance_seconds": "NaN"},
        {"advance_seconds": [1]},
        {"frozen": True},
        {"reset": "no"},  # was truthy: the clock went back to real time
        {"advance_seconds": True},  # was one second
        {"advance_seconds": "60"},  # was read as a number
        {"set": "2026-12-01T09:00:00+09:00", "frozen": "no"},  # was truthy: frozen
    ],
)
async def test_impossible_moves_are_400_and_leave_the_clock(hub: HubUnderTest, body: dict[str, object]) -> None:
    await _clock(hub, {"set": NOW.isoformat(), "frozen": True})
    status, refusal = await _clock(hub, body)
    assert (status, refusal["code"]) == (400, "BAD_REQUEST"), refusal
    assert hub.clock.now() == NOW
    assert "Invalid" not in str(refusal["detail"]) and "magnitude" not in str(refusal["detail"])  # no Python text


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"set": "2126-01-01T00:00:00+09:00"}, "：行き先 2126-01-01 00:00:00（日本時間）が2000年～2099年の外です"),
        ({"advance_seconds": -86400 * 365 * 30}, "：行き先 1996-12-"),
        (
            {"set": "2026-11-24T10:00:00"},
            "：2026-11-24T10:00:00 にタイムゾーンがありません（例: 2026-11-24T10:00:00+09:00）",
        ),
        ({"advance_seconds": 1e20}, "：進める量（1e+20秒）が暦の範囲を超えます"),
        ({"set": "tomorrow"}, "（set はタイムゾーン付きの ISO 8601 の日時、"),  # not a time at all: the rules
    ],
)
async def test_a_refused_move_says_what_exactly_is_wrong(hub: HubUnderTest, body: dict[str, object], said: str) -> None:
    """`careplan hub clock advance --days 40000` was told the rules of every kind of move (zone,
    finite seconds, years 2000–2099); it is now told where the move would have landed, or that the
    time has no zone, Japanese first."""
    await _clock(hub, {"set": NOW.isoformat(), "frozen": True})
    status, refusal = await _clock(hub, body)
    assert status == 400 and f"時計を変更できません{said}" in str(refusal["detail"]), refusal["detail"]
    assert hub.clock.now() == NOW


async def test_infinite_advance_is_400(hub: HubUnderTest) -> None:
    await _clock(hub, {"set": NOW.isoformat(), "frozen": True})
    status, refusal = await hub.raw(
        "POST",
        "/admin/v1/clock",
        data=b'{"advance_seconds": Infinity}',
        headers=ADMIN | {"Content-Type": "application/json"},
    )
    assert (status, refusal["code"]) == (400, "BAD_REQUEST")
    assert hub.clock.now() == NOW


async def test_the_exchange_keeps_working_when_the_clock_moves_back_past_a_transmission(
    hub: HubUnderTest, tmp_path: Path
) -> None:
    await _clock(hub, {"set": (NOW + dt.timedelta(days=1)).isoformat(), "frozen": True})
    files = list(sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number).items())
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        sent = await kyotaku.send(files, to=HOUMON.number)
        assert (await _clock(hub, {"advance_seconds": -23 * 3600}))[0] == 200
        async with hub.client(HOUMON) as houmon:
            await houmon.login(HOUMON.user, HOUMON.password)
            got = await houmon.download(sent["transmission_id"], tmp_path / "received")
        assert {p.name: p.read_bytes() for p in got.files} == dict(files)
        listed = await kyotaku.sent()
    assert [t["status"] for t in listed] == ["ダウンロード済"]
    status, healthy = await hub.raw("GET", "/healthz")
    assert status == 200 and healthy["hub_time"] == (NOW + dt.timedelta(hours=1)).isoformat()
