"""The hub's pages for people (hub/pages.py, issue 13): landing page, API description, trust help,
HTML errors for browsers and JSON for the API, the language switch, and the small fixes of the
usage website (login keeps the user ID, a logged-out notice, the licence tab's past dates)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from careplan.errors import CATALOGUE
from client.hubclient import client_ssl_context
from hub.website import templates
from tests.conftest import KYOTAKU, HubUnderTest

HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture
async def browser(hub: HubUnderTest) -> AsyncIterator[aiohttp.ClientSession]:
    """A certificate-less session with cookies, as a browser would be."""
    connector = aiohttp.TCPConnector(ssl=client_ssl_context(hub.config.trusted_ca_file, None))
    async with aiohttp.ClientSession(
        base_url=hub.url, connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as session:
        yield session


async def _page(session: aiohttp.ClientSession, path: str, **kwargs: object) -> tuple[int, str]:
    async with session.get(path, headers=HTML, **kwargs) as response:  # type: ignore[arg-type]
        return response.status, await response.text()


async def test_landing_page_links_every_place(browser: aiohttp.ClientSession) -> None:
    status, text = await _page(browser, "/")
    assert status == 200 and '<html lang="ja">' in text
    links = ('href="/web/login"', 'href="/directory"', 'href="/api"', 'href="/trust"', 'href="/openapi.yaml"')
    for link in (*links, 'href="/dashboard"'):
        assert link in text
    assert "ダッシュボード（準備中）" not in text  # the hub has its dashboard (issue 11): a link, not a slot


async def test_api_description_is_rendered_offline(browser: aiohttp.ClientSession) -> None:
    status, text = await _page(browser, "/api")
    assert status == 200
    assert "/api/v1/session" in text and "/api/v1/inbox/{transmission_id}" in text
    assert all(f'id="code-{code}"' in text for code in CATALOGUE)
    assert "<script" not in text and "cdn" not in text.lower()
    assert "<h2>" in text and "<table" in text  # the Markdown of openapi.yaml rendered, not shown raw


async def test_trust_help_and_the_ca_file(browser: aiohttp.ClientSession, hub: HubUnderTest) -> None:
    status, text = await _page(browser, "/trust")
    assert status == 200 and "Firefox" in text and "Chromium" in text and "Windows" in text
    assert "certutil -addstore -user Root" in text and str(hub.config.trusted_ca_file) in text
    async with browser.get("/ca.pem") as response:
        assert response.status == 200
        assert await response.read() == hub.config.trusted_ca_file.read_bytes()


async def test_browsers_get_error_pages_and_api_clients_json(browser: aiohttp.ClientSession) -> None:
    status, text = await _page(browser, "/no-such-page")
    assert status == 404 and "<html" in text and CATALOGUE["NOT_FOUND"].fix_ja in text
    async with browser.get("/no-such-page", headers={"Accept": "application/json"}) as response:
        assert response.status == 404 and (await response.json())["code"] == "NOT_FOUND"
    async with browser.get("/api/v1/no-such-route", headers=HTML) as response:  # the API always answers JSON
        assert response.status == 404 and (await response.json())["code"] == "NOT_FOUND"


async def test_a_wrong_method_is_405_with_allow(browser: aiohttp.ClientSession) -> None:
    async with browser.delete("/api/v1/sent") as response:
        assert response.status == 405 and "GET" in response.headers["Allow"]
        body = await response.json()
        assert body["code"] == "METHOD_NOT_ALLOWED" and body["fix"]
    async with browser.post("/directory", headers=HTML) as response:
        assert response.status == 405 and "<html" in await response.text()


async def test_api_refusals_follow_accept_language(browser: aiohttp.ClientSession) -> None:
    async with browser.get("/api/v1/sent") as response:
        ja = await response.json()
    async with browser.get("/api/v1/sent", headers={"Accept-Language": "en-US,en;q=0.9"}) as response:
        en = await response.json()
    assert ja["code"] == en["code"] and ja["message"] == en["message"]
    assert (ja["lang"], en["lang"]) == ("ja", "en")
    assert ja["explanation"] == CATALOGUE[ja["code"]].explanation_ja
    assert en["explanation"] == CATALOGUE[en["code"]].explanation


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def _login(session: aiohttp.ClientSession, user: str, password: str) -> tuple[int, str]:
    _, page = await _page(session, "/web/login")
    form = {"csrf": _csrf(page), "user_id": user, "password": password}
    async with session.post("/web/login", data=form, headers=HTML) as response:
        return response.status, await response.text()


async def test_a_failed_login_keeps_the_user_id_and_explains_in_japanese(browser: aiohttp.ClientSession) -> None:
    status, text = await _login(browser, KYOTAKU.user, "wrong-password")
    assert status == 401
    assert f'value="{KYOTAKU.user}"' in text  # the user ID stays in the form
    assert CATALOGUE["LOGIN_FAILED"].explanation_ja in text
    assert re.search(r"詳細: [^<]*ユーザ", text) and re.search(r"対処: [^<]*ユーザID", text)  # the raise site's
    assert 'value="wrong-password"' not in text


async def test_the_language_switch_turns_explanations_english(browser: aiohttp.ClientSession) -> None:
    async with browser.get("/lang/en", params={"next": "/web/login"}, allow_redirects=False) as response:
        assert response.status == 303 and response.headers["Location"] == "/web/login"
    status, text = await _login(browser, KYOTAKU.user, "wrong-password")
    assert status == 401 and CATALOGUE["LOGIN_FAILED"].explanation in text and "Fix: " in text
    assert CATALOGUE["LOGIN_FAILED"].message() in text  # the platform's message stays Japanese
    assert "<strong>English</strong>" in text
    async with browser.get("/lang/en", params={"next": "//evil.example/"}, allow_redirects=False) as response:
        assert response.headers["Location"] == "/"  # only pages of this hub
    status, _ = await _page(browser, "/lang/fr")
    assert status == 404


async def test_logging_out_says_so(browser: aiohttp.ClientSession) -> None:
    status, top = await _login(browser, KYOTAKU.user, KYOTAKU.password)
    assert status == 200
    async with browser.post("/web/logout", data={"csrf": _csrf(top)}, headers=HTML) as response:
        assert response.status == 200 and response.url.path == "/web/login"
        assert "ログアウトしました。" in await response.text()


@pytest.mark.parametrize(
    ("deduction_date", "label"),
    [("2026-05-25", "差引日"), ("2026-06-25", "差引予定日"), ("2026-06-01", "差引日"), ("-", "差引予定日")],
)
def test_the_licence_tab_labels_past_deductions_as_done(deduction_date: str, label: str) -> None:
    licence = dict.fromkeys(("state", "expires", "period", "payment", "applied_on", "next_period"), "-") | {
        "fee_yen": 21000,
        "fee_per_month_yen": 1750,
        "deduction_date": deduction_date,
        "auto_renew": False,
    }
    html = templates().render("licence.html", licence=licence, hub_time="2026-06-01 09:00", lang="ja")
    assert f'<th id="deduction-label">{label}</th>' in html
