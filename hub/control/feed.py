"""What the dashboard shows: one state document (offices, transmissions, refusals, clock,
snapshots, faults) and the live feed of journal entries. Both read the databases only, so any
worker process serves them and every worker's requests appear."""

from __future__ import annotations

import datetime as dt
from typing import Any

from careplan.errors import CATALOGUE
from hub.control import views
from hub.control.plane import Control
from hub.offices import JST
from hub.service import HubService

OPERATIONS_JA = {
    "/api/v1/transmissions": "送信",
    "/api/v1/session": "ログイン",
    "/api/v1/sent": "送信一覧",
    "/api/v1/inbox": "受信一覧",
    "/api/v1/inbox/{transmission_id}": "ダウンロード",
    "/api/v1/inbox/{transmission_id}/files/{position}": "ダウンロード",
    "/api/v1/inbox/{transmission_id}/ack": "受領確認",
}


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
        "what": OPERATIONS_JA.get(entry["route"], f"{entry['method']} {entry['route']}"),
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
