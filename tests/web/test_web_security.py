"""The usage website's defences, through a real hub over HTTPS with a plain HTTP client (no browser
needed): security headers on every page, CSRF tokens bound to the session (and to the pre-session
cookie on the login form), the password policy, and web logins throttled per address so that a
stranger at another address never locks the real user out."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from careplan.errors import CATALOGUE
from client.hubclient import client_ssl_context
from hub.passwords import is_common, new_password, policy_problems
from tests.conftest import KYOTAKU, HubUnderTest

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
REQUIRED_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
GOOD_PASSWORD = "Kaze-no-Tani7"


@dataclass(slots=True)
class Page:
    status: int
    url: str
    headers: dict[str, str]
    text: str

    @property
    def csrf(self) -> str:
        found = CSRF_FIELD.search(self.text)
        assert found, f"no csrf field on {self.url}"
        return found.group(1)


@dataclass(slots=True)
class Browser:
    """A cookie-keeping HTTPS client from one loopback address (127.0.0.x), as a browser would be."""

    session: aiohttp.ClientSession
    base: str

    async def get(self, path: str) -> Page:
        async with self.session.get(self.base + path, allow_redirects=False) as response:
            return Page(response.status, path, dict(response.headers), await response.text())

    async def post(self, path: str, form: dict[str, str], *, follow: bool = False) -> Page:
        async with self.session.post(self.base + path, data=form, allow_redirects=follow) as response:
            return Page(response.status, str(response.url.path), dict(response.headers), await response.text())

    async def log_in(self, user: str, password: str) -> Page:
        page = await self.get("/web/login")
        return await self.post("/web/login", {"csrf": page.csrf, "user_id": user, "password": password})

    def cookie(self, name: str) -> str | None:
        for cookie in self.session.cookie_jar:
            if cookie.key == name:
                return cookie.value
        return None


@contextlib.asynccontextmanager
async def browser(hub: HubUnderTest, address: str = "127.0.0.1") -> AsyncIterator[Browser]:
    connector = aiohttp.TCPConnector(
        ssl=client_ssl_context(hub.config.trusted_ca_file, None), local_addr=(address, 0), force_close=True
    )
    jar = aiohttp.CookieJar(unsafe=True)  # the hub is addressed by IP
    async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as session:
        yield Browser(session, hub.url)


def assert_secure_headers(page: Page) -> None:
    for name, value in REQUIRED_HEADERS.items():
        assert page.headers.get(name) == value, f"{page.url} ({page.status}): {name}"
    assert page.headers.get("Strict-Transport-Security", "").startswith("max-age="), page.url
    csp = page.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, page.url
    if page.headers.get("Content-Type", "").startswith("text/html"):
        assert "default-src 'self'" in csp and "'unsafe-inline'" not in csp, page.url
    else:
        assert "default-src 'none'" in csp, page.url


@pytest.fixture
def frozen(hub: HubUnderTest) -> HubUnderTest:
    hub.clock.set(dt.datetime.now(dt.UTC), frozen=True)
    return hub


# --- headers ----------------------------------------------------------------------------------------
async def test_security_headers_on_every_page(hub: HubUnderTest) -> None:
    async with browser(hub) as visitor:
        public = ["/web/login", "/web/", "/web", "/directory", "/directory/correction", "/web/static/site.css"]
        public += ["/healthz", "/openapi.yaml", "/api/v1/trust", "/api/v1/session", "/no/such/page"]
        pages = [await visitor.get(path) for path in public]
        pages.append(await visitor.post("/web/login", {"user_id": KYOTAKU.user, "password": "x"}))  # no csrf: 403
        assert (await visitor.log_in(KYOTAKU.user, KYOTAKU.password)).status == 303
        for path in ("/web/", "/web/apply", "/web/licence", "/web/password"):
            pages.append(await visitor.get(path))
    statuses = [page.status for page in pages]
    assert statuses[:1] + statuses[-5:] == [200, 403, 200, 200, 200, 200], "login page, no csrf, logged-in pages"
    assert statuses[public.index("/api/v1/session")] == 401 and statuses[public.index("/no/such/page")] == 404
    for page in pages:
        assert_secure_headers(page)
    html = [p for p in pages if p.headers.get("Content-Type", "").startswith("text/html")]
    assert len(html) >= 8
    assert all("<style" not in p.text and "<script" not in p.text for p in html), "nothing inline for the CSP"
    assert next(p for p in pages if p.url == "/web/static/site.css").headers["Content-Type"].startswith("text/css")
    assert all(p.headers.get("Cache-Control") == "no-store" for p in pages if p.url.startswith(("/web/l", "/api")))


# --- CSRF -------------------------------------------------------------------------------------------
async def test_csrf_token_is_bound_to_the_session(hub: HubUnderTest) -> None:
    async with browser(hub) as alice, browser(hub) as mallory:
        assert (await alice.log_in(KYOTAKU.user, KYOTAKU.password)).status == 303
        assert (await mallory.log_in(KYOTAKU.user, KYOTAKU.password)).status == 303
        alice_token = (await alice.get("/web/apply")).csrf
        mallory_token = (await mallory.get("/web/apply")).csrf
        assert alice_token != mallory_token

        # Another session's token is refused; the session's own token works.
        refused = await alice.post("/web/logout", {"csrf": mallory_token})
        assert refused.status == CATALOGUE["CSRF_FAILED"].status
        assert "CSRF_FAILED" in refused.text
        assert (await alice.get("/web/licence")).status == 200, "still logged in"
        assert (await alice.post("/web/logout", {"csrf": alice_token})).status == 303
        assert (await alice.get("/web/licence")).status == 303, "logged out"


async def test_double_submit_with_a_planted_cookie_is_refused(hub: HubUnderTest) -> None:
    """The old check (form token = cookie value) let anyone who could plant a cookie forge forms."""
    async with browser(hub) as visitor:
        await visitor.get("/web/login")
        visitor.session.cookie_jar.update_cookies({"careplan_csrf": "planted"})
        forged = await visitor.post("/web/login", {"csrf": "planted", "user_id": KYOTAKU.user, "password": "x"})
        assert forged.status == 403


async def test_login_form_token_is_bound_to_the_pre_session_cookie(hub: HubUnderTest) -> None:
    async with browser(hub) as first, browser(hub) as second:
        first_token = (await first.get("/web/login")).csrf
        await second.get("/web/login")
        assert first.cookie("__Host-careplan_pre") != second.cookie("__Host-careplan_pre")
        crossed = {"csrf": first_token, "user_id": KYOTAKU.user, "password": KYOTAKU.password}
        assert (await second.post("/web/login", crossed)).status == 403
        assert (await first.post("/web/login", crossed)).status == 303
        assert first.cookie("__Host-careplan_web")


# --- the password policy ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "password",
    [
        "password1",  # short, two classes, common
        "Passw0rd",  # short, common in disguise
        "aaaaaaa1",  # short, two classes, one letter
        "Password2026!",  # long enough, but a common word with decorations
        "P@ssw0rd123",
        "Qwertyuiop1!",
        f"{KYOTAKU.user}-x",  # the user ID
        f"Ab!{KYOTAKU.number}",  # the office number in the ID
        "abcdefghijk",  # one class
        "Aa1Aa1Aa1Aa1",  # three characters repeated
        "パスワード2026Abc",  # not half-width
    ],
)
def test_weak_passwords_are_refused(password: str) -> None:
    assert policy_problems(password, user_id=KYOTAKU.user), password


@pytest.mark.parametrize("password", [GOOD_PASSWORD, "Careplan2026ok", "mizu&Sakana42", "7tsuki-Nov-ame"])
def test_reasonable_passwords_pass(password: str) -> None:
    assert policy_problems(password, user_id=KYOTAKU.user) == []


def test_generated_passwords_pass_the_policy() -> None:
    assert all(not policy_problems(new_password()) for _ in range(300))
    assert is_common("S3cret!") and is_common("LETMEIN2024")


@pytest.mark.parametrize("weak", ["password1", "Passw0rd", "aaaaaaa1", KYOTAKU.user + "Ab"])
async def test_password_change_refuses_weak_passwords(hub: HubUnderTest, weak: str) -> None:
    async with browser(hub) as office:
        await office.log_in(KYOTAKU.user, KYOTAKU.password)
        form = {"current_password": KYOTAKU.password, "new_password": weak, "new_password_confirm": weak}
        page = await office.get("/web/password")
        refused = await office.post("/web/password", form | {"csrf": page.csrf})
        assert refused.status == CATALOGUE["PASSWORD_RULE"].status
        assert "PASSWORD_RULE" in refused.text
        row = await hub.service.db.fetch_one("SELECT password_hash FROM users WHERE user_id = ?", (KYOTAKU.user,))
        assert row is not None and await hub.service.hasher.verify(KYOTAKU.password, row[0]), "unchanged"


# --- throttling per address -----------------------------------------------------------------------------
async def test_a_stranger_at_another_address_never_locks_the_real_user_out(frozen: HubUnderTest) -> None:
    hub = frozen
    async with browser(hub, "127.0.0.2") as stranger, browser(hub, "127.0.0.1") as office:
        for attempt in range(5):
            failed = await stranger.log_in(KYOTAKU.user, f"Guess-{attempt}-x")
            assert failed.status == 401 and "LOGIN_FAILED" in failed.text
        throttled = await stranger.log_in(KYOTAKU.user, KYOTAKU.password)  # even the right password
        assert throttled.status == 429 and "LOGIN_THROTTLED" in throttled.text
        assert throttled.headers["Retry-After"] == "60"
        assert_secure_headers(throttled)

        assert (await office.log_in(KYOTAKU.user, KYOTAKU.password)).status == 303, "the real user is not locked"
        assert (await office.get("/web/licence")).status == 200
        keys = {r[0] for r in await hub.service.db.fetch_all("SELECT key FROM login_throttle")}
        assert keys == {f"pair:{KYOTAKU.user}|addr:127.0.0.2", "source:addr:127.0.0.2"}, "only the stranger's"

        hub.clock.advance(dt.timedelta(seconds=60))
        assert (await stranger.log_in(KYOTAKU.user, "Guess-again-x")).status == 401
        again = await stranger.log_in(KYOTAKU.user, KYOTAKU.password)
        assert again.status == 429 and again.headers["Retry-After"] == "120", "the window doubles"


async def test_web_login_of_a_personal_user_answers_like_an_unknown_user(frozen: HubUnderTest) -> None:
    async with browser(frozen) as visitor:
        personal = await visitor.log_in(KYOTAKU.personal_user, KYOTAKU.password + "-c")  # right password, C user
        unknown = await visitor.log_in("KJ0000000000", KYOTAKU.password)
    assert personal.status == unknown.status == 401
    assert "LOGIN_FAILED" in personal.text and "LOGIN_FAILED" in unknown.text


async def test_the_current_password_of_a_password_change_is_throttled_too(frozen: HubUnderTest) -> None:
    """A stolen session must not become an unthrottled oracle for the current password."""
    async with browser(frozen) as thief:
        await thief.log_in(KYOTAKU.user, KYOTAKU.password)
        codes = []
        for attempt in range(6):
            form = {"current_password": f"Guess-{attempt}-x", "new_password": GOOD_PASSWORD}
            page = await thief.get("/web/password")
            answer = await thief.post(
                "/web/password", form | {"new_password_confirm": GOOD_PASSWORD, "csrf": page.csrf}
            )
            codes.append(re.findall(r"(LOGIN_FAILED|LOGIN_THROTTLED)", answer.text)[:1])
    assert codes == [["LOGIN_FAILED"]] * 5 + [["LOGIN_THROTTLED"]]
