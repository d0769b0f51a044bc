"""Issue 12, round 2, end to end: each new rule through `careplan validate` (exit status and the item
it names) and through the real hub over mutual TLS (the refusal's code and message, nothing
stored), and the フリーパスキャンペーン on the admin API and the usage website's ライセンス tab."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import aiohttp
import pytest

from careplan.errors import MSG_FORMAT_INVALID, CareplanError
from careplan_cli.validate import main as validate_main
from client.hubclient import client_ssl_context
from fixtures.broken import by_name, valid_sets
from tests.conftest import HOUMON, KYOTAKU, MISHINSEI, HubUnderTest, Office
from tests.e2e.test_limits import signed

JST = dt.timezone(dt.timedelta(hours=9))
# variant -> (the file the finding names, its item No. and name, or None when it names a file only)
RULES: dict[str, tuple[str, int | None, str | None]] = {
    "field-length-free-text": ("UPYOBO_SUB_", 5, "課題ＮＯ"),
    "plan-meisai": ("UPJSK_", 19, "明細判別コード"),
    "field-time-start-2400": ("UPJSK_", 12, "サービス開始時刻"),
    "encoding-gaiji": ("UPHOSOKU_", 5, "利用者氏名フリガナ"),
    "encoding-undecodable": ("UPHOSOKU_", 6, "利用者氏名"),
    "encoding-unicode": ("UPHOSOKU_", None, None),
    "csv-field-count-orphans": ("UP1KYO_", None, None),
    "filename-prefix-misspelled": ("UPPLN_", None, None),
}


def _offices() -> dict[str, str]:
    """The data set's office numbers -> the hub's test offices (居宅 and 包括 -> KYOTAKU)."""
    data = valid_sets()
    centre = next(n.split("_")[1] for n in data.files if n.startswith("UPKIHON_") and "_SUB" not in n)
    manager = next(o.number for o in data.offices if o.care_management)
    service = next(o.number for o in data.offices if not o.care_management)
    return {manager: KYOTAKU.number, centre: KYOTAKU.number, service: HOUMON.number}


def _retarget(files: dict[str, bytes]) -> tuple[Office, Office, list[tuple[str, bytes]]]:
    """The variant's files renamed to travel between the hub's offices, and who sends to whom."""
    mapping = _offices()
    renamed = []
    for name, data in files.items():
        for old, new in mapping.items():
            name = name.replace(f"_{old}_", f"_{new}_")
        renamed.append((name, data))
    sender_number = re.split(r"_(?=[0-9A-Z]{10}_)", renamed[0][0], maxsplit=1)[1][:10]
    sender = KYOTAKU if sender_number == KYOTAKU.number else HOUMON
    return sender, (HOUMON if sender is KYOTAKU else KYOTAKU), renamed


def _validate(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    folder = tmp_path / name
    folder.mkdir()
    for file_name, data in by_name(name).make().items():
        (folder / file_name).write_bytes(data)
    status = validate_main([str(folder), "--json"])
    return status, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", sorted(RULES))
def test_careplan_validate_names_the_item(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, body = _validate(tmp_path, name, capsys)
    breakage = by_name(name)
    assert status == 1 and body["ok"] is False
    findings = [f for e in body["entries"] for f in e["findings"]]  # type: ignore[union-attr]
    hits = [f for f in findings if f["rule"] == breakage.rule]
    assert hits, findings
    prefix, no, item = RULES[name]
    assert any(f["file"].startswith(prefix) for f in hits), hits
    if no is not None:
        assert any((f.get("field_no"), f.get("field_name")) == (no, item) for f in hits), hits
    refusals = [e["refusal"] for e in body["entries"] if e["refusal"]]  # type: ignore[union-attr]
    assert any(r["code"] == breakage.code for r in refusals), refusals


def test_careplan_validate_text_names_the_gaiji_item(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "gaiji"
    folder.mkdir()
    for file_name, data in by_name("encoding-gaiji").make().items():
        (folder / file_name).write_bytes(data)
    assert validate_main([str(folder)]) == 1
    out = "".join(capsys.readouterr().out.split())  # without the line breaks of folding to 80 columns
    pattern = r"UPHOSOKU_\S+:1No\.5利用者氏名フリガナ:1行目（被保険者番号\d{10}）のNo\.5利用者氏名フリガナに外字"
    assert re.search(pattern, out), out


async def _refused(
    hub: HubUnderTest, sender: Office, recipient: Office, files: list[tuple[str, bytes]]
) -> CareplanError:
    manifest, signature = signed(hub, files, sender=sender, recipient=recipient, transmission_id="e" * 32)
    async with hub.client(sender) as client:
        await client.login(sender.user, sender.password)
        with pytest.raises(CareplanError) as caught:
            await client.upload(manifest, signature, files)
    assert await hub.transmission_count() == 0
    assert hub.payload_files() == []
    return caught.value


@pytest.mark.parametrize("name", sorted(RULES))
async def test_the_hub_refuses_with_the_code_of_the_root_cause(name: str, hub: HubUnderTest) -> None:
    breakage = by_name(name)
    sender, recipient, files = _retarget(breakage.make())
    error = await _refused(hub, sender, recipient, files)
    assert (error.code, error.message, error.status) == ("FORMAT_INVALID", MSG_FORMAT_INVALID, 422)
    assert error.findings[0]["rule"] == breakage.rule  # the root cause leads
    prefix, no, item = RULES[name]
    lead = error.findings[0]
    assert str(lead["file"]).startswith(prefix) and lead.get("field_no") == no and lead.get("field_name") == item
    assert breakage.rule in error.detail and "被保険者番号" not in error.detail  # places and rules, no values


async def test_orphans_follow_the_broken_record_at_the_hub(hub: HubUnderTest) -> None:
    sender, recipient, files = _retarget(by_name("csv-field-count-orphans").make())
    error = await _refused(hub, sender, recipient, files)
    rules = [f["rule"] for f in error.findings]
    assert rules[0] == "csv.field_count" and set(rules[1:]) == {"relation.orphaned"}
    assert error.code == "FORMAT_INVALID"  # not COMBINATION_INVALID: the files are the right ones


# --- the フリーパスキャンペーン ----------------------------------------------------------------------------
async def _apply_on(hub: HubUnderTest, day: dt.date) -> dict[str, object]:
    hub.clock.set(dt.datetime(day.year, day.month, day.day, 10, 0, tzinfo=JST), frozen=True)
    status, summary = await hub.raw(
        "POST",
        f"/admin/v1/offices/{MISHINSEI.number}/licence",
        json={"action": "apply", "payment": "deduction"},
        headers={"Authorization": "Bearer test-admin-token"},
    )
    assert status == 200, summary
    return summary  # type: ignore[no-any-return]


@pytest.mark.parametrize(("day", "waived"), [(dt.date(2025, 5, 31), False), (dt.date(2025, 6, 1), True)])
async def test_the_campaign_on_the_admin_api(hub: HubUnderTest, day: dt.date, waived: bool) -> None:
    summary = await _apply_on(hub, day)
    expected = (0, 21_000, "フリーパスキャンペーン") if waived else (21_000, 0, "")
    assert (summary["fee_due_yen"], summary["fee_waived_yen"], summary["campaign"]) == expected
    status, office = await hub.raw(
        "GET", f"/admin/v1/offices/{MISHINSEI.number}", headers={"Authorization": "Bearer test-admin-token"}
    )
    assert status == 200 and office["licence"]["campaign"] == expected[2]


async def test_the_licence_tab_shows_the_waived_fee(hub: HubUnderTest) -> None:
    await _apply_on(hub, dt.date(2025, 6, 1))
    connector = aiohttp.TCPConnector(ssl=client_ssl_context(hub.config.trusted_ca_file, None))
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)) as web:
        async with web.get(hub.url + "/web/login") as page:
            csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
        assert csrf is not None
        form = {"csrf": csrf.group(1), "user_id": MISHINSEI.user, "password": MISHINSEI.password}
        async with web.post(hub.url + "/web/login", data=form) as done:
            assert done.status == 200
        async with web.get(hub.url + "/web/licence") as page:
            html = await page.text()
    fee = re.search(r'<td id="fee">([^<]+)</td>', html)
    assert fee is not None, html
    assert fee.group(1) == "0円（フリーパスキャンペーンにより21,000円免除。通常は税込・年額21,000円）"
