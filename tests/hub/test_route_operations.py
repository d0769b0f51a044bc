"""A failure inside the hub reads as what the office was doing (R2.3, hub/operations.py): INTERNAL
inside a submit is a failed send, inside the inbox or a download a failed receive, and on any
other route the data load; a refusal injected by the fault plane is worded the same way."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from client.hubclient import client_ssl_context
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest, Office

# R2.3 and R3.6, typed out here rather than imported so that a changed constant fails.
SEND_FAILED = "送信に失敗しました。再度実行してください。"
RECEIVE_FAILED = "受信に失敗しました。再度実行してください。"
DATA_LOAD_FAILED = (
    "データの読み込みに失敗しました。時間をおいてから再度実行もしくはアプリケーションを再起動してください。"
    "再度同様の操作を行っても事象が変わらない場合はサポートにお問い合わせください。"
)
RECEIVE_CERT = (
    "端末に登録されている証明書が一致しないため、受信に失敗しました。"
    "サポートサイトのエラー関連 FAQ を参考のうえ、再度実行してください。"
)
ADMIN = {"Authorization": "Bearer test-admin-token"}
TID = "0123456789abcdef0123456789abcdef"


def _upload() -> aiohttp.MultipartWriter:
    """A submit's parts; their content is never judged (the service is made to fail first)."""
    form = aiohttp.MultipartWriter("form-data")
    form.append(b"{}", {"Content-Type": "application/json"}).set_content_disposition("form-data", name="manifest")
    form.append(b"0").set_content_disposition("form-data", name="signature")
    form.append(b"x").set_content_disposition("form-data", name="file", filename="a.csv")
    return form


async def _token(hub: HubUnderTest, office: Office) -> str:
    async with hub.client(office) as client:
        await client.login(office.user, office.password)
        return str(client.token)


async def _as_office(
    hub: HubUnderTest, office: Office, token: str, method: str, path: str, **kwargs: Any
) -> tuple[int, Any]:
    """One request by hand with the office's certificate and session (our client would retry a 500
    and word it under its own operation; the hub's own answer is what is tested here)."""
    pair = hub.pki.terminals[office.number]
    connector = aiohttp.TCPConnector(ssl=client_ssl_context(hub.config.trusted_ca_file, pair))
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.request(method, hub.url + path, headers=headers, **kwargs) as response,
    ):
        return response.status, await response.json()


def _break(monkeypatch: pytest.MonkeyPatch, hub: HubUnderTest, method: str) -> None:
    """The service's `method` raises as a bug would (not a refusal)."""

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug inside the hub")

    monkeypatch.setattr(hub.service, method, broken)


@pytest.mark.parametrize(
    ("method", "path", "broken", "operation", "message"),
    [
        ("POST", "/api/v1/transmissions", "submit_transmission", "send", SEND_FAILED),
        ("GET", "/api/v1/inbox", "inbox_json", "receive", RECEIVE_FAILED),
        ("GET", f"/api/v1/inbox/{TID}", "download_info", "receive", RECEIVE_FAILED),
        ("GET", f"/api/v1/inbox/{TID}/files/0", "read_file", "receive", RECEIVE_FAILED),
        ("POST", f"/api/v1/inbox/{TID}/ack", "acknowledge", "receive", RECEIVE_FAILED),
        ("GET", "/api/v1/sent", "sent_json", "load", DATA_LOAD_FAILED),  # a list: it sends nothing
        ("GET", "/api/v1/session", "whoami", "load", DATA_LOAD_FAILED),  # no login wording for INTERNAL
    ],
    ids=["submit", "inbox", "download-info", "download-file", "acknowledge", "sent", "whoami"],
)
async def test_internal_is_worded_for_the_office_route(
    hub: HubUnderTest,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    path: str,
    broken: str,
    operation: str,
    message: str,
) -> None:
    token = await _token(hub, KYOTAKU)
    _break(monkeypatch, hub, broken)
    data = _upload() if broken == "submit_transmission" else None
    status, body = await _as_office(hub, KYOTAKU, token, method, path, data=data)
    assert (status, body["code"], body["operation"], body["message"]) == (500, "INTERNAL", operation, message)
    assert "trace id" in body["detail"] or "追跡ID" in body["detail"]
    assert "a bug inside the hub" not in str(body) and "RuntimeError" not in str(body)


async def test_internal_on_a_route_of_no_office_operation_is_the_data_load(
    hub: HubUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break(monkeypatch, hub, "offices")
    status, body = await hub.raw("GET", "/admin/v1/offices", headers=ADMIN)  # admin: INTERNAL has no admin wording
    assert (status, body["code"], body["operation"], body["message"]) == (500, "INTERNAL", "load", DATA_LOAD_FAILED)


async def _inject(hub: HubUnderTest, rule: dict[str, Any]) -> None:
    status, answer = await hub.raw("POST", "/admin/v1/faults", json=rule, headers=ADMIN)
    assert status < 300, answer


@pytest.mark.parametrize(
    ("method", "path", "operation", "message"),
    [
        ("POST", "/api/v1/transmissions", "send", SEND_FAILED),
        ("GET", "/api/v1/inbox", "receive", RECEIVE_FAILED),
        ("GET", "/api/v1/inbox/{transmission_id}/files/{position}", "receive", RECEIVE_FAILED),
        ("GET", "/api/v1/trust", "load", DATA_LOAD_FAILED),  # public, no office operation
    ],
    ids=["submit", "inbox", "download-file", "trust"],
)
async def test_an_injected_internal_is_worded_for_its_route(
    hub: HubUnderTest, method: str, path: str, operation: str, message: str
) -> None:
    rule = {"kind": "http_error", "status": 500, "code": "INTERNAL", "route": f"{method} {path}", "count": 1}
    await _inject(hub, rule)
    status, body = await hub.raw(method, path.format(transmission_id=TID, position=0))
    assert (status, body["code"], body["operation"], body["message"]) == (500, "INTERNAL", operation, message)


async def test_an_injected_certificate_refusal_at_a_download_reads_as_a_receive(hub: HubUnderTest) -> None:
    rule = {"kind": "http_error", "status": 403, "code": "CERT_REVOKED", "operation": "download", "count": 1}
    token = await _token(hub, HOUMON)
    await _inject(hub, rule)
    status, body = await _as_office(hub, HOUMON, token, "GET", f"/api/v1/inbox/{TID}")
    assert (status, body["code"], body["operation"], body["message"]) == (403, "CERT_REVOKED", "receive", RECEIVE_CERT)
