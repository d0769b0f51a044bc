"""Admin views over the hub's own tables: transmissions (paginated), sessions and directory
correction requests (R3.8) with their status. Read-only except a correction's status."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from careplan.errors import CareplanError, Operation
from careplan.jst import instant
from hub.listing import _PAGE_SQL, _SENT_ORDER, check_limit, decode_cursor
from hub.service import HubService

CORRECTION_STATUSES = ("受付済", "対応中", "反映済", "却下")


def _bad(detail: str, detail_en: str, fix: str, fix_en: str) -> CareplanError:
    return CareplanError(
        "BAD_REQUEST", operation=Operation.ADMIN, detail=detail, fix=fix, detail_en=detail_en, fix_en=fix_en
    )


_WHOLE = re.compile(r"[0-9]{1,18}")  # ASCII digits below 2**63: what SQLite and PostgreSQL's bigint hold


def _whole(text: str) -> int | None:
    """`text` as a whole number, or None: not str.isdigit(), which takes "²" (int() does not) and
    any length (the database does not)."""
    return int(text) if _WHOLE.fullmatch(text) else None


def page_limit(text: str | None, default: int = 50, maximum: int = 500) -> int:
    if not text:
        return default
    number = _whole(text)
    if number is None or not 1 <= number <= maximum:
        raise _bad(
            f"limit は 1〜{maximum} の整数です",
            f"limit must be a whole number from 1 to {maximum}",
            f"limit に 1〜{maximum} を指定してください（省略時は {default} 件）。",
            f"Ask for 1 to {maximum} rows (default {default}).",
        )
    return number


def cursor_value(text: str | None) -> int | None:
    if not text:
        return None
    number = _whole(text)
    if number is None:
        raise _bad(
            "cursor は前のページの next_cursor です",
            "cursor must be the next_cursor of an earlier page",
            "cursor を付けずに最初から読み、各ページの next_cursor をそのまま渡してください。",
            "Start without a cursor and pass each page's next_cursor as is.",
        )
    return number


def since_value(text: str | None) -> str:
    """`since` as the journal stores its times (ISO 8601 in UTC), so that the text comparison of the
    query orders them as instants: a time with another offset (JST, +09:00) compared as typed was
    nine hours off, and a date that is none (2026-13-01) matched everything. No zone: UTC, as the
    hub's clock (careplan.jst). Empty: no lower bound."""
    if not text:
        return ""
    try:
        moment = instant(text).astimezone(dt.UTC)
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00+09:00 is before year 1 in UTC
        raise _bad(
            f"since {text!r} は ISO 8601 の日時ではありません",
            f"since {text!r} is not an ISO 8601 time",
            "since に 2026-12-01T09:00:00+09:00 のような日時を指定してください（時差なしは UTC）。",
            "Give since as a time like 2026-12-01T09:00:00+09:00 (without an offset: UTC).",
        ) from None
    return moment.isoformat()


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
    page = await service._page("sent", _PAGE_SQL + where + _SENT_ORDER, params, check_limit(limit))
    return json.loads(page)  # the page as the send list answers it (JSON built by SQLite)


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


async def set_correction_status(service: HubService, correction_id: str, status: str) -> dict[str, Any]:
    """Move a correction request to `status`; an id that names no request (not even a number) is
    CORRECTION_NOT_FOUND."""
    if status not in CORRECTION_STATUSES:
        statuses = "、".join(CORRECTION_STATUSES)
        raise _bad(
            f"status は {statuses} のいずれかです",
            f"status must be one of {statuses}",
            '{"status": "反映済"} のように送ってください。',
            'Send e.g. {"status": "反映済"}.',
        )
    async with service.db.transaction() as tx:
        changed = await tx.execute(
            "UPDATE directory_corrections SET status = ? WHERE id = ?",
            (status, int(correction_id) if correction_id.isdecimal() and len(correction_id) < 19 else -1),
        )
    if changed != 1:
        raise CareplanError(
            "CORRECTION_NOT_FOUND",
            detail=f"掲載情報の修正依頼 {correction_id} はありません",
            fix="careplan hub corrections で依頼の番号を確認してください。",
            detail_en=f"no directory correction request {correction_id}",
            fix_en="List the requests (careplan hub corrections).",
        )
    row = await service.db.fetch_one("SELECT * FROM directory_corrections WHERE id = ?", (int(correction_id),))
    return dict(row) if row is not None else {}
