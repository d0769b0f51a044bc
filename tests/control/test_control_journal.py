"""The journal over a real hub: every request with its who/what/how long on the hub clock; each
submission's decision chain, accepted and refused (each check up to the refusal); never a file
value or a payload byte (the control database is searched for them); filters and cursors."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
from pathlib import Path

import aiohttp
import pytest
from controlkit import admin, control, journal, ok, plan

from careplan.errors import CareplanError
from careplan.manifest import Manifest
from careplan.signature import sign
from tests.conftest import HOUMON, KYOTAKU, MISHINSEI, HubUnderTest

CHECKS = ["manifest", "signature", "certificate", "signer", "files", "replay", "signing_time", "licences", "standard"]
WHEN = dt.datetime(2026, 12, 10, 1, 0, tzinfo=dt.UTC)


async def test_every_request_is_journalled_with_who_what_and_how_long(hub: HubUnderTest, tmp_path: Path) -> None:
    hub.clock.set(WHEN, frozen=True)
    async with hub.client(KYOTAKU) as kyotaku, hub.client(HOUMON) as houmon:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await houmon.login(HOUMON.personal_user, HOUMON.password + "-c")
        tid = (await kyotaku.send(plan(), to=HOUMON.number))["transmission_id"]
        await houmon.download(tid, tmp_path)
    entries = await journal(hub, transmission=tid)
    routes = [(e["method"], e["route"], e["status"]) for e in entries]
    assert routes[0] == ("POST", "/api/v1/transmissions", 201)
    assert ("GET", "/api/v1/inbox/{transmission_id}/files/{position}", 200) in routes
    assert routes[-1] == ("POST", "/api/v1/inbox/{transmission_id}/ack", 200)
    send = entries[0]
    assert send["office"] == KYOTAKU.number and send["user_id"] == KYOTAKU.user
    assert send["serial"] == format(hub.pki.terminals[KYOTAKU.number].certificate.serial_number, "x")
    assert send["at"].startswith("2026-12-10T01:00") and send["duration_ms"] > 0
    assert entries[-1]["user_id"] == HOUMON.personal_user
    login = (await journal(hub, office=HOUMON.number))[0]
    assert (login["route"], login["user_id"]) == ("/api/v1/session", HOUMON.personal_user)


async def test_the_decision_chain_of_an_accepted_send(hub: HubUnderTest) -> None:
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        tid = (await kyotaku.send(plan(), to=HOUMON.number))["transmission_id"]
    [send] = [e for e in await journal(hub, transmission=tid) if e["route"] == "/api/v1/transmissions"]
    chain = send["decisions"]
    assert [d["step"] for d in chain] == CHECKS
    assert all(d["outcome"] == "ok" for d in chain), chain
    assert "介護" in chain[2]["note"] and "not revoked" in chain[2]["note"]  # the certificate judged
    assert KYOTAKU.number in chain[3]["note"]  # signer = terminal = login = sender
    inspected = await ok(hub, "GET", f"/admin/v1/inspector/transmissions/{tid}")
    assert [{k: d[k] for k in ("step", "outcome", "note")} for d in inspected["decisions"]] == chain
    assert inspected["decisions"][2]["label"] == "電子証明書"
    signer = inspected["signature_chain"][0]
    assert signer["office_number"] == KYOTAKU.number and signer["serial"] == send["serial"]
    assert "介護" in signer["kind"] and "careplan" in signer["issuer"].lower()
    assert [e["event"] for e in inspected["life"]] == ["stored"]


async def test_the_decision_chain_of_refused_sends_stops_at_the_refusing_check(hub: HubUnderTest) -> None:
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        to = (HOUMON.number, MISHINSEI.number)
        files = [(n.replace(*to), d.replace(*(x.encode() for x in to))) for n, d in plan()]
        with pytest.raises(CareplanError) as refused:
            await kyotaku.send(files, to=MISHINSEI.number)
        assert refused.value.code == "RECIPIENT_NOT_LICENSED"
        [entry] = await journal(hub, code="RECIPIENT_NOT_LICENSED")
        assert [d["step"] for d in entry["decisions"]] == CHECKS[:8]
        assert entry["decisions"][-1]["outcome"] == "refused: RECIPIENT_NOT_LICENSED"
        assert all(d["outcome"] == "ok" for d in entry["decisions"][:-1])
        assert entry["transmission"]  # known from the manifest, though nothing was stored

        # a broken CSV straight to the hub (no pre-check): refused by the standard, with a summary
        name, data = plan()[0]
        broken = [(name, data.replace(b"202504,", b"2025X4,", 1)), *plan()[1:]]
        manifest = Manifest.build(
            transmission_id="f" * 32, sender=KYOTAKU.number, recipient=HOUMON.number,
            signed_at=hub.clock.now(), files=broken,
        ).to_bytes()  # fmt: skip
        pair = hub.pki.terminals[KYOTAKU.number]
        with pytest.raises(CareplanError) as refused:
            await kyotaku.upload(manifest, sign(manifest, pair.certificate, pair.key), broken)
    [entry] = await journal(hub, transmission="f" * 32)
    assert [d["step"] for d in entry["decisions"]] == CHECKS
    last = entry["decisions"][-1]
    assert last["outcome"] == f"refused: {refused.value.code}"
    assert last["note"].startswith("errors ") and "×" in last["note"], last
    assert "2025X4" not in str(entry)


def _values(files: list[tuple[str, bytes]]) -> set[bytes]:
    """Every field value of the CSV files long enough to be recognisable (names, numbers, addresses)
    except the offices' own 事業所番号, which the journal names on purpose."""
    found: set[bytes] = set()
    for _, data in files:
        for row in csv.reader(io.StringIO(data.decode("cp932"))):
            for value in row:
                if value in (KYOTAKU.number, HOUMON.number):
                    continue
                if (len(value) >= 6 and not value.isdigit()) or (len(value) >= 10 and value.isdigit()):
                    found |= {value.encode("cp932"), value.encode("utf-8")}
    return found


