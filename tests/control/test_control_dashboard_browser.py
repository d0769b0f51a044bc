"""The live dashboard and the message inspector in real Chromium: a send from a client appears on
the open page within 2 s without a reload, its status turns 未ダウンロード → ダウンロード済, a
refusal shows in red with the real message and the plain explanation; the clock and snapshot
controls work; presenter-mode screenshots go to docs/ (shown in the README)."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import pytest
from controlkit import ok, plan, with_seed

from careplan.errors import MSG_RECIPIENT_NOT_LICENSED, CareplanError
from hub.keys import USAGE
from tests.conftest import HOUMON, KYOTAKU, MISHINSEI, HubUnderTest
from tests.web import test_usage_site_browser as usage_site

with contextlib.suppress(ImportError):  # without playwright the fixture skips (fails in CI)
    from playwright.async_api import Browser, Page, expect

browser = usage_site.browser  # the usage-site tests' Chromium fixture, shared

ROOT = Path(__file__).resolve().parents[2]
# Screenshots go to reports/; with CAREPLAN_UPDATE_DOCS=1 also to docs/ (committed, in the README).
SHOTS = [ROOT / "reports" / "screenshots"] + ([ROOT / "docs"] if os.environ.get("CAREPLAN_UPDATE_DOCS") == "1" else [])
LIVE_SECONDS = 2.0


async def _page(browser: Browser, url: str, width: int = 1600, height: int = 900) -> Page:
    context = await browser.new_context(
        ignore_https_errors=True, locale="ja-JP", timezone_id="Asia/Tokyo", viewport={"width": width, "height": height}
    )
    context.set_default_timeout(15_000)
    return await context.new_page()


async def _shot(page: Page, name: str, *, full_page: bool = False) -> None:
    for folder in SHOTS:
        folder.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(folder / name), full_page=full_page)


async def _seen_within(page: Page, selector: str, text: str) -> float:
    started = time.monotonic()
    await expect(page.locator(selector)).to_contain_text(text, timeout=LIVE_SECONDS * 1000)
    return time.monotonic() - started


async def test_sends_and_refusals_appear_live_and_the_controls_work(
    hub: HubUnderTest, browser: Browser, tmp_path: Path
) -> None:
    with_seed(hub)
    await ok(hub, "POST", "/admin/v1/snapshots", {"name": "月初"})
    page = await _page(browser, hub.url)
    await page.goto(hub.url + "/dashboard?token=test-admin-token&presenter=1")
    assert page.url.endswith("/dashboard?presenter=1")  # the token left the address bar
    await expect(page.locator(f"#office-{HOUMON.number}")).to_contain_text(HOUMON.name)
    await expect(page.locator("#transmissions")).to_contain_text("まだ送信はありません")
    await page.wait_for_timeout(300)  # the event stream is open

    async with hub.client(KYOTAKU) as kyotaku, hub.client(HOUMON) as houmon:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await houmon.login(HOUMON.user, HOUMON.password)
        tid = (await kyotaku.send(plan(), to=HOUMON.number))["transmission_id"]
        row = f"#transmissions tr[data-transmission='{tid}']"
        assert await _seen_within(page, row, "未ダウンロード") < LIVE_SECONDS
        await expect(page.locator(f"#office-{HOUMON.number} .pending")).to_have_text("1")

        to = (HOUMON.number, MISHINSEI.number)
        files = [(n.replace(*to), d.replace(*(x.encode() for x in to))) for n, d in plan("20250421093000")]
        with pytest.raises(CareplanError):
            await kyotaku.send(files, to=MISHINSEI.number)
        assert await _seen_within(page, "#refusals .refusal .message", MSG_RECIPIENT_NOT_LICENSED[:20]) < LIVE_SECONDS
        color = await page.locator("#refusals .refusal .message").first.evaluate("e => getComputedStyle(e).color")
        assert color == "rgb(198, 40, 40)"  # red
        await expect(page.locator("#refusals .refusal .explanation").first).not_to_be_empty()
        await _shot(page, "dashboard-presenter.png")

        await houmon.download(tid, tmp_path)
        assert await _seen_within(page, row, "ダウンロード済") < LIVE_SECONDS
        await expect(page.locator(f"#office-{HOUMON.number} .pending")).to_have_text("0")

    await page.locator(f"{row} a.tid").click()
    await expect(page.locator("#decisions")).to_contain_text("signer")
    await expect(page.locator("#signature")).to_contain_text(KYOTAKU.number)
    await expect(page.locator("#life")).to_contain_text("受領確認")
    await _shot(page, "inspector.png", full_page=True)
    await page.go_back()

    before = await page.locator("#clock").inner_text()
    await page.get_by_role("button", name="＋30日").click()
    await expect(page.locator("#clock")).not_to_have_text(before)
    page.on("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="復元").click()
    await expect(page.locator("#transmissions")).to_contain_text("まだ送信はありません")
    assert await hub.transmission_count() == 0


async def test_the_dashboard_needs_the_token_or_the_trainer_passcode(hub: HubUnderTest, browser: Browser) -> None:
    from hub.control.dashboard import trainer_passcode

    page = await _page(browser, hub.url)
    answer = await page.goto(hub.url + "/dashboard")
    assert answer is not None and answer.status == 403
    await page.locator("input[name=passcode]").fill("00000000-wrong")
    await page.get_by_role("button", name="表示").click()
    await expect(page.locator("input[name=passcode]")).to_be_visible()
    status, _ = await hub.raw("GET", "/dashboard/state")
    assert status == 403
    status, _ = await hub.raw(
        "POST", "/dashboard/clock", json={"days": 1}, headers={"Authorization": "Bearer test-admin-token"}
    )
    assert status == 403  # a control without the page's header: CSRF_FAILED
    await hub.running.app[USAGE].request_correction(
        office_number=HOUMON.number, field="address", value="東京都千代田区1-1", contact="03-0000-0000"
    )
    await page.locator("input[name=passcode]").fill(trainer_passcode(hub.config))
    await page.get_by_role("button", name="表示").click()
    await expect(page.locator(f"#office-{KYOTAKU.number}")).to_be_visible()
    await page.locator("#corrections select").select_option("対応中")  # the admin view of corrections
    await expect(page.locator("#corrections select")).to_have_value("対応中")
    for _ in range(50):
        [request] = (await ok(hub, "GET", "/admin/v1/corrections"))["corrections"]
        if request["status"] == "対応中":
            break
        await page.wait_for_timeout(100)
    assert request["status"] == "対応中"


@pytest.mark.parametrize("size", [(1024, 768), (1280, 720)])
async def test_presenter_mode_fits_a_projector(hub: HubUnderTest, browser: Browser, size: tuple[int, int]) -> None:
    """On a projector of 1024 × 768 or 1280 × 720 the transmissions table had a third of the width
    beside the refusals: ファイル one glyph a line, the time broken as 2026-/12-03, office names
    broken inside. Now the panels stack, the table takes the width and a time or a count never breaks."""
    with_seed(hub)
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await kyotaku.send(plan(), to=HOUMON.number)
    page = await _page(browser, hub.url, *size)
    await page.goto(hub.url + "/dashboard?token=test-admin-token&presenter=1")
    await expect(page.locator("#transmissions tbody tr")).to_have_count(1)
    lines = "e => { const r = document.createRange(); r.selectNodeContents(e); return r.getClientRects().length; }"
    for cell in ("thead th:nth-child(1)", "thead th:nth-child(3)", "tbody td:nth-child(1)", "tbody td:nth-child(3)"):
        assert await page.locator(f"#transmissions {cell}").evaluate(lines) == 1, cell  # one line box
    kind = page.locator("#sessions tbody td:nth-child(1)").first  # クライアント was a glyph a line
    assert await kind.evaluate(lines) == 1
    table = await page.locator("#transmissions").evaluate("e => [e.getBoundingClientRect().width, e.scrollWidth]")
    assert table[0] > 0.8 * size[0] and table[1] <= table[0] + 1, table
    overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, "no sideways scrolling"
    await _shot(page, f"dashboard-presenter-{size[0]}.png", full_page=True)
