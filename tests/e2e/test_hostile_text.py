"""Text no storage takes, and bytes that are no text, anywhere a request carries them (both
backends): NUL and unpaired surrogates in JSON fields, NUL in the path and the query, non-UTF-8
bytes in the Authorization header and cookies, mangled form fields and CSRF tokens, a forged
cursor, numbers beyond what the database holds (in the query, and as a file position in the
path). Each is a 4xx with its catalogue code and the exact Japanese message, naming where and at
which character (never the value), and changes nothing; none reaches the database or a digest as
an exception (they were 500s: sqlite3/asyncpg refuse such text, `str.encode()` refuses a
surrogate, `hmac.compare_digest` a non-ASCII str, `int()` a "²" that `str.isdigit()` let
through, the drivers an integer over 64 bits)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
from pathlib import Path

import aiohttp
import pytest

from careplan.errors import CATALOGUE
from client.hubclient import client_ssl_context
from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest
from tests.e2e.test_fuzz import _session_token, _web_session_cookie

ADMIN = {"Authorization": "Bearer test-admin-token"}
BAD_REQUEST_MESSAGE = "要求の形式が正しくありません。"


def _context(hub: HubUnderTest) -> ssl.SSLContext:
    return client_ssl_context(hub.config.trusted_ca_file, hub.pki.terminals[KYOTAKU.number])


async def _request(
    hub: HubUnderTest, method: str, path: str, *, context: ssl.SSLContext | None = None, **kwargs: object
) -> tuple[int, dict[str, object] | str]:
    async with (
        aiohttp.ClientSession(  # bounded: a stream that opens and never answers must fail, not hang
            connector=aiohttp.TCPConnector(ssl=context or _context(hub)), timeout=aiohttp.ClientTimeout(total=30)
        ) as session,
        session.request(method, hub.url + path, allow_redirects=False, **kwargs) as response,  # type: ignore[arg-type]
    ):
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


async def _raw(hub: HubUnderTest, request: bytes) -> tuple[int, dict[str, object] | None]:
    """Bytes aiohttp's client would not send (non-UTF-8 header values), through mutual TLS."""
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.running.port, ssl=_context(hub))
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(65536), timeout=20)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, json.loads(body) if b"application/json" in head else None


def _refused(status: int, answer: object, code: str, expected_status: int) -> dict[str, object]:
    assert isinstance(answer, dict), answer
    assert (status, answer["code"]) == (expected_status, code), answer
    assert answer["message"] == CATALOGUE[code].message(None) and answer["fix"]
    return answer


