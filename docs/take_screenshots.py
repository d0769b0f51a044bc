"""Take the README's screenshots (docs/screenshots/) with Debian's Chromium: the hub's pages at
390 and 1280 px against a fresh `careplan up`, and the scenario report of the library plus one
deliberately failing scenario at 390 and 1280 px (the tests' own failure, so the failures-first view
has something to show).

    .venv/bin/python docs/take_screenshots.py

Needs the `chromium` and `fonts-ipafont-gothic` Debian packages and the playwright package (never
`playwright install`). Uses a temporary data directory and a free port; stops its hub at the end.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' launch recipe and their deliberately failing scenario
from tests.scenarios.test_scenarios import FAILING  # noqa: E402
from tests.web.test_usage_site_browser import LAUNCH_ARGS  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
CAREPLAN = [sys.executable, "-m", "careplan_cli.main"]


async def _page(browser: Browser, width: int) -> Page:
    context = await browser.new_context(
        viewport={"width": width, "height": 844 if width < 500 else 860},
        locale="ja-JP",
        timezone_id="Asia/Tokyo",
        ignore_https_errors=True,
    )
    return await context.new_page()


async def _shot(page: Page, name: str, *, full: bool = False) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    print(f"{name}: {width}px wide")
    await page.screenshot(path=str(OUT / f"{name}.png"), full_page=full)


async def hub_pages(browser: Browser, url: str, office: dict[str, str]) -> None:
    for width in (390, 1280):
        page = await _page(browser, width)
        for name, path in (("landing", "/"), ("directory", "/directory")):
            await page.goto(url + path)
            await _shot(page, f"{name}-{width}", full=width == 390)
        await page.goto(url + "/web/login")  # a failed login keeps the user ID and says what to do
        await page.fill("input[name=user_id]", office["user"])
        await page.fill("input[name=password]", "wrong-password")
        await page.click("form#login button")
        await _shot(page, f"login-refused-{width}")
        await page.fill("input[name=password]", office["password"])
        await page.click("form#login button")
        for name, path in (("licence", "/web/licence"), ("api", "/api"), ("trust", "/trust"), ("not-found", "/nope")):
            await page.goto(url + path)
            await _shot(page, f"{name}-{width}")


async def report(browser: Browser, html: Path) -> None:
    for width in (390, 1280):
        page = await _page(browser, width)
        await page.goto(html.as_uri())
        await _shot(page, f"scenario-report-{width}")


async def shots(url: str, office: dict[str, str], html: Path) -> None:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=LAUNCH_ARGS)
        await hub_pages(browser, url, office)
        await report(browser, html)
        await browser.close()


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "wrong.yaml").write_text(FAILING, "utf-8")
        html = root / "report.html"
        run = [*CAREPLAN, "scenarios", "run", "scenarios/library", str(root / "wrong.yaml"), "--html", str(html)]
        subprocess.run(run, check=False, stdout=subprocess.DEVNULL)  # exit 1: the deliberate failure
        data = root / "data"
        hub = subprocess.Popen([*CAREPLAN, "up", "--data", str(data), "--port", "0"], stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not (data / "hub.json").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            url = json.loads((data / "hub.json").read_text())["url"]
            office = json.loads((data / "demo" / "offices.json").read_text("utf-8"))["kyotaku"]
            asyncio.run(shots(url, office, html))
        finally:
            hub.send_signal(signal.SIGINT)
            hub.wait(timeout=30)


if __name__ == "__main__":
    main()
