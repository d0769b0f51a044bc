"""Admin views over the hub's own tables: transmissions (paginated), sessions and directory
correction requests (R3.8) with their status. Read-only except a correction's status."""

from __future__ import annotations

from typing import Any

from careplan.errors import CareplanError, Operation
from hub.listing import _PAGE_SQL, _SENT_ORDER, check_limit, decode_cursor
from hub.service import HubService

CORRECTION_STATUSES = ("受付済", "対応中", "反映済", "却下")


def _bad(detail: str) -> CareplanError:
    return CareplanError("BAD_REQUEST", operation=Operation.ADMIN, detail=detail)


def page_limit(text: str | None, default: int = 50, maximum: int = 500) -> int:
    if not text:
        return default
    if not text.isdigit() or not 1 <= int(text) <= maximum:
        raise _bad(f"limit must be a whole number from 1 to {maximum}")
    return int(text)


def cursor_value(text: str | None) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise _bad("cursor must be the next_cursor of an earlier page")
    return int(text)


async def transmissions(
    service: HubService, *, office: str = "", cursor: str | None = None, limit: int | str | None = None
) -> dict[str, Any]:
    """Every office's transmissions (or one office's, sent or received), newest first, as the send
    list pages them (hub.listing: same row shape, same keyset cursor)."""
    where, params = "WHERE 1 = 1 ", []
    if office:
        where += "AND (t.sender = ? OR t.recipient = ?) "
        params += [office, office]
    if cursor:
        where += "AND (t.submitted_at, t.id) < (?, ?) "
        params += decode_cursor("sent", cursor)
    return await service._page("sent", _PAGE_SQL + where + _SENT_ORDER, params, check_limit(limit))


async def sessions(service: HubService) -> dict[str, Any]:
    """Open client and website sessions on the hub's clock (never their tokens)."""
    now = service.clock.now().isoformat()
    api = await service.db.fetch_all(
        "SELECT user_id, office_number, created_at, expires_at FROM sessions WHERE expires_at > ? ORDER BY created_at",
        (now,),
    )
    web = await service.db.fetch_all(
        "SELECT user_id, office_number, created_at, expires_at FROM web_sessions WHERE expires_at > ? "
        "ORDER BY created_at",
        (now,),
    )
    return {"client": [dict(r) for r in api], "website": [dict(r) for r in web]}


async def corrections(service: HubService) -> dict[str, Any]:
    rows = await service.db.fetch_all("SELECT * FROM directory_corrections ORDER BY id DESC")
    return {"corrections": [dict(r) for r in rows], "statuses": list(CORRECTION_STATUSES)}


async def set_correction_status(service: HubService, correction_id: int, status: str) -> dict[str, Any]:
    if status not in CORRECTION_STATUSES:
        raise _bad(f"status must be one of {', '.join(CORRECTION_STATUSES)}")
    async with service.db.transaction() as tx:
        changed = await tx.execute("UPDATE directory_corrections SET status = ? WHERE id = ?", (status, correction_id))
    if changed != 1:
        raise CareplanError(
            "CORRECTION_NOT_FOUND",
            detail=f"no directory correction request {correction_id}",
            fix="List the requests (careplan hub corrections).",
        )
    row = await service.db.fetch_one("SELECT * FROM directory_corrections WHERE id = ?", (correction_id,))
    return dict(row) if row is not None else {}
