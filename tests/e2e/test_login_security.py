"""API logins through a real hub over mutual TLS: no password oracle across offices, throttling
per (user, certificate) and per certificate with growing windows on the hub's clock, a stranger's
certificate never locking the real terminal out, and every session (API and web) ended by a
password change."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from careplan.certificates import KeyPair, fingerprint
from careplan.errors import MSG_LOGIN_CERT, CareplanError
from client.hubclient import client_ssl_context
from hub import passwords
from hub.server import start_hub
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest
from tests.web.test_web_security import GOOD_PASSWORD, browser


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def code(self) -> str:
        return str(self.body.get("code", "ok"))


@dataclass(slots=True)
class Terminal:
    """A terminal with an installed certificate speaking plain HTTP (to see statuses and headers)."""

    session: aiohttp.ClientSession
    base: str

    async def request(self, method: str, path: str, **kwargs: Any) -> Answer:
        async with self.session.request(method, self.base + path, **kwargs) as response:
            return Answer(response.status, dict(response.headers), await response.json())

    async def login(self, user: str, password: str) -> Answer:
        return await self.request("POST", "/api/v1/session", json={"user_id": user, "password": password})

    async def whoami(self, token: str) -> Answer:
        return await self.request("GET", "/api/v1/session", headers={"Authorization": f"Bearer {token}"})


@contextlib.asynccontextmanager
async def terminal(hub: HubUnderTest, pair: KeyPair) -> AsyncIterator[Terminal]:
    connector = aiohttp.TCPConnector(ssl=client_ssl_context(hub.config.trusted_ca_file, pair))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield Terminal(session, hub.url)


@pytest.fixture
def frozen(hub: HubUnderTest) -> HubUnderTest:
    hub.clock.set(dt.datetime.now(dt.UTC), frozen=True)
    return hub


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The stored hashes every scrypt check compares against, in order (a real or the dummy one)."""
    hashes: list[str] = []
    real_verify = passwords.verify_password

    def counting_verify(password: str, stored: str) -> bool:
        hashes.append(stored)
        return real_verify(password, stored)

    monkeypatch.setattr(passwords, "verify_password", counting_verify)
    return hashes


def _without_user(body: dict[str, Any], user: str) -> dict[str, Any]:
    return {key: str(value).replace(user, "<user>") for key, value in body.items()}


# --- the oracle -------------------------------------------------------------------------------------
async def test_another_offices_user_is_refused_before_the_password(frozen: HubUnderTest, checked: list[str]) -> None:
    """Office A's certificate, office B's KJ user: the same CERT_OFFICE_MISMATCH whether the
    password is right or wrong, so the API can no longer be used to guess B's password. The
    answer does say that the user ID exists (an unknown one is LOGIN_FAILED), and it used to come
    without a scrypt and without the throttle: one certificate could probe every C… and KJ… ID
    at full speed. Each now costs one scrypt and counts as a failure of its user and source."""
    async with terminal(frozen, frozen.pki.terminals[KYOTAKU.number]) as a:
        right = await a.login(HOUMON.user, HOUMON.password)
        wrong = await a.login(HOUMON.user, "not-the-password")
        more = [await a.login(HOUMON.user, f"guess-{n}") for n in range(4)]
        own = await a.login(KYOTAKU.user, "not-the-password")  # its own user: another key, not locked
    assert right.status == wrong.status == 403
    assert right.body == wrong.body, "nothing in the answer depends on the password"
    assert right.code == "CERT_OFFICE_MISMATCH" and right.body["message"] == MSG_LOGIN_CERT
    assert [m.code for m in more] == ["CERT_OFFICE_MISMATCH"] * 3 + ["LOGIN_THROTTLED"]
    assert len(checked) == 5 + 1, "one scrypt each (the throttled one none)"
    assert len(set(checked[:5])) == 1 and checked[5] != checked[0], "the dummy hash each time, never B's"
    assert own.code == "LOGIN_FAILED"


