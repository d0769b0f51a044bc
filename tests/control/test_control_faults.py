"""Fault injection over a real hub, one test per kind, each with our client's correct reaction and
no duplicate; every injected fault is in the journal, marked; rules are seeded and reproducible."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from controlkit import ADMIN, admin, control, journal, ok, plan, raw_send

from careplan.errors import CareplanError, Lang
from hub.control.faults import FaultRule
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest

ADMIN_EN = {**ADMIN, "Accept-Language": "en"}


async def _faulted(hub: HubUnderTest, **query: str) -> list[dict[str, Any]]:
    return [e for e in await journal(hub, limit="500", **query) if e["fault"]]


async def test_the_issue_example_fails_the_next_send_once_with_retry_after(hub: HubUnderTest) -> None:
    rule = {"kind": "http_error", "status": 503, "route": "POST /api/v1/transmissions", "count": 1}
    added = (await ok(hub, "POST", "/admin/v1/faults", rule))["faults"]
    assert added[0]["rule"]["kind"] == "http_error" and added[0]["remaining"] == 1
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        status, busy = await raw_send(hub, kyotaku, "a" * 32)
        assert (status, busy["code"]) == (503, "HUB_BUSY") and "Retry" in busy["fix"]
        again = await kyotaku.send(plan(), to=HOUMON.number, transmission_id="a" * 32)  # the same id: stored once
        assert again["transmission_id"] == "a" * 32
    assert await hub.transmission_count() == 1
    [marked] = await _faulted(hub)
    assert (marked["status"], marked["code"], marked["fault"]["kind"]) == (503, "HUB_BUSY", "http_error")
    listed = (await ok(hub, "GET", "/admin/v1/faults"))["faults"]
    assert (listed[0]["remaining"], listed[0]["injected"]) == (0, 1)
    assert (await ok(hub, "DELETE", "/admin/v1/faults"))["cleared"] == 1


async def test_our_client_retries_a_refused_send_with_the_same_id(hub: HubUnderTest) -> None:
    await ok(hub, "POST", "/admin/v1/faults", {"kind": "http_error", "route": "POST /api/v1/transmissions", "count": 1})
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await kyotaku.send(plan(), to=HOUMON.number)
        assert kyotaku.retries == 1
    assert await hub.transmission_count() == 1
    sends = [e for e in await journal(hub) if e["route"] == "/api/v1/transmissions"]
    assert [(e["status"], bool(e["fault"])) for e in sends] == [(503, True), (201, False)]


async def test_latency_delays_the_answer_and_changes_nothing_else(hub: HubUnderTest) -> None:
    await ok(hub, "POST", "/admin/v1/faults", {"kind": "latency", "latency_ms": 400, "operation": "list"})
    async with hub.client(HOUMON) as houmon:
        await houmon.login(HOUMON.user, HOUMON.password)
        started = time.monotonic()
        assert await houmon.inbox() == []
        assert time.monotonic() - started >= 0.4
        await houmon.whoami()  # not a list: not delayed (the journal marks the inbox alone, below;
        # no wall-clock bound here, which a busy shared host could break)
    [marked] = await _faulted(hub)
    assert marked["route"] == "/api/v1/inbox" and marked["duration_ms"] >= 400 and marked["status"] == 200


async def test_a_cut_upload_stores_nothing_and_the_same_send_goes_through_after(hub: HubUnderTest) -> None:
    rule = {"kind": "cut_upload", "operation": "send", "after_bytes": 2000, "count": 1}
    await ok(hub, "POST", "/admin/v1/faults", rule)
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        with pytest.raises(aiohttp.ClientError):
            await raw_send(hub, kyotaku, "b" * 32)
        assert await hub.transmission_count() == 0 and hub.payload_files() == []
        await kyotaku.send(plan(), to=HOUMON.number, transmission_id="b" * 32)
    assert await hub.transmission_count() == 1
    [marked] = await _faulted(hub)
    assert marked["fault"]["kind"] == "cut_upload"


async def test_our_client_resends_a_cut_upload_with_the_same_id(hub: HubUnderTest) -> None:
    await ok(
        hub, "POST", "/admin/v1/faults", {"kind": "cut_upload", "operation": "send", "after_bytes": 2000, "count": 1}
    )
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await kyotaku.send(plan(), to=HOUMON.number)
    assert await hub.transmission_count() == 1


async def test_a_cut_download_is_repeated_and_acknowledged_once(hub: HubUnderTest, tmp_path: Path) -> None:
    async with hub.client(KYOTAKU) as kyotaku, hub.client(HOUMON) as houmon:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await houmon.login(HOUMON.user, HOUMON.password)
        tid = (await kyotaku.send(plan(), to=HOUMON.number))["transmission_id"]
        rule = {"kind": "cut_download", "route": "GET /api/v1/inbox/*/files/*", "after_bytes": 300, "count": 1}
        await ok(hub, "POST", "/admin/v1/faults", rule)
        got = await houmon.download(tid, tmp_path)
        assert {p.name: p.read_bytes() for p in got.files} == dict(plan())
        [row] = await kyotaku.sent()
        assert row["status"] == "ダウンロード済"
    entries = await journal(hub, transmission=tid)
    files = [e for e in entries if e["route"].endswith("/files/{position}")]
    assert len(files) == len(plan()) + 1 and files[0]["fault"]["kind"] == "cut_download"
    assert [e["path"] for e in files[:2]] == [files[0]["path"]] * 2  # the cut file fetched again
    assert sum(e["route"].endswith("/ack") for e in entries) == 1


async def test_a_lost_acknowledgement_answer_is_recognised_not_repeated(hub: HubUnderTest, tmp_path: Path) -> None:
    async with hub.client(KYOTAKU) as kyotaku, hub.client(HOUMON) as houmon:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await houmon.login(HOUMON.user, HOUMON.password)
        tid = (await kyotaku.send(plan(), to=HOUMON.number))["transmission_id"]
        await ok(hub, "POST", "/admin/v1/faults", {"kind": "lose_answer", "operation": "acknowledge", "count": 1})
        got = await houmon.download(tid, tmp_path)
        assert got.receipt["status"] == "ダウンロード済" and got.receipt["transmission_id"] == tid
    acks = [e for e in await journal(hub, transmission=tid) if e["route"].endswith("/ack")]
    assert [(e["status"], e["code"]) for e in acks] == [(200, None), (410, "ALREADY_DOWNLOADED")]
    assert acks[0]["fault"]["kind"] == "lose_answer"  # committed, the answer never arrived


@pytest.mark.parametrize("list_failures", [1, 3], ids=["listing-fails-once", "listing-keeps-failing"])
async def test_a_lost_receipt_answer_then_a_failing_list_still_says_the_receipt_is_recorded(
    hub: HubUnderTest, tmp_path: Path, list_failures: int
) -> None:
    """The receipt was committed but its answer lost; the retry says ALREADY_DOWNLOADED and the
    client reads the row from the inbox. A listing that fails once is asked again; one that keeps
    failing ends in ALREADY_DOWNLOADED saying that the files are saved and the hub has the receipt,
    never that the receipt did not reach the hub."""
    async with hub.client(KYOTAKU) as kyotaku, hub.client(HOUMON) as houmon:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await houmon.login(HOUMON.user, HOUMON.password)
        tid = (await kyotaku.send(plan(), to=HOUMON.number))["transmission_id"]
        await ok(hub, "POST", "/admin/v1/faults", {"kind": "lose_answer", "operation": "acknowledge", "count": 1})
        failing = {"kind": "http_error", "status": 503, "route": "GET /api/v1/inbox", "count": list_failures}
        await ok(hub, "POST", "/admin/v1/faults", failing)
        if list_failures == 1:
            got = await houmon.download(tid, tmp_path)
            assert got.receipt["status"] == "ダウンロード済" and got.receipt["transmission_id"] == tid
            return
        with pytest.raises(CareplanError) as refused:
            await houmon.download(tid, tmp_path)
        assert refused.value.code == "ALREADY_DOWNLOADED" and refused.value.operation == "receive"
        detail = refused.value.detail_in(Lang.JA)
        assert "ダウンロード済として記録されています" in detail and "届いていません" not in detail
        assert "再送の依頼は要りません" in (refused.value.fix or "")
        assert sorted(p.name for p in (tmp_path / tid).iterdir()) == sorted(name for name, _ in plan())
        assert [t["transmission_id"] for t in await houmon.inbox()] == []  # nothing waits: recorded


async def test_a_lost_send_answer_is_retried_without_a_duplicate(hub: HubUnderTest) -> None:
    await ok(hub, "POST", "/admin/v1/faults", {"kind": "lose_answer", "operation": "send", "count": 1})
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        sent = await kyotaku.send(plan(), to=HOUMON.number)
        assert [r["transmission_id"] for r in await kyotaku.sent()] == [sent["transmission_id"]]
    assert await hub.transmission_count() == 1


async def test_an_early_session_expiry_makes_our_client_log_in_again(hub: HubUnderTest) -> None:
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        first_token = kyotaku.token
        await ok(hub, "POST", "/admin/v1/faults", {"kind": "expire_session", "operation": "list", "count": 1})
        assert await kyotaku.sent() == []
        assert kyotaku.token != first_token
        await kyotaku.send(plan(), to=HOUMON.number)  # the new session sends
    entries = await journal(hub, office=KYOTAKU.number)
    shape = [(e["route"], e["status"], bool(e["fault"])) for e in entries]
    assert shape[1:4] == [("/api/v1/sent", 401, True), ("/api/v1/session", 201, False), ("/api/v1/sent", 200, False)]


async def test_probability_draws_are_seeded_and_reproducible(hub: HubUnderTest) -> None:
    rule = {"kind": "http_error", "route": "GET /healthz", "probability": 0.5}

    async def pattern(seed: int) -> list[int]:
        await ok(hub, "DELETE", "/admin/v1/faults")
        await ok(hub, "POST", "/admin/v1/faults", {"seed": seed, "rules": [rule]})
        return [(await hub.raw("GET", "/healthz"))[0] for _ in range(24)]

    first = await pattern(7)
    assert set(first) == {200, 503}
    assert await pattern(7) == first
    assert await pattern(8) != first


async def test_bad_rules_are_refused_with_what_is_wrong(hub: HubUnderTest) -> None:
    for rule, words in (
        ({"kind": "meteor"}, "kind は"),
        ({"kind": "http_error", "status": 200}, "status は"),
        ({"kind": "latency", "colour": "red"}, "未知の項目 colour"),
        ({"kind": "http_error", "code": "NOPE"}, "エラー一覧にありません"),
        ({"kind": "latency", "operation": "dance"}, "operation は"),
    ):
        status, refusal = await admin(hub, "POST", "/admin/v1/faults", rule)
        assert (status, refusal["code"]) == (400, "BAD_REQUEST") and words in refusal["detail"], refusal
    assert (await ok(hub, "GET", "/admin/v1/faults"))["faults"] == []


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ({"kind": "latency", "route": 5}, "route は文字列です"),  # was a 500 (route.split)
        ({"kind": "latency", "route": ["POST /api/v1/transmissions"]}, "route は文字列です"),  # a 500
        ({"kind": ["latency"]}, "kind は文字列です"),  # a 500 (an unhashable alias lookup)
        ({"kind": "latency", "office": 1370100016, "count": 1}, "office は文字列です"),  # stored, never matched
        ({"kind": "latency", "count": 2.5}, "count は整数です"),  # stored
        ({"kind": "http_error", "retry_after": "soon", "count": 1}, "retry_after は整数です"),  # stored
        ({"kind": "http_error", "status": True}, "status は整数です"),
        ({"kind": "latency", "probability": None}, "probability は数です"),  # was a Python TypeError text
        ({"route": "POST /api/v1/transmissions"}, "kind（latency"),  # was "FaultRule.__init__() missing…"
        ({"kind": "latency", "count": 10**30}, "count は 1〜"),  # a 500: no 64-bit integer holds it
        ({"kind": "latency", "count": 1, "seed": 10**30}, '"seed" は整数です'),  # a 500 as well
        ({"kind": "latency", "count": 1, "seed": True}, '"seed" は整数です'),
        # stored and never matched: no request carries such an office or transmission
        ({"kind": "latency", "office": "abc"}, "office 'abc' は事業所番号（10桁）ではありません"),
        ({"kind": "latency", "transmission": "xyz"}, "transmission 'xyz' は送信ID（32桁の16進）ではありません"),
        ({"kind": "http_error", "retry_after": -1}, "retry_after は 0 以上の秒数です"),  # Retry-After: -1
    ],
)
async def test_a_rule_of_the_wrong_type_is_refused_by_field_and_nothing_is_stored(
    hub: HubUnderTest, rule: dict[str, Any], words: str
) -> None:
    status, refusal = await admin(hub, "POST", "/admin/v1/faults", rule)
    assert (status, refusal["code"]) == (400, "BAD_REQUEST") and words in refusal["detail"], refusal
    assert "__init__" not in refusal["detail"] and "not supported" not in refusal["detail"]
    assert (await ok(hub, "GET", "/admin/v1/faults"))["faults"] == []


async def test_a_catch_all_rule_spares_the_admin_api_and_the_dashboard(hub: HubUnderTest) -> None:
    await ok(hub, "POST", "/admin/v1/faults", {"kind": "http_error"})  # every route, until cleared
    assert (await hub.raw("GET", "/healthz"))[0] == 503
    assert (await ok(hub, "DELETE", "/admin/v1/faults"))["cleared"] == 1
    assert (await hub.raw("GET", "/healthz"))[0] == 200


@pytest.mark.parametrize(
    ("route", "close"),
    [
        ("GET /nothing", "GET /"),
        ("POST /api/v1/transmission", "POST /api/v1/transmissions, "),  # a typo: stored, never hit
        ("GET /api/v1/inbox/{id}", "GET /api/v1/inbox/{transmission_id}"),  # the template's own name
        ("GET /api/v1/inbox/abc", "GET /api/v1/inbox, "),  # a path, not the template
        ("GET /api/v2/*", "GET /api, "),  # a pattern that matches no route
        ("GET /admin/v1/faults", "GET /api/v1/"),  # the admin API is never faulted: not offered either
    ],
)
async def test_a_route_that_matches_no_route_of_the_hub_is_refused_with_close_ones(
    hub: HubUnderTest, route: str, close: str
) -> None:
    """`careplan hub faults add --route 'GET /nothing'` was stored, and never fired."""
    status, refusal = await admin(hub, "POST", "/admin/v1/faults", {"kind": "latency", "route": route})
    assert (status, refusal["code"]) == (400, "BAD_REQUEST"), refusal
    assert refusal["detail"].startswith(f"route {route!r} に合うハブの経路がありません"), refusal
    assert refusal["fix"].startswith("近い経路: ") and close in refusal["fix"], refusal
    assert "/admin/" not in refusal["fix"] and "HEAD " not in refusal["fix"]
    assert (await ok(hub, "GET", "/admin/v1/faults"))["faults"] == []
    _, english = await hub.raw("POST", "/admin/v1/faults", json={"kind": "latency", "route": route}, headers=ADMIN_EN)
    assert english["detail"].startswith(f"route {route!r} matches no route of the hub"), english


@pytest.mark.parametrize(
    "route",
    [
        "POST /api/v1/transmissions",
        "GET /api/v1/inbox/{transmission_id}",
        "GET /api/v1/inbox/*/files/*",
        "* /api/v1/inbox*",
        "GET /healthz",
    ],
)
async def test_a_route_of_the_hub_or_a_pattern_matching_one_is_accepted(hub: HubUnderTest, route: str) -> None:
    await ok(hub, "POST", "/admin/v1/faults", {"kind": "latency", "route": route, "count": 1})
    [stored] = (await ok(hub, "GET", "/admin/v1/faults"))["faults"]
    assert stored["rule"]["route"] == route


async def test_a_stored_rule_with_a_route_the_hub_lacks_loads_and_never_fires(hub: HubUnderTest) -> None:
    """Rules stored before routes were checked are read back as they are; one naming a path the
    hub lacks fired on a request to that path (the journal names an unmatched request by its
    path), which no rule added today can do."""
    stored = FaultRule.from_json({"kind": "http_error", "route": "GET /nothing", "count": 1})
    await control(hub).faults.add([stored], seed=0, now="2026-04-10T10:00:00+09:00")
    assert (await hub.raw("GET", "/healthz"))[0] == 200  # the rule set loads; this rule matches nothing
    assert (await hub.raw("GET", "/nothing"))[0] == 404  # not even the path it names
    [listed] = (await ok(hub, "GET", "/admin/v1/faults"))["faults"]
    assert listed["rule"]["route"] == "GET /nothing"
    assert (listed["matched"], listed["injected"], listed["remaining"]) == (0, 0, 1)
    assert not await _faulted(hub)


async def test_a_catch_all_rule_leaves_a_request_that_matches_no_route_alone(hub: HubUnderTest) -> None:
    """A path the hub lacks (404) or a method its route lacks (405) is answered as without faults."""
    await ok(hub, "POST", "/admin/v1/faults", {"kind": "http_error", "count": 1})
    assert (await hub.raw("GET", "/nothing"))[0] == 404
    assert (await hub.raw("DELETE", "/api/v1/transmissions"))[0] == 405
    [listed] = (await ok(hub, "GET", "/admin/v1/faults"))["faults"]
    assert (listed["matched"], listed["remaining"]) == (0, 1)
    assert (await hub.raw("GET", "/healthz"))[0] == 503  # a route of the hub: the rule is spent here