async def test_no_file_value_or_payload_byte_reaches_the_journal(hub: HubUnderTest, tmp_path: Path) -> None:
    files = plan()
    async with hub.client(KYOTAKU) as kyotaku, hub.client(HOUMON) as houmon:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await houmon.login(HOUMON.user, HOUMON.password)
        tid = (await kyotaku.send(files, to=HOUMON.number))["transmission_id"]
        await houmon.download(tid, tmp_path)
        name, data = files[0]
        broken = [(name, data.replace(b"202504,", b"2025X4,", 1)), *files[1:]]
        manifest = Manifest.build(
            transmission_id="e" * 32, sender=KYOTAKU.number, recipient=HOUMON.number,
            signed_at=hub.clock.now(), files=broken,
        ).to_bytes()  # fmt: skip
        pair = hub.pki.terminals[KYOTAKU.number]
        with pytest.raises(CareplanError):
            await kyotaku.upload(manifest, sign(manifest, pair.certificate, pair.key), broken)
    await control(hub).journal.flush()
    stored = b"".join(p.read_bytes() for p in hub.config.data_dir.glob("control.sqlite3*"))
    listed = str(await ok(hub, "GET", "/admin/v1/journal?limit=500")).encode("utf-8")
    values = _values(files)
    assert len(values) > 10
    for haystack in (stored, listed):
        leaked = [v for v in values if v in haystack]
        assert leaked == [], leaked
        for _, data in files:  # no 24-byte run of any payload
            assert not any(data[i : i + 24] in haystack for i in range(0, len(data) - 24, 8))


