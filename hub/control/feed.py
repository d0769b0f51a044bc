"""What the dashboard shows: one state document (offices, transmissions, refusals, clock,
snapshots, faults) and the live feed of journal entries. Both read the databases only, so any
worker process serves them and every worker's requests appear."""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType
from typing import Any

from careplan.errors import CATALOGUE
from hub.control import views
from hub.control.plane import Control
from hub.offices import JST
from hub.service import HubService

# The live feed is on a projector before care-office staff: each request as an operation in
# Japanese, by method and route (a route alone named a logout ログイン). The admin API's are marked
# （管理）: the trainer's tools (careplan demo --hub, reset, the dashboard's buttons), not an office.
OPERATIONS_JA = MappingProxyType(
    {
        ("POST", "/api/v1/session"): "ログイン",
        ("GET", "/api/v1/session"): "ログイン状態の確認",
        ("DELETE", "/api/v1/session"): "ログアウト",
        ("POST", "/api/v1/transmissions"): "送信",
        ("GET", "/api/v1/sent"): "送信一覧",
        ("GET", "/api/v1/inbox"): "受信一覧",
        ("GET", "/api/v1/inbox/{transmission_id}"): "ダウンロード",
        ("GET", "/api/v1/inbox/{transmission_id}/files/{position}"): "ダウンロード",
        ("POST", "/api/v1/inbox/{transmission_id}/ack"): "受領確認",
        ("GET", "/web"): "利用状況Webサイト",
        ("GET", "/web/"): "利用状況Webサイト",
        ("GET", "/web/login"): "Webサイトのログイン画面",
        ("POST", "/web/login"): "Webサイトへのログイン",
        ("POST", "/web/logout"): "Webサイトからのログアウト",
        ("GET", "/web/licence"): "ライセンスの確認",
        ("GET", "/web/apply"): "利用申請の画面",
        ("POST", "/web/apply"): "利用申請",
        ("POST", "/web/renew"): "ライセンスの更新",
        ("GET", "/web/password"): "パスワード変更の画面",
        ("POST", "/web/password"): "パスワードの変更",
        ("GET", "/web/static/site.css"): "利用状況Webサイト",
        ("GET", "/directory"): "事業所検索",
        ("GET", "/directory/correction"): "掲載情報の修正依頼の画面",
        ("POST", "/directory/correction"): "掲載情報の修正依頼",
        ("POST", "/admin/v1/offices"): "事業所の登録（管理）",
        ("GET", "/admin/v1/offices"): "事業所一覧（管理）",
        ("GET", "/admin/v1/clock"): "時計の確認（管理）",
        ("POST", "/admin/v1/clock"): "時計の変更（管理）",
        ("POST", "/dashboard/clock"): "時計の変更（管理）",
        ("POST", "/admin/v1/reset"): "リセット（管理）",
        ("GET", "/admin/v1/snapshots"): "スナップショット一覧（管理）",
        ("POST", "/admin/v1/snapshots"): "スナップショットの保存（管理）",
        ("POST", "/admin/v1/snapshots/{name}/restore"): "スナップショットの復元（管理）",
        ("POST", "/dashboard/restore"): "スナップショットの復元（管理）",
        ("DELETE", "/admin/v1/snapshots/{name}"): "スナップショットの削除（管理）",
        ("GET", "/admin/v1/faults"): "障害設定の確認（管理）",
        ("POST", "/admin/v1/faults"): "障害設定の追加（管理）",
        ("DELETE", "/admin/v1/faults"): "障害設定の解除（管理）",
    }
)


def jst(iso: str | None) -> str:
    if not iso:
        return "-"
    return dt.datetime.fromisoformat(iso).astimezone(JST).strftime("%Y-%m-%d %H:%M")


def explain(code: str | None) -> dict[str, str]:
    """The real (or our) Japanese message and the plain explanation of a catalogue code."""
    if code not in CATALOGUE:
        return {}
    spec = CATALOGUE[code]
    return {"message": spec.message(), "explanation": spec.explanation_ja or spec.explanation}


def feed_item(entry: dict[str, Any]) -> dict[str, Any]:
    """One journal entry as the live feed shows it (no decisions: the inspector has them)."""
    return {
        "id": entry["id"],
        "at": jst(entry["at"]),
        "what": OPERATIONS_JA.get((entry["method"], entry["route"]), f"{entry['method']} {entry['route']}"),
        "route": f"{entry['method']} {entry['route']}",
        "status": entry["status"],
        "code": entry["code"],
        "office": entry["office"],
        "transmission": entry["transmission"],
        "fault": (entry["fault"] or {}).get("kind"),
        **explain(entry["code"]),
    }


async def _pending(service: HubService) -> dict[str, int]:
    rows = await service.db.fetch_all(
        "SELECT recipient, count(*) FROM transmissions WHERE downloaded_at IS NULL GROUP BY recipient"
    )
    return {r[0]: int(r[1]) for r in rows}


async def state(service: HubService, control: Control, *, limit: int = 15) -> dict[str, Any]:
    pending = await _pending(service)
    offices = [
        {
            "office_number": o["office_number"],
            "name": o["name"],
            "service_kind": o["service_kind"],
            "licence": o["licence"]["state"],
            "expires": o["licence"].get("expires"),
            "pending": pending.get(str(o["office_number"]), 0),
        }
        for o in await service.offices()
    ]
    page = await views.transmissions(service, limit=limit)
    sent = page["transmissions"]
    for row in sent:
        row["submitted_at_jst"] = jst(row["submitted_at"])
        row["downloaded_at_jst"] = jst(row["downloaded_at"])
    await control.journal.flush()
    refused = await control.db.fetch_all(
        "SELECT * FROM journal WHERE code IS NOT NULL AND route LIKE '/api/%' ORDER BY id DESC LIMIT 12"
    )
    clock = service.clock.state()
    return {
        "clock": clock | {"jst": jst(str(clock["now"]))},
        "offices": offices,
        "transmissions": sent,
        "more": page["next_cursor"] is not None,
        "refusals": [feed_item(dict(r) | {"fault": None}) for r in refused],
        "snapshots": [s["name"] for s in control.snapshots.list()],
        "faults": len([f for f in await control.faults.list() if f["remaining"] != 0]),
        "sessions": await views.sessions(service),
        "corrections": await views.corrections(service),
        "last_id": await control.journal.last_id(),
    }