async def test_unknown_user_and_wrong_password_answer_alike_after_the_same_work(
    hub: HubUnderTest, checked: list[str]
) -> None:
    async with terminal(hub, hub.pki.terminals[KYOTAKU.number]) as a:
        await a.login(KYOTAKU.personal_user + "9", "warm-up")  # the dummy hash is made once
        checked.clear()
        wrong = await a.login(KYOTAKU.personal_user, "not-the-password")
        wrong_checks = len(checked)
        unknown_id = KYOTAKU.personal_user[:-1] + "7"
        unknown = await a.login(unknown_id, "not-the-password")
    assert wrong.status == unknown.status == 401
    assert wrong.code == unknown.code == "LOGIN_FAILED"
    assert _without_user(wrong.body, KYOTAKU.personal_user) == _without_user(unknown.body, unknown_id)
    assert wrong_checks == 1 and len(checked) == 2, "one scrypt each: a dummy hash for the unknown user"


# --- throttling -----------------------------------------------------------------------------------------
async def test_api_logins_are_throttled_with_growing_windows(frozen: HubUnderTest) -> None:
    hub = frozen
    async with terminal(hub, hub.pki.terminals[KYOTAKU.number]) as a:
        failed = [await a.login(KYOTAKU.user, f"guess-{n}") for n in range(5)]
        assert {f.code for f in failed} == {"LOGIN_FAILED"}
        locked = await a.login(KYOTAKU.user, KYOTAKU.password)  # even the right password
        assert (locked.status, locked.code, locked.headers["Retry-After"]) == (429, "LOGIN_THROTTLED", "60")
        assert locked.headers["X-Content-Type-Options"] == "nosniff"

        hub.clock.advance(dt.timedelta(seconds=59))
        assert (await a.login(KYOTAKU.user, KYOTAKU.password)).headers["Retry-After"] == "1"
        hub.clock.advance(dt.timedelta(seconds=1))
        assert (await a.login(KYOTAKU.user, "guess-again")).code == "LOGIN_FAILED"
        assert (await a.login(KYOTAKU.user, KYOTAKU.password)).headers["Retry-After"] == "120", "doubled"
        hub.clock.advance(dt.timedelta(minutes=2))
        assert (await a.login(KYOTAKU.user, "guess-again")).code == "LOGIN_FAILED"
        assert (await a.login(KYOTAKU.user, KYOTAKU.password)).headers["Retry-After"] == "240", "doubled again"

        hub.clock.advance(dt.timedelta(minutes=4))
        assert (await a.login(KYOTAKU.user, KYOTAKU.password)).status == 201
        # a success clears the pair: the next mistake starts from one again
        assert (await a.login(KYOTAKU.user, "typo")).code == "LOGIN_FAILED"
        assert (await a.login(KYOTAKU.user, KYOTAKU.password)).status == 201
    rows = await hub.service.db.fetch_all("SELECT key, failures FROM login_throttle")
    source = f"source:cert:{fingerprint(hub.pki.terminals[KYOTAKU.number].certificate)}"
    assert [tuple(r) for r in rows] == [(source, 8)], "the state is in the database, shared by every worker"


async def test_a_strangers_certificate_never_locks_the_real_terminal_out(frozen: HubUnderTest) -> None:
    hub = frozen
    stolen = hub.pki.issue(KYOTAKU)  # another certificate of the same office, in a stranger's hands
    async with terminal(hub, stolen) as stranger, terminal(hub, hub.pki.terminals[KYOTAKU.number]) as office:
        for n in range(6):
            await stranger.login(KYOTAKU.user, f"guess-{n}")
        assert (await stranger.login(KYOTAKU.user, KYOTAKU.password)).code == "LOGIN_THROTTLED"
        for n in range(20):  # and other user IDs, until the stranger's certificate is locked as a whole
            await stranger.login(f"{KYOTAKU.personal_user[:-2]}{n + 10}", "guess")
        assert (await stranger.login(KYOTAKU.personal_user, KYOTAKU.password + "-c")).code == "LOGIN_THROTTLED"

        real = await office.login(KYOTAKU.user, KYOTAKU.password)
        assert real.status == 201, real.body
        assert (await office.whoami(str(real.body["token"]))).status == 200


