"""The send list and the inbox, one page at a time (issue 10); HubService builds on this class.

Rules this module keeps:
1. Keyset pagination: a page is the next `limit` rows after the cursor in a fixed order (the send
   list newest first, the inbox oldest first, both by (submitted_at, id)). A cursor names the last
   row shown, so transmissions arriving during a walk never make a page repeat or skip a row that
   was there when the walk began (new sends sort before a send-list walk's cursor; new inbox
   arrivals come at its end and show up on a later page — unless a simulation moved the hub's
   clock back meanwhile: then they sort before the cursor and show up on the next walk).
2. One query per page: the files of every row come in the same query as a JSON array; the stored
   manifest and signature are not read for lists. Migration 3 (hub/db.py) gives each order a
   covering index, so a page costs the same at 10k and at 1M stored transmissions.
3. A cursor is opaque to offices (base64url of JSON) and bound to its list: a malformed one, or one
   from the other list, is BAD_REQUEST and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from typing import Any

from careplan.errors import CareplanError, Operation
from careplan.transmission import DownloadStatus
from hub.db import Database

PAGE_DEFAULT = 100
PAGE_MAX = 500

_FILES_JSON = (
    "(SELECT json_group_array(json_object('position', f.position, 'name', f.name, 'size', f.size, "
    "'sha256', f.sha256)) FROM transmission_files f WHERE f.transmission_id = t.id) AS files_json"
)
_JOINS = (
    "FROM transmissions t JOIN offices s ON s.office_number = t.sender JOIN offices r ON r.office_number = t.recipient "
)
# Lists never read the manifest and signature (about 5 KB a row): only what a row shows.
_PAGE_SQL = (
    "SELECT t.id, t.sender, t.recipient, t.sender_user, t.signed_at, t.submitted_at, t.file_count, "
    "t.total_size, t.downloaded_at, s.name AS sender_name, r.name AS recipient_name, " + _FILES_JSON + " " + _JOINS
)
_SENT_ORDER = "ORDER BY t.submitted_at DESC, t.id DESC LIMIT ?"
_INBOX_ORDER = "ORDER BY t.submitted_at, t.id LIMIT ?"
_LIST_NAMES = {"sent": "送信一覧", "inbox": "受信一覧"}


def encode_cursor(kind: str, row: dict[str, Any]) -> str:
    raw = json.dumps([kind, row["submitted_at"], row["transmission_id"]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> tuple[str, str]:
    """(submitted_at, id) of the last row of the previous page. Raises BAD_REQUEST if `cursor` is
    not one this hub gave for list `kind`."""
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        value = None
    if (
        isinstance(value, list)
        and len(value) == 3
        and value[0] == kind
        and all(isinstance(v, str) and 0 < len(v) <= 64 for v in value[1:])
    ):
        return value[1], value[2]
    raise CareplanError(
        "BAD_REQUEST",
        operation=Operation.LOAD,
        detail=f"cursor はこのハブが{_LIST_NAMES[kind]}の next_cursor として返した値ではありません",
        fix="cursor を付けずに最初のページから読み直し、各ページの next_cursor をそのまま渡してください。",
        detail_en=f"the cursor is not a next_cursor this hub gave for the {kind} list",
        fix_en="Start again from the first page (no cursor) and pass each page's next_cursor as is.",
    )


def check_limit(limit: int | str | None) -> int:
    """The page size from an int or the query's text: PAGE_DEFAULT when not given; BAD_REQUEST
    unless it is a whole number from 1 to PAGE_MAX."""
    if limit is None:
        return PAGE_DEFAULT
    number = limit if isinstance(limit, int) else int(limit) if limit.isdecimal() and len(limit) <= 6 else 0
    if 1 <= number <= PAGE_MAX:
        return number
    raise CareplanError(
        "BAD_REQUEST",
        operation=Operation.LOAD,
        detail=f"limit {limit!r} は 1 から {PAGE_MAX} までの整数ではありません",
        fix=f"limit に 1〜{PAGE_MAX} を指定してください（省略時は {PAGE_DEFAULT} 件）。",
        detail_en=f"limit {limit!r} is not a whole number from 1 to {PAGE_MAX}",
        fix_en=f"Ask for 1 to {PAGE_MAX} rows a page (default {PAGE_DEFAULT}).",
    )


def row_json(row: sqlite3.Row) -> dict[str, object]:
    """One transmission as the lists, the send answer and the download info show it."""
    files = sorted(json.loads(row["files_json"] or "[]"), key=lambda f: f["position"])
    return {
        "transmission_id": row["id"],
        "sender": {"office_number": row["sender"], "name": row["sender_name"], "user_id": row["sender_user"]},
        "recipient": {"office_number": row["recipient"], "name": row["recipient_name"]},
        "signed_at": row["signed_at"],
        "submitted_at": row["submitted_at"],
        "file_count": row["file_count"],
        "total_size": row["total_size"],
        "files": files,
        "status": str(DownloadStatus.of(row["downloaded_at"])),
        "downloaded_at": row["downloaded_at"],
    }


class Listings:
    """The send list and the inbox as pages; single rows with the same shape."""

    db: Database

    # Single-row lookups (send answers, download info, receipts) read every column.
    _LIST_SQL = "SELECT t.*, s.name AS sender_name, r.name AS recipient_name, " + _FILES_JSON + " " + _JOINS

    async def _check_data_load(self, session: Any, operation: Operation) -> None:
        raise NotImplementedError  # HubService's (R3.6)

    async def _sent_row(self, transmission_id: str) -> dict[str, object]:
        row = await self.db.fetch_one(self._LIST_SQL + "WHERE t.id = ?", (transmission_id,))
        assert row is not None
        return row_json(row)

    async def sent(
        self, session: Any, *, limit: int | str | None = None, cursor: str | None = None
    ) -> dict[str, object]:
        """A page of the office's send list, newest first, with each transmission's download status
        (R5.1, R6.1): {"transmissions": […], "next_cursor": str or None}."""
        await self._check_data_load(session, Operation.SEND)
        where, params = "WHERE t.sender = ? ", [session.office_number]
        if cursor is not None:
            where += "AND (t.submitted_at, t.id) < (?, ?) "
            params += decode_cursor("sent", cursor)
        return await self._page("sent", _PAGE_SQL + where + _SENT_ORDER, params, check_limit(limit))

    async def inbox(
        self,
        session: Any,
        *,
        include_downloaded: bool = False,
        limit: int | str | None = None,
        cursor: str | None = None,
    ) -> dict[str, object]:
        """A page of the transmissions addressed to the office, oldest first; by default only those
        not yet downloaded."""
        await self._check_data_load(session, Operation.RECEIVE)
        where, params = "WHERE t.recipient = ? ", [session.office_number]
        if not include_downloaded:
            where += "AND t.downloaded_at IS NULL "  # the partial index's condition, word for word
        if cursor is not None:
            where += "AND (t.submitted_at, t.id) > (?, ?) "
            params += decode_cursor("inbox", cursor)
        return await self._page("inbox", _PAGE_SQL + where + _INBOX_ORDER, params, check_limit(limit))

    async def _page(self, kind: str, sql: str, params: list[str], limit: int) -> dict[str, object]:
        rows = [row_json(r) for r in await self.db.fetch_all(sql, [*params, limit + 1])]
        more = len(rows) > limit
        rows = rows[:limit]
        return {"transmissions": rows, "next_cursor": encode_cursor(kind, rows[-1]) if more else None}
