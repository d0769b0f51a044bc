"""The pages for people at phone and desktop widths, in a real Chromium (issue 13): nothing wider
than the window at 390 px or 1280 px, names never one character per line, the scenario report on
one screen width. Screenshots go to reports/screenshots/pages/ for a human to look at."""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

import pytest

from scenarios import report
from scenarios.runner import ScenarioResult, StepResult
from tests.conftest import KYOTAKU, HubUnderTest
from tests.web.test_usage_site_browser import log_in

with contextlib.suppress(ImportError):  # without playwright the `browser` fixture skips
    from playwright.async_api import Browser, Page

SHOTS = Path(__file__).resolve().parents[2] / "reports" / "screenshots" / "pages"
WIDTHS = (390, 1280)
PUBLIC = ("/", "/directory", "/web/login", "/api", "/trust", "/no-such-page")
OFFICE = ("/web/", "/web/licence", "/web/apply")


async def _page(browser: Browser, width: int) -> Page:
    context = await browser.new_context(
        ignore_https_errors=True, locale="ja-JP", timezone_id="Asia/Tokyo", viewport={"width": width, "height": 800}
    )
    context.set_default_timeout(15_000)
    return await context.new_page()


async def _fits(page: Page, width: int, name: str) -> None:
    """No horizontal scrolling, and no table cell squeezed to one character per line."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{name} at {width}px is {scroll}px wide"
    narrow = await page.evaluate(
        """() => [...document.querySelectorAll('td')].filter(td => {
             const text = td.innerText.trim();
             return text.length > 3 && td.getBoundingClientRect().width < 30 && td.offsetParent !== null;
           }).map(td => td.innerText.trim())"""
    )
    assert narrow == [], f"{name} at {width}px squeezes {narrow[:3]}"


@pytest.mark.parametrize("width", WIDTHS)
async def test_public_and_office_pages_fit_phone_and_desktop(hub: HubUnderTest, browser: Browser, width: int) -> None:
    page = await _page(browser, width)
    for path in PUBLIC:
        await page.goto(hub.url + path)
        await _fits(page, width, path.strip("/").replace("/", "-") or "landing")
    await log_in(page, hub.url, KYOTAKU.user, KYOTAKU.password)
    for path in OFFICE:
        await page.goto(hub.url + path)
        await _fits(page, width, "web-" + (path.strip("/").split("/")[-1] if path != "/web/" else "top"))


def _results(count: int) -> list[ScenarioResult]:
    results = []
    for n in range(count):
        failing = n % 9 == 4
        steps = [
            StepResult(
                index=i,
                line=10 + i,
                actor="さくら居宅介護支援事業所",
                action="send plan_to ひまわり訪問介護ステーション",
                expectation="RECIPIENT_NOT_LICENSED" if failing and i == 3 else "ok",
                outcome="ok",
                passed=not (failing and i == 3),
            )
            for i in range(1, 7)
        ]
        results.append(
            ScenarioResult(
                name=f"シナリオ {n + 1}: 利用申請のない送信先へ送ると拒否される（{'失敗' if failing else '成功'}）",
                path=f"scenarios/library/file{n % 5}.yaml",
                line=n * 20 + 1,
                tags=("licence", "R3.7"),
                steps=steps,
                duration=0.4,
            )
        )
    return results


async def test_scenario_report_fits_1280_and_puts_failures_first(browser: Browser, tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    html.write_text(report.to_html(_results(37)), "utf-8")
    page = await _page(browser, 1280)
    await page.goto(html.as_uri())
    await _fits(page, 1280, f"scenario-report-{dt.date.today():%Y}")
    first = await page.locator("tr.summary").first.inner_text()
    assert "FAIL" in first
    height = await page.evaluate("document.documentElement.scrollHeight")
    assert height < 6000, f"the report is {height}px tall"
    await page.locator("label[for=only-failed]").click()
    assert await page.locator("tr.summary.pass").first.is_hidden()