async def test_a_concurrent_burst_cannot_slip_past_the_limit(frozen: HubUnderTest) -> None:
    hub = frozen
    async with terminal(hub, hub.pki.terminals[KYOTAKU.number]) as a:
        answers = await asyncio.wait_for(
            asyncio.gather(*(a.login(KYOTAKU.user, f"burst-{n}") for n in range(15))), timeout=60
        )
    codes = [answer.code for answer in answers]
    assert codes.count("LOGIN_FAILED") == 5, codes
    assert codes.count("LOGIN_THROTTLED") == 10, codes


# --- sessions end with the password -------------------------------------------------------------------
async def test_password_change_ends_every_session_web_and_api(hub: HubUnderTest) -> None:
    async with (
        terminal(hub, hub.pki.terminals[KYOTAKU.number]) as a,
        browser(hub) as changing,
        browser(hub) as other_tab,
    ):
        api = await a.login(KYOTAKU.user, KYOTAKU.password)
        token = str(api.body["token"])
        assert (await a.whoami(token)).status == 200
        assert (await changing.log_in(KYOTAKU.user, KYOTAKU.password)).status == 303
        assert (await other_tab.log_in(KYOTAKU.user, KYOTAKU.password)).status == 303
        old_cookie = changing.cookie("__Host-careplan_web")

        page = await changing.get("/web/password")
        form = {"current_password": KYOTAKU.password, "new_password": GOOD_PASSWORD}
        done = await changing.post("/web/password", form | {"new_password_confirm": GOOD_PASSWORD, "csrf": page.csrf})
        assert done.status == 303 and done.headers["Location"] == "/web/?changed=1"

        assert (await a.whoami(token)).code == "SESSION_REQUIRED", "the API session ended"
        assert (await other_tab.get("/web/licence")).status == 303, "the other web session ended"
        assert changing.cookie("__Host-careplan_web") != old_cookie, "the changing browser got a new session"
        assert (await changing.get("/web/licence")).status == 200
        assert (await a.login(KYOTAKU.user, KYOTAKU.password)).code == "LOGIN_FAILED"
        assert (await a.login(KYOTAKU.user, GOOD_PASSWORD)).status == 201


async def test_the_client_reads_the_throttle_refusal(frozen: HubUnderTest) -> None:
    async with frozen.client(KYOTAKU) as client:
        for n in range(5):
            with pytest.raises(CareplanError):
                await client.login(KYOTAKU.user, f"guess-{n}")
        with pytest.raises(CareplanError) as caught:
            await client.login(KYOTAKU.user, KYOTAKU.password)
    assert caught.value.code == "LOGIN_THROTTLED" and caught.value.fix


async def test_a_second_worker_on_the_same_database_sees_the_lock(frozen: HubUnderTest) -> None:
    """Two hub processes' worth of apps on one data directory (as several workers would run):
    failures counted by one lock the key on the other."""
    hub = frozen
    second = await start_hub(hub.config, clock=hub.clock, announce_ready=False)
    try:
        pair = hub.pki.terminals[KYOTAKU.number]
        async with terminal(hub, pair) as first_worker:
            for n in range(5):
                assert (await first_worker.login(KYOTAKU.user, f"guess-{n}")).code == "LOGIN_FAILED"
        async with terminal(hub, pair) as other:
            other.base = second.url
            refused = await other.login(KYOTAKU.user, KYOTAKU.password)
        assert (refused.code, refused.headers["Retry-After"]) == ("LOGIN_THROTTLED", "60")
    finally:
        await second.stop()