async def test_filters_and_cursor_pages(hub: HubUnderTest) -> None:
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        for _ in range(5):
            await kyotaku.whoami()
    first = await ok(hub, "GET", f"/admin/v1/journal?office={KYOTAKU.number}&limit=2&cursor=0")
    assert len(first["entries"]) == 2
    second = await ok(hub, "GET", f"/admin/v1/journal?office={KYOTAKU.number}&limit=100&cursor={first['next_cursor']}")
    ids = [e["id"] for e in first["entries"] + second["entries"]]
    assert ids == sorted(set(ids)) and len(ids) == 6  # login + 5 whoami
    assert all(e["office"] == KYOTAKU.number for e in second["entries"])
    tail = await ok(hub, "GET", f"/admin/v1/journal?cursor={second['next_cursor']}&office={KYOTAKU.number}")
    assert tail["entries"] == [] and tail["next_cursor"] == second["next_cursor"]
    later = await ok(hub, "GET", "/admin/v1/journal?since=2999-01-01")
    assert later["entries"] == []
    status, bad = await admin(hub, "GET", "/admin/v1/journal?cursor=abc")
    assert (status, bad["code"]) == (400, "BAD_REQUEST")


async def test_since_is_an_instant_whatever_its_offset(hub: HubUnderTest) -> None:
    """`since` was compared as text with the stored UTC times: the same instant in JST (+09:00)
    matched entries nine hours later only, and a date that is none (2026-13-01) matched all."""
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await kyotaku.whoami()
    [last] = (await ok(hub, "GET", f"/admin/v1/journal?office={KYOTAKU.number}&limit=1"))["entries"]
    at = dt.datetime.fromisoformat(last["at"])
    jst = dt.timezone(dt.timedelta(hours=9))
    for since, included in ((at, True), (at + dt.timedelta(seconds=1), False)):
        for written in (since.astimezone(jst).isoformat(), since.astimezone(dt.UTC).replace(tzinfo=None).isoformat()):
            query = written.replace("+", "%2B")
            page = await ok(hub, "GET", f"/admin/v1/journal?office={KYOTAKU.number}&since={query}")
            assert (last["id"] in [e["id"] for e in page["entries"]]) is included, (written, page["entries"])
    for wrong in ("2026-13-01", "yesterday", "0001-01-01T00:00:00%2B09:00"):
        status, bad = await admin(hub, "GET", f"/admin/v1/journal?since={wrong}")
        assert (status, bad["code"]) == (400, "BAD_REQUEST") and "since" in bad["detail"], bad


async def test_the_journal_keeps_the_latest_entries_only(hub: HubUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.control import journal as journal_module

    monkeypatch.setattr(journal_module, "KEEP", 3)
    monkeypatch.setattr(journal_module, "TRIM_EVERY", 1)
    for _ in range(8):
        await hub.raw("GET", "/healthz")
    await control(hub).journal.flush()
    kept = (await ok(hub, "GET", "/admin/v1/journal?cursor=0&limit=500"))["entries"]
    assert 1 <= len(kept) <= 4 and kept[-1]["route"] == "/healthz"


async def test_the_live_feed_names_each_operation_in_japanese(hub: HubUnderTest) -> None:
    """The dashboard's live feed is on the projector: a logout read ログイン (the feed's names went by
    route alone), and what `careplan demo --hub`, a reset or a website visit makes read as routes
    (POST /admin/v1/offices, GET /web/login)."""
    from hub.control.feed import feed_item

    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await kyotaku.logout()
    await ok(hub, "POST", "/admin/v1/clock", {"advance_seconds": 60})
    await ok(hub, "GET", "/admin/v1/clock")
    await ok(hub, "GET", "/admin/v1/faults")
    with contextlib.suppress(aiohttp.ContentTypeError):  # a page, not JSON
        await hub.raw("GET", "/web/login", headers={"Accept": "text/html"})
    said = {(e["method"], e["route"]): feed_item(e)["what"] for e in await journal(hub, limit="50")}
    assert said[("POST", "/api/v1/session")] == "ログイン"
    assert said[("DELETE", "/api/v1/session")] == "ログアウト"
    assert said[("POST", "/admin/v1/clock")] == "時計の変更（管理）"
    unnamed = {route for route, what in said.items() if "/" in what}
    assert not unnamed, unnamed
