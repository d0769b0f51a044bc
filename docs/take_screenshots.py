"""Take the README's screenshots with Debian's Chromium: the hub's pages at 390 and 1280 px against
a fresh `careplan up` (docs/screenshots/), the scenario report of the library plus one deliberately
failing scenario at 390 and 1280 px (the tests' own failure, so the failures-first view has
something to show), and the conformance report of our own client's run of the whole client suite
(docs/conformance/report.png).

    .venv/bin/python docs/take_screenshots.py

Needs the `chromium` and `fonts-ipafont-gothic` Debian packages and the playwright package (never
`playwright install`). Works in a temporary folder, but runs the hub from inside it as the README
does (`--data .careplan-sim`, port 8443 when free), so the pages show the README's paths and not
a temporary one; stops its hub at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' launch recipe and their deliberately failing scenario
from careplan_cli.up import login_args  # noqa: E402
from tests.scenarios.test_scenarios import FAILING  # noqa: E402
from tests.web.test_usage_site_browser import LAUNCH_ARGS  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
CONFORMANCE_SHOT = ROOT / "docs" / "conformance" / "report.png"
CAREPLAN = [sys.executable, "-m", "careplan_cli.main"]
DATA = Path(".careplan-sim")  # relative to the work folder, as in the README
PORT = 8443  # the README's port, when nothing else holds it


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


async def conformance_report(browser: Browser, html: Path) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 1000}, locale="ja-JP")
    page = await context.new_page()
    await page.goto(html.as_uri())
    print(f"conformance report: {await page.evaluate('document.documentElement.scrollWidth')}px wide")
    await page.screenshot(path=str(CONFORMANCE_SHOT))


async def shots(url: str, office: dict[str, str], html: Path, conformance: Callable[[], Path]) -> None:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=LAUNCH_ARGS)
        await hub_pages(browser, url, office)
        await report(browser, html)
        # after the hub's pages: the kit registers its partner offices, which the directory would show
        await conformance_report(browser, await asyncio.to_thread(conformance))
        await browser.close()


def _port() -> int:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", PORT))
        except OSError:
            return 0  # taken: any free port (the pages then show that one)
    return PORT


def run_conformance(root: Path, url: str, office: dict[str, str]) -> Path:
    """Our client as the office under test, through its adapter, the whole client suite: the
    README's commands, run in `root` (the adapter's command line shows in the report)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    client = [*CAREPLAN, "client", "--home", ".careplan-client", "--profile", "kyotaku", "--json"]
    login = [*client, *login_args(url, DATA / "ca" / "ca.pem", office)]
    subprocess.run(login, cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)
    adapter = "careplan conformance adapter careplan-client --home .careplan-client --profile kyotaku"
    run = [*CAREPLAN, "conformance", "run", "--hub", url, "--data", str(DATA), "--office", office["office_number"]]
    run += ["--report", "out", "--sut", adapter]
    done = subprocess.run(run, cwd=root, env=env | {"CAREPLAN_PASSWORD": office["password"]}, check=False)
    print(f"conformance run: exit {done.returncode}")
    return root / "out" / "conformance.html"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "wrong.yaml").write_text(FAILING, "utf-8")
        html = root / "report.html"
        run = [*CAREPLAN, "scenarios", "run", "scenarios/library", str(root / "wrong.yaml"), "--html", str(html)]
        subprocess.run(run, check=False, stdout=subprocess.DEVNULL, cwd=ROOT)  # exit 1: the deliberate failure
        up = [*CAREPLAN, "up", "--data", str(DATA), "--port", str(_port())]
        hub = subprocess.Popen(up, cwd=root, stdout=subprocess.DEVNULL)
        data = root / DATA
        try:
            deadline = time.monotonic() + 60
            while not (data / "hub.json").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            url = json.loads((data / "hub.json").read_text())["url"]
            office = json.loads((data / "demo" / "offices.json").read_text("utf-8"))["kyotaku"]
            asyncio.run(shots(url, office, html, lambda: run_conformance(root, url, office)))
        finally:
            hub.send_signal(signal.SIGINT)
            hub.wait(timeout=30)


if __name__ == "__main__":
    main()