@pytest.mark.parametrize(
    ("body", "where", "char"),
    [
        ({"user_id": "KJ\u0000137", "password": "x"}, "本文の user_id の 3 文字目", "U+0000"),
        ({"user_id": KYOTAKU.user, "password": "ab\ud800"}, "本文の password の 3 文字目", "U+D800"),
        ({"user_id": KYOTAKU.user, "password": "x", "\udfff": 1}, "本文の項目名の 1 文字目", "U+DFFF"),
    ],
)
async def test_unstorable_json_text_is_a_bad_request_naming_the_field(
    hub: HubUnderTest, body: dict[str, object], where: str, char: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    data = json.dumps(body).encode()  # ensure_ascii: "\u0000" and "\ud800" as JSON escapes
    status, answer = await _request(
        hub, "POST", "/api/v1/session", data=data, headers={"Content-Type": "application/json"}
    )
    refusal = _refused(status, answer, "BAD_REQUEST", 400)
    assert refusal["detail"] == f"{where}に使えない文字（{char}）があります。"
    assert "NUL（U+0000）" in str(refusal["fix"])
    assert await hub.service.db.fetch_all("SELECT 1 FROM sessions") == []
    assert not [r for r in caplog.records if r.exc_info], "no traceback in the log"
    english = await _request(
        hub, "POST", "/api/v1/session", data=data,
        headers={"Content-Type": "application/json", "Accept-Language": "en"},
    )  # fmt: skip
    assert "cannot be used" in str(english[1]["detail"])  # type: ignore[index]


@pytest.mark.parametrize(
    ("path", "where"),
    [
        ("/admin/v1/offices/%00", "パス"),
        ("/admin/v1/transmissions/ab%00", "パス"),
        ("/admin/v1/inspector/transmissions/%00", "パス"),
        ("/admin/v1/journal?office=13%00", "クエリの office"),
        ("/admin/v1/journal?since=%00", "クエリの since"),
        ("/admin/v1/transmissions?cursor=%00", "クエリの cursor"),
    ],
)
async def test_nul_in_the_path_or_the_query_is_a_bad_request(hub: HubUnderTest, path: str, where: str) -> None:
    status, answer = await _request(hub, "GET", path, headers=ADMIN)
    refusal = _refused(status, answer, "BAD_REQUEST", 400)
    assert str(refusal["detail"]).startswith(where) and "（U+0000）" in str(refusal["detail"])


@pytest.mark.parametrize(
    "path",
    [
        "/admin/v1/journal?cursor=99999999999999999999",  # beyond a 64-bit integer: the database's limit
        "/admin/v1/journal?cursor=%C2%B2",  # "²": str.isdigit() says yes, int() says no
        "/admin/v1/journal?limit=%C2%B2",
        "/admin/v1/transmissions?limit=99999999999999999999",
        "/dashboard/events?after=abc",
        "/dashboard/events?after=99999999999999999999",
    ],
)
async def test_numbers_no_database_holds_are_a_bad_request(hub: HubUnderTest, path: str) -> None:
    status, answer = await _request(hub, "GET", path, headers=ADMIN)
    _refused(status, answer, "BAD_REQUEST", 400)


@pytest.mark.parametrize("position", ["9223372036854775808", "99999999999999999999"])
async def test_a_file_position_beyond_64_bits_is_no_such_file(hub: HubUnderTest, position: str, tmp_path: Path) -> None:
    """The route takes any digits; a position the database cannot hold was a 500 (OverflowError in the
    driver). It names no file: 404 TRANSMISSION_NOT_FOUND, as for position 7, and the transmission
    stays downloadable."""
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    async with hub.client(KYOTAKU) as kyotaku, hub.client(HOUMON) as houmon:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        tid = (await kyotaku.send(list(files.items()), to=HOUMON.number))["transmission_id"]
        await houmon.login(HOUMON.user, HOUMON.password)
        headers = {"Authorization": f"Bearer {houmon.token}"}
        context = client_ssl_context(hub.config.trusted_ca_file, hub.pki.terminals[HOUMON.number])
        for transmission_id in (tid, "0" * 32):
            status, answer = await _request(
                hub, "GET", f"/api/v1/inbox/{transmission_id}/files/{position}", headers=headers, context=context
            )
            refusal = _refused(status, answer, "TRANSMISSION_NOT_FOUND", 404)
            assert transmission_id in str(refusal["detail"])
        assert sorted(f.name for f in (await houmon.download(tid, tmp_path)).files) == sorted(files)


@pytest.mark.parametrize("users", [1, "C137010006501", ["C137010006501"], {"user_id": "C137010006501"}, [[1]]])
async def test_personal_users_that_are_no_array_of_objects_are_a_bad_request(hub: HubUnderTest, users: object) -> None:
    """POST /admin/v1/offices iterated personal_users as given: a number or a string was a 500."""
    body = {
        "office_number": "1370100065",
        "name": "テスト訪問介護",
        "service_kind": "11",
        "office_user_id": "KJ1370100065",
        "password": "Tokyo-Kaigo-2026",
        "personal_users": users,
    }
    status, answer = await _request(hub, "POST", "/admin/v1/offices", json=body, headers=ADMIN)
    refusal = _refused(status, answer, "BAD_REQUEST", 400)
    assert "personal_users" in str(refusal["detail"])
    status, _ = await _request(hub, "GET", "/admin/v1/offices/1370100065", headers=ADMIN)
    assert status == 404  # nothing registered


@pytest.mark.parametrize(("field", "value"), [("prefecture", 13), ("address", ["東京都"]), ("licence", True)])
async def test_optional_registration_texts_of_another_type_are_a_bad_request(
    hub: HubUnderTest, field: str, value: object
) -> None:
    """str() read them as text: "prefecture": 13 was stored as "13", null as the prefecture "None"
    (schemathesis); null now stands for the default."""
    body = {
        "office_number": "1370100065",
        "name": "テスト訪問介護",
        "service_kind": "11",
        "office_user_id": "KJ1370100065",
        "password": "Tokyo-Kaigo-2026",
        field: value,
    }
    status, answer = await _request(hub, "POST", "/admin/v1/offices", json=body, headers=ADMIN)
    refusal = _refused(status, answer, "BAD_REQUEST", 400)
    assert field in str(refusal["detail"])
    status, _ = await _request(hub, "GET", "/admin/v1/offices/1370100065", headers=ADMIN)
    assert status == 404  # nothing registered
    status, office = await _request(
        hub, "POST", "/admin/v1/offices", json=body | {"prefecture": None, "address": None, field: None}, headers=ADMIN
    )
    assert status == 201 and isinstance(office, dict) and office["prefecture"] == "13"  # from the 事業所番号


@pytest.mark.parametrize("retire_old", ["false", 0, 1, {}])
async def test_retire_old_of_another_type_is_a_bad_request_and_retires_nothing(
    hub: HubUnderTest, retire_old: object
) -> None:
    """bool() read "retire_old": "false" as true and retired every old key (schemathesis)."""
    status, before = await _request(hub, "POST", "/admin/v1/keys/rotate", json={}, headers=ADMIN)
    assert status == 200 and isinstance(before, dict)
    body = {"retire_old": retire_old}
    status, answer = await _request(hub, "POST", "/admin/v1/keys/rotate", json=body, headers=ADMIN)
    refusal = _refused(status, answer, "BAD_REQUEST", 400)
    assert "retire_old" in str(refusal["detail"])
    status, after = await _request(hub, "POST", "/admin/v1/keys/rotate", json={"retire_old": False}, headers=ADMIN)
    assert status == 200 and isinstance(after, dict)
    assert set(before["keys_on_disk"]) < set(after["keys_on_disk"])  # type: ignore[arg-type]


async def test_a_nul_in_an_office_path_changes_nothing(hub: HubUnderTest) -> None:
    body = {"status": "valid", "valid_until": "2027-03-31"}
    status, answer = await _request(hub, "POST", "/admin/v1/offices/1370100016%00/licence", json=body, headers=ADMIN)
    _refused(status, answer, "BAD_REQUEST", 400)
    status, office = await _request(hub, "GET", f"/admin/v1/offices/{KYOTAKU.number}", headers=ADMIN)
    assert status == 200 and isinstance(office, dict)


async def test_a_forged_cursor_holding_nul_is_the_cursor_refusal(hub: HubUnderTest) -> None:
    token = await _session_token(hub)
    raw = json.dumps(["sent", "2026-12-01T00:00:00\u0000", "f" * 32]).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    status, answer = await _request(
        hub, "GET", f"/api/v1/sent?cursor={cursor}", headers={"Authorization": f"Bearer {token}"}
    )
    refusal = _refused(status, answer, "BAD_REQUEST", 400)
    assert "cursor" in str(refusal["detail"])


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"GET /api/v1/inbox HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer \xff\xfe\r\n\r\n", 401, None),
        (
            b"GET /admin/v1/offices HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer \xff\xfe\r\n\r\n",
            403,
            "ADMIN_FORBIDDEN",
        ),
        (b"GET /metrics HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer \xff\xfe\r\n\r\n", 403, None),
        (b"GET /dashboard HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer \xff\xfe\r\n\r\n", 403, None),
        (b"GET /dashboard?passcode=%ED%A0%80 HTTP/1.1\r\nHost: hub\r\n\r\n", 403, None),
        (b"GET /web/ HTTP/1.1\r\nHost: hub\r\nCookie: careplan_web=\xff\xfe\r\n\r\n", 303, None),
    ],
)
async def test_secrets_that_are_no_text_are_simply_wrong(
    hub: HubUnderTest, request_bytes: bytes, status: int, code: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    answered, body = await _raw(hub, request_bytes)
    assert answered == status, body
    if body is not None:
        assert body["code"] in CATALOGUE and body["fix"]
        assert code is None or body["code"] == code
    assert not [r for r in caplog.records if r.exc_info], "no traceback in the log"


@pytest.mark.parametrize(
    ("path", "form", "status", "code"),
    [
        ("/web/login", b"csrf=x&user_id=KJ%00&password=x", 400, "BAD_REQUEST"),
        ("/web/password", b"csrf=%ED%A0%80&password=x&new_password=y", 403, "CSRF_FAILED"),
        ("/web/logout", b"csrf=%C0%80", 403, "CSRF_FAILED"),
        ("/directory/correction", b"csrf=%00", 400, "BAD_REQUEST"),
    ],
)
async def test_website_forms_with_unusable_text_are_refused_pages(
    hub: HubUnderTest, path: str, form: bytes, status: int, code: str
) -> None:
    headers = {"Cookie": await _web_session_cookie(hub), "Content-Type": "application/x-www-form-urlencoded"}
    answered, page = await _request(hub, "POST", path, data=form, headers=headers)
    assert answered == status, page
    text = page if isinstance(page, str) else json.dumps(page, ensure_ascii=False)
    assert code in text and CATALOGUE[code].message(None) in text


async def test_the_exchange_still_works_after_all_that(hub: HubUnderTest) -> None:
    for path in ("/admin/v1/offices/%00", "/admin/v1/journal?office=%00"):
        await _request(hub, "GET", path, headers=ADMIN)
    async with hub.client(HOUMON) as houmon:
        await houmon.login(HOUMON.user, HOUMON.password)
        assert await houmon.inbox() == []
    status, health = await hub.raw("GET", "/healthz")
    assert (status, health["status"]) == (200, "ok")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/admin/v1/offices/1370100065", None),
        ("POST", "/admin/v1/offices/1370100065/licence", {"action": "apply"}),
        ("GET", "/admin/v1/offices/1370100065/licence/record", None),
        ("PUT", "/admin/v1/offices/1370100065/licence/record", {"licence": {}}),
    ],
)
async def test_an_unknown_office_is_office_not_found(hub: HubUnderTest, method: str, path: str, body: object) -> None:
    """The admin routes of one office answer an unregistered 事業所番号 with OFFICE_NOT_FOUND, whose
    explanation speaks of offices (they answered TRANSMISSION_NOT_FOUND, which speaks of a 送信ID)."""
    status, answer = await _request(hub, method, path, json=body, headers=ADMIN)
    refusal = _refused(status, answer, "OFFICE_NOT_FOUND", 404)
    assert refusal["message"] == "指定された事業所は登録されていません。"
    assert "1370100065" in str(refusal["detail"]) and "事業所" in str(refusal["explanation"])
