"""The usage-status website (利用状況Webサイト) and the public office directory, in a real browser.

One office walks through its first months on the hub's clock: log in with the temporary KJ
password (R1.2), change it, read the personal user IDs on the top page (R1.3), apply (R3.5), watch
the licence period stay 「-」 until the deduction completes (R3.4), appear in the public directory a
month after applying and ask for a correction (R3.8), log out. Every page is saved as a screenshot
under reports/screenshots/ for a human to look at (Japanese glyphs, layout).

Runs Debian's Chromium through playwright (never `playwright install`); without either the tests
skip with a reason, and fail in CI (.ci/run installs Chromium and the IPA font).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from careplan.errors import CareplanError
from careplan.office import with_check_digit
from client.hubclient import HubClient
from tests.conftest import MISHINSEI, HubUnderTest, Office

try:
    from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
except ImportError:  # pragma: no cover - depends on the machine
    async_playwright = None  # type: ignore[assignment]

JST = dt.timezone(dt.timedelta(hours=9), "JST")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "reports" / "screenshots"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
RESULT_ROW = "table#offices tr:has(a[href*='/directory/correction'])"
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")

NEW_OFFICE = Office(
    number=with_check_digit("137020001"),
    name="ブラウザ試験ケアプランセンター",
    kind="43",
    user=f"KJ{with_check_digit('137020001')}",
    password="Temp0410pw",
    licence="none",
)
NEW_PASSWORD = "Careplan2026ok"
APPLIED_AT = dt.datetime(2026, 4, 10, 10, 0, tzinfo=JST)  # 1st–15th: claimed in April
PERIOD = ("2026-04-01", "2027-03-31")  # 12 months from the 1st of the claim month
DEDUCTED_AT = dt.datetime(2026, 5, 25, 0, 0, tzinfo=JST)  # the 25th of the month after the claim
LISTED_AT = dt.datetime(2026, 5, 10, 0, 0, tzinfo=JST)  # one month after applying


def chromium() -> str:
    """Debian's Chromium, or a skip (a failure in CI) saying what is missing."""
    found = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
    if found is not None and async_playwright is not None:
        return found
    missing = "Chromium (Debian package chromium)" if found is None else "the playwright package"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{missing} is required in CI (.ci/run installs chromium; pip install -e '.[test]')")
    pytest.skip("Chromium (Debian package chromium) or playwright not installed here: usage-site browser tests not run")


@pytest.fixture(scope="module")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    return SCREENSHOTS


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium()
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def new_context(browser: Browser) -> BrowserContext:
    context = await browser.new_context(
        ignore_https_errors=True, locale="ja-JP", timezone_id="Asia/Tokyo", viewport={"width": 1280, "height": 800}
    )
    context.set_default_timeout(15_000)
    return context


@dataclass(slots=True)
class Shots:
    directory: Path
    taken: list[Path] = field(default_factory=list)

    async def take(self, page: Page, name: str) -> None:
        path = self.directory / f"{len(self.taken) + 1:02d}-{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)


async def register(hub: HubUnderTest, office: Office = NEW_OFFICE) -> None:
    await hub.service.register_office(
        office_number=office.number,
        name=office.name,
        service_kind=office.kind,
        office_user_id=office.user,
        password=office.password,
        licence="none",
        password_state="temporary",
        personal_users=[],
        prefecture="13",
        address="東京都千代田区千代田1-1",
    )


async def submit(page: Page, form: str, button: str) -> Any:
    """Click the form's submit button and return the response of the page it leads to."""
    async with page.expect_navigation() as navigation:
        await page.locator(form).get_by_role("button", name=button).click()
    return await navigation.value


async def log_in(page: Page, url: str, user: str, password: str) -> Any:
    await page.goto(url + "/web/login")
    await page.locator("form#login input[name=user_id]").fill(user)
    await page.locator("form#login input[name=password]").fill(password)
    return await submit(page, "form#login", "ログイン")


async def open_logged_in(page: Page, url: str, path: str) -> None:
    """Open a page of the site; if the session ran out while the clock moved on, log in again."""
    await page.goto(url + path)
    if page.url.split("?")[0].endswith("/web/login"):
        await log_in(page, url, NEW_OFFICE.user, NEW_PASSWORD)
        await page.goto(url + path)
    await expect(page).to_have_url(re.compile(re.escape(path) + r"(\?.*)?$"))


async def directory_rows(page: Page, url: str, query: str, **selects: str) -> list[str]:
    """Search the public directory; the text of each result row (a row links to its correction form)."""
    await page.goto(url + "/directory")
    await page.locator("form#search input[name=q]").fill(query)
    for name, wanted in selects.items():
        await choose(page, f"form#search select[name={name}]", wanted)
    await submit(page, "form#search", "検索")
    await expect(page.locator("table#offices")).to_be_visible()
    return [text.strip() for text in await page.locator(RESULT_ROW).all_inner_texts()]


