"""Read-only admin views for judges from outside the hub (the conformance kit): what the hub stored
for a transmission (the signed manifest exactly as uploaded, the detached signature, the connecting
certificate's fingerprint) and an office's open sessions (which certificate each is bound to).

Nothing here changes state and nothing returns file contents (only names, sizes and digests).
"""

from __future__ import annotations

import base64
import sqlite3
from typing import Any

from aiohttp import web

from careplan.errors import CareplanError
from careplan.office import is_office_number
from hub.keys import SERVICE, json_response, require_admin

ADMIN_VIEWS = web.RouteTableDef()

_COLUMNS = (
    "id, sender, recipient, sender_user, manifest, signature, signer_fingerprint, signed_at, submitted_at, "
    "downloaded_at, downloaded_by"
)


async def _stored(request: web.Request, row: sqlite3.Row) -> dict[str, Any]:
    files = await request.app[SERVICE].db.fetch_all(
        "SELECT position, name, size, sha256, blob FROM transmission_files WHERE transmission_id = ? ORDER BY position",
        (row["id"],),
    )
    return {
        "transmission_id": row["id"],
        "sender": row["sender"],
        "recipient": row["recipient"],
        "sender_user": row["sender_user"],
        "signed_at": row["signed_at"],
        "submitted_at": row["submitted_at"],
        "downloaded_at": row["downloaded_at"],
        "downloaded_by": row["downloaded_by"],
        "connected_fingerprint": row["signer_fingerprint"],
        "manifest": bytes(row["manifest"]).decode("utf-8"),
        "signature": base64.b64encode(bytes(row["signature"])).decode("ascii"),
        "files": [dict(f) for f in files],
    }


@ADMIN_VIEWS.get("/admin/v1/transmissions")
async def transmissions(request: web.Request) -> web.Response:
    """?sender=N and/or ?recipient=N (at least one): stored transmissions, oldest first."""
    require_admin(request)
    where = {k: v for k in ("sender", "recipient") if (v := request.query.get(k))}
    if not where:
        raise CareplanError(
            "BAD_REQUEST",
            detail="?sender=事業所番号 か ?recipient=事業所番号 を指定してください",
            detail_en="give ?sender=事業所番号 or ?recipient=事業所番号",
        )
    for key, number in where.items():  # not an empty list for a typo, which reads as "nothing stored"
        if not is_office_number(number):
            raise CareplanError(
                "BAD_REQUEST",
                detail=f"?{key}= の {number!r} は事業所番号ではありません",
                detail_en=f"?{key}= {number!r} is not a 事業所番号",
            )
    condition = " AND ".join(f"{k} = ?" for k in where)
    rows = await request.app[SERVICE].db.fetch_all(
        f"SELECT {_COLUMNS} FROM transmissions WHERE {condition} ORDER BY submitted_at, id", tuple(where.values())
    )
    return json_response({"transmissions": [await _stored(request, r) for r in rows]})


@ADMIN_VIEWS.get("/admin/v1/transmissions/{transmission_id}")
async def transmission(request: web.Request) -> web.Response:
    require_admin(request)
    tid = request.match_info["transmission_id"]
    row = await request.app[SERVICE].db.fetch_one(f"SELECT {_COLUMNS} FROM transmissions WHERE id = ?", (tid,))
    if row is None:
        raise CareplanError(
            "TRANSMISSION_NOT_FOUND", detail=f"送信ID {tid} のデータはありません", detail_en=f"no transmission {tid}"
        )
    return json_response(await _stored(request, row))


@ADMIN_VIEWS.get("/admin/v1/offices/{office_number}/sessions")
async def sessions(request: web.Request) -> web.Response:
    """The office's sessions that have not expired: user, certificate fingerprint, times.
    OFFICE_NOT_FOUND for an office the hub does not have (not "no sessions", which a judge would
    read as "the client never logged in")."""
    require_admin(request)
    service = request.app[SERVICE]
    office_number = request.match_info["office_number"]
    await service.office(office_number)
    rows = await service.db.fetch_all(
        "SELECT user_id, cert_fingerprint, created_at, expires_at FROM sessions "
        "WHERE office_number = ? AND expires_at > ? ORDER BY created_at",
        (office_number, service.clock.now().isoformat()),
    )
    return json_response({"sessions": [dict(r) for r in rows]})