async def choose(page: Page, select: str, wanted: str) -> None:
    """Select the option whose value is `wanted` or whose label contains it (codes or names)."""
    options = await page.locator(f"{select} option").evaluate_all(
        "options => options.map(o => [o.value, o.textContent.trim()])"
    )
    matching = [value for value, label in options if value == wanted or wanted in label]
    assert matching, f"{select} offers no option {wanted!r}: {options}"
    await page.locator(select).select_option(value=matching[0])


async def api_logins(hub: HubUnderTest, attempts: list[tuple[str, str]]) -> list[str]:
    """Log in over the API with a certificate of the new office: "ok" or the refusal's code, each."""
    pair = hub.pki.issue(NEW_OFFICE, now=dt.datetime(2026, 4, 1, tzinfo=dt.UTC))
    outcomes = []
    for user, password in attempts:
        async with HubClient(url=hub.url, ca_file=hub.config.trusted_ca_file, keypair=pair) as client:
            try:
                await client.login(user, password)
                outcomes.append("ok")
            except CareplanError as refused:
                outcomes.append(refused.code)
    return outcomes


async def test_office_first_months_on_the_usage_site(hub: HubUnderTest, browser: Browser, screenshots: Path) -> None:
    hub.clock.set(APPLIED_AT, frozen=True)
    await register(hub)
    url = hub.url
    shots = Shots(screenshots)
    context = await new_context(browser)
    page = await context.new_page()

    # -- login page, then the temporary password must be changed first (R1.2) ----------------------
    await page.goto(url + "/web/login")
    form = page.locator("form#login")
    await expect(form.locator("input[name=user_id]")).to_be_visible()
    await expect(form.locator("input[name=password]")).to_have_attribute("type", "password")
    assert await form.locator("input[type=hidden][name=csrf]").count() == 1, "the login form carries a csrf field"
    await shots.take(page, "login")

    await log_in(page, url, NEW_OFFICE.user, NEW_OFFICE.password)
    await expect(page).to_have_url(re.compile(r"/web/password(\?.*)?$"))
    await expect(page.locator("body")).to_contain_text("パスワードの有効期限が切れています")
    change = page.locator("form#password")
    for name in ("current_password", "new_password", "new_password_confirm"):
        await expect(change.locator(f"input[name={name}]")).to_be_visible()
    await shots.take(page, "password-expired")

    # the old password again is not a new password
    await change.locator("input[name=current_password]").fill(NEW_OFFICE.password)
    await change.locator("input[name=new_password]").fill(NEW_OFFICE.password)
    await change.locator("input[name=new_password_confirm]").fill(NEW_OFFICE.password)
    await submit(page, "form#password", "変更する")
    await expect(page).to_have_url(re.compile(r"/web/password(\?.*)?$"))
    await expect(page.locator("body")).not_to_contain_text("パスワードを変更しました。")
    await shots.take(page, "password-rejected")

    await change.locator("input[name=current_password]").fill(NEW_OFFICE.password)
    await change.locator("input[name=new_password]").fill(NEW_PASSWORD)
    await change.locator("input[name=new_password_confirm]").fill(NEW_PASSWORD)
    await submit(page, "form#password", "変更する")
    await expect(page).to_have_url(re.compile(r"/web/(\?.*)?$"))
    await expect(page.locator("body")).to_contain_text("パスワードを変更しました。")

    # -- top page: the office, no personal users before applying (R1.3) -----------------------------
    await expect(page.locator("h1")).to_contain_text("利用状況Webサイト")
    body = page.locator("body")
    await expect(body).to_contain_text(NEW_OFFICE.number)
    await expect(body).to_contain_text(NEW_OFFICE.name)
    await expect(page.locator("table#personal-users")).to_contain_text("利用申請後に発行されます")
    nav = {"トップ": "/web/", "利用申請/更新": "/web/apply", "ライセンス": "/web/licence"}
    for label, href in nav.items():
        link = page.get_by_role("link", name=label, exact=True)
        await expect(link).to_have_count(1)
        assert (await link.get_attribute("href") or "").endswith(href), f"{label} links to {href}"
    await expect(page.get_by_role("button", name="ログアウト")).to_be_visible()
    await shots.take(page, "top-before-apply")

    # -- the licence tab before applying ----------------------------------------------------------
    await page.get_by_role("link", name="ライセンス", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/web/licence(\?.*)?$"))
    await expect(page.locator("table#licence")).to_contain_text("未申請")
    await expect(page.locator("#expires")).to_have_text("-")
    await shots.take(page, "licence-unapplied")

    # -- apply, paid by deduction (R3.5) ------------------------------------------------------------
    await page.get_by_role("link", name="利用申請/更新", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/web/apply(\?.*)?$"))
    apply_form = page.locator("form#apply")
    await expect(apply_form.locator("input[type=radio][name=payment][value=deduction]")).to_have_count(1)
    await expect(apply_form.locator("input[type=radio][name=payment][value=invoice]")).to_have_count(1)
    await expect(page.locator("#notice")).to_have_count(0)
    await shots.take(page, "apply-form")
    await apply_form.locator("input[name=payment][value=deduction]").check()
    await submit(page, "form#apply", "利用申請する")
    await expect(page.locator("#notice")).to_have_text("利用申請が正常に完了しております。")
    await expect(page.locator("form#apply")).to_have_count(0)
    await expect(page.locator("form#renew")).to_have_count(0)  # the renewal window is ten months away
    await shots.take(page, "apply-done")

    # -- top page: the personal users issued on applying, with their initial passwords (R1.3) --------
    await page.get_by_role("link", name="トップ", exact=True).click()
    rows = page.locator("table#personal-users tr:has(td)")
    await expect(rows.first).to_be_visible()
    issued: list[tuple[str, str]] = []
    for row in await rows.all():
        cells = [text.strip() for text in await row.locator("td").all_inner_texts()]
        ids = [c for c in cells if re.fullmatch(r"C\d{12}", c)]  # C<事業所番号><2 digits>; a password may start with C
        others = [c for c in cells if c and c not in ids]
        assert ids and others, f"a personal user row shows its C… ID and its initial password: {cells}"
        issued.append((ids[0], others[0]))
    await expect(page.locator("table#personal-users")).not_to_contain_text("利用申請後に発行されます")
    await shots.take(page, "top-personal-users")

    # -- licence tab: 申請済, expiry 「-」 until the deduction completes (R3.4) ------------------------
    await page.get_by_role("link", name="ライセンス", exact=True).click()
    table = page.locator("table#licence")
    await expect(table).to_contain_text("申請済")
    await expect(table).to_contain_text("介護給付費からの差引")
    await expect(table).to_contain_text("21,000円")
    await expect(page.locator("#expires")).to_have_text("-")
    await expect(page.locator("#period")).to_have_text("-")
    await shots.take(page, "licence-applied")

    # -- the public directory (R3.8): not on 2026-05-09 (JST), from 2026-05-10 -------------------------
    public = await new_context(browser)  # no login: the directory is public
    visitor = await public.new_page()
    hub.clock.set(LISTED_AT - dt.timedelta(minutes=1), frozen=True)
    assert await directory_rows(visitor, url, NEW_OFFICE.number) == []
    assert await directory_rows(visitor, url, "ブラウザ試験") == []
    await shots.take(visitor, "directory-2026-05-09")

    hub.clock.set(LISTED_AT, frozen=True)
    found = await directory_rows(visitor, url, NEW_OFFICE.number)
    assert len(found) == 1 and NEW_OFFICE.number in found[0] and NEW_OFFICE.name in found[0], found
    await shots.take(visitor, "directory-by-number")
    found = await directory_rows(visitor, url, "ブラウザ試験", prefecture="13", service_kind="43")
    assert len(found) == 1 and NEW_OFFICE.number in found[0], found
    await shots.take(visitor, "directory-by-name")
    assert await directory_rows(visitor, url, "ブラウザ試験", prefecture="27") == [], "not in 大阪府"
    assert await directory_rows(visitor, url, MISHINSEI.number) == [], "an office that never applied is not listed"

    # -- a correction request from the listing -----------------------------------------------------
    await directory_rows(visitor, url, NEW_OFFICE.number)
    link = visitor.locator(RESULT_ROW).first.locator(f"a[href*='office={NEW_OFFICE.number}']")
    assert (await link.get_attribute("href") or "").endswith(f"/directory/correction?office={NEW_OFFICE.number}")
    await link.click()
    correction = visitor.locator("form#correction")
    await expect(correction.locator("input[name=office_number]")).to_have_value(NEW_OFFICE.number)
    fields = await correction.locator("select[name=field] option").evaluate_all(
        "options => options.filter(o => o.value).map(o => [o.value, o.textContent.trim()])"
    )
    assert fields, "the correction form offers the listing's fields"
    address = [value for value, label in fields if "所在地" in label or value == "address"]
    await correction.locator("select[name=field]").select_option(value=(address or [fields[0][0]])[0])
    await correction.locator("[name=value]").fill("東京都千代田区千代田2-2 ケアプランビル3階")
    await correction.locator("[name=contact]").fill("browser-test@example.jp")
    await shots.take(visitor, "correction-form")
    await submit(visitor, "form#correction", "訂正を依頼する")
    await expect(visitor.locator("body")).to_contain_text("訂正依頼を受け付けました。")
    await shots.take(visitor, "correction-done")
    await public.close()

    # -- the deduction: still 「-」 on 2026-05-24, the period from 2026-05-25 (JST) -------------------
    hub.clock.set(DEDUCTED_AT - dt.timedelta(minutes=1), frozen=True)
    await open_logged_in(page, url, "/web/licence")
    await expect(page.locator("#expires")).to_have_text("-")
    await expect(page.locator("#period")).to_have_text("-")
    hub.clock.set(DEDUCTED_AT, frozen=True)
    await page.reload()
    await open_logged_in(page, url, "/web/licence")
    await expect(page.locator("#expires")).to_have_text(PERIOD[1])
    await expect(page.locator("#period")).to_have_text(f"{PERIOD[0]}～{PERIOD[1]}")
    await expect(page.locator("table#licence")).to_contain_text("有効")
    await shots.take(page, "licence-valid")

    # -- log out: back to the login page, and the site is closed again ------------------------------
    await page.get_by_role("button", name="ログアウト").click()
    await expect(page).to_have_url(re.compile(r"/web/login(\?.*)?$"))
    await shots.take(page, "logged-out")
    await page.goto(url + "/web/licence")
    await expect(page).to_have_url(re.compile(r"/web/login(\?.*)?$"))
    await context.close()

    # -- the same passwords work for the client: the new KJ one, the personal users' initial ones ----
    kj = await api_logins(hub, [(NEW_OFFICE.user, NEW_PASSWORD), (NEW_OFFICE.user, NEW_OFFICE.password)])
    assert kj == ["ok", "LOGIN_FAILED"]
    personal = await api_logins(hub, issued)
    assert all(outcome in ("ok", "PASSWORD_EXPIRED") for outcome in personal), list(zip(issued, personal, strict=True))
    assert all(path.stat().st_size > 0 for path in shots.taken)


async def test_login_is_rate_limited_per_user_id(hub: HubUnderTest, browser: Browser, screenshots: Path) -> None:
    hub.clock.set(APPLIED_AT, frozen=True)
    await register(hub)
    context = await new_context(browser)
    page = await context.new_page()
    for attempt in range(5):
        response = await log_in(page, hub.url, NEW_OFFICE.user, f"wrong-password-{attempt}")
        assert response.status != 429, f"failed login {attempt + 1} of 5 is not limited yet"
        await expect(page).to_have_url(re.compile(r"/web/login"))
    response = await log_in(page, hub.url, NEW_OFFICE.user, NEW_OFFICE.password)  # even the right one
    assert response.status == 429
    text = await page.locator("body").inner_text()
    assert JAPANESE.search(text), f"the 429 page explains itself in Japanese: {text!r}"
    await page.screenshot(path=str(screenshots / "90-login-rate-limited.png"), full_page=True)

    await context.close()


async def test_post_without_csrf_is_refused(hub: HubUnderTest, browser: Browser, screenshots: Path) -> None:
    hub.clock.set(APPLIED_AT, frozen=True)
    await register(hub)
    context = await new_context(browser)
    page = await context.new_page()
    await page.goto(hub.url + "/web/login")  # the site's cookies, but no csrf field in the post
    form = {"user_id": NEW_OFFICE.user, "password": NEW_OFFICE.password}
    refused = await context.request.post(hub.url + "/web/login", form=form, max_redirects=0)
    assert refused.status == 403
    await page.set_content(await refused.text())
    await page.screenshot(path=str(screenshots / "91-csrf-refused.png"), full_page=True)

    # logged in through the real form, a forged 利用申請 without the field changes nothing
    await log_in(page, hub.url, NEW_OFFICE.user, NEW_OFFICE.password)
    await page.locator("form#password input[name=current_password]").fill(NEW_OFFICE.password)
    await page.locator("form#password input[name=new_password]").fill(NEW_PASSWORD)
    await page.locator("form#password input[name=new_password_confirm]").fill(NEW_PASSWORD)
    await submit(page, "form#password", "変更する")
    await expect(page).to_have_url(re.compile(r"/web/(\?.*)?$"))
    refused = await context.request.post(hub.url + "/web/apply", form={"payment": "deduction"}, max_redirects=0)
    assert refused.status == 403
    office = await hub.service.office(NEW_OFFICE.number)
    assert office["licence"]["state"] == "未申請"  # type: ignore[index]
    await context.close()
