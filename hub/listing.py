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
from types import MappingProxyType
from typing import Any

from careplan.errors import CareplanError, Operation
from careplan.licence import Licence
from careplan.transmission import DownloadStatus
from hub.offices import licence_of
from hub.storage import Storage as Database
from hub.storage import lookup_one

PAGE_DEFAULT = 100
PAGE_MAX = 500

# A row's JSON is built by the database (json_object), not in Python: a page of 100 rows cost ~20%
# of a download cycle's Python CPU in json.loads/row_json/json.dumps (py-spy, bench/load.py cycle).
# The one query of this module with no portable SQL: SQLite's json_object/json_group_array are
# PostgreSQL's json_build_object/json_agg (picked by `db.dialect`, hub.storage rule 6).
# SQLite: the files in position order come from an ordered subquery (SQLite 3.40 has no ORDER BY
# inside an aggregate; their primary key order too).
_FILES_JSON = {
    "sqlite": "json((SELECT json_group_array(json(file)) FROM (SELECT json_object('position', f.position, "
    "'name', f.name, 'size', f.size, 'sha256', f.sha256) AS file FROM transmission_files f "
    "WHERE f.transmission_id = t.id ORDER BY f.position)))",
    "postgresql": "(SELECT coalesce(json_agg(json_build_object('position', f.position, 'name', f.name, "
    "'size', f.size, 'sha256', f.sha256) ORDER BY f.position), '[]'::json) FROM transmission_files f "
    "WHERE f.transmission_id = t.id)",
}
_OBJECT = {"sqlite": "json_object", "postgresql": "json_build_object"}
_STATUS = (  # DownloadStatus.of: downloaded once downloaded_at is set (non-empty)
    f"CASE WHEN coalesce(t.downloaded_at, '') = '' THEN '{DownloadStatus.PENDING}' "
    f"ELSE '{DownloadStatus.DOWNLOADED}' END"
)


def _row_json_sql(dialect: str) -> str:
    """One transmission as the lists, the send answer and the download info show it."""
    obj = _OBJECT[dialect]
    return (
        f"{obj}('transmission_id', t.id, "
        f"'sender', {obj}('office_number', t.sender, 'name', s.name, 'user_id', t.sender_user), "
        f"'recipient', {obj}('office_number', t.recipient, 'name', r.name), "
        "'signed_at', t.signed_at, 'submitted_at', t.submitted_at, 'file_count', t.file_count, "
        f"'total_size', t.total_size, 'files', {_FILES_JSON[dialect]}, 'status', {_STATUS}, "
        "'downloaded_at', t.downloaded_at) AS row_json"
    )


_ROW_JSON = {dialect: _row_json_sql(dialect) for dialect in _OBJECT}
_JOINS = (
    "FROM transmissions t JOIN offices s ON s.office_number = t.sender JOIN offices r ON r.office_number = t.recipient "
)
# Lists never read the manifest and signature (about 5 KB a row): only what a row shows. The
# marker becomes the database's row JSON in Listings._page.
_ROW_MARKER = "{row_json}"
_PAGE_SQL = "SELECT t.id, t.submitted_at, " + _ROW_MARKER + " " + _JOINS
# Single-row lookups (send answers, download info, receipts) read every column.
_LIST_SQL = {d: "SELECT t.*, s.name AS sender_name, " + row + " " + _JOINS for d, row in _ROW_JSON.items()}
# A receipt's answer (the row once downloaded) and the payload files it forgets, in the receipt's
# own transaction: one trip to the database instead of two (the blobs, then the row after commit).
_RECEIPT_SQL = {
    d: "SELECT held.blob AS blob, held.size AS blob_size, " + row + " " + _JOINS + "LEFT JOIN transmission_files held "
    "ON held.transmission_id = t.id AND held.blob IS NOT NULL WHERE t.id = ?"
    for d, row in _ROW_JSON.items()
}
_SENT_ORDER = "ORDER BY t.submitted_at DESC, t.id DESC LIMIT ?"
_INBOX_ORDER = "ORDER BY t.submitted_at, t.id LIMIT ?"
_LIST_NAMES = {"sent": "送信一覧", "inbox": "受信一覧"}
# The inbox page with the office's licence beside each row (the recipient is the office): the data
# load check (R3.6) needs no query of its own unless the page is empty.
_INBOX_PAGE_SQL = "SELECT t.id, t.submitted_at, r.licence_json AS licence_json, " + _ROW_MARKER + " " + _JOINS


def encode_cursor(kind: str, submitted_at: str, transmission_id: str) -> str:
    raw = json.dumps([kind, submitted_at, transmission_id], separators=(",", ":")).encode()
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
        and all(isinstance(v, str) and 0 < len(v) <= 64 and v.isprintable() for v in value[1:])  # no NUL, no surrogate
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


INCLUDE_DOWNLOADED = MappingProxyType({"1": True, "true": True, "0": False, "false": False})  # ?all= of the inbox


def check_include_downloaded(value: bool | str | None) -> bool:
    """The inbox's `?all=` from a bool or the query's text: False when not given; BAD_REQUEST for
    any other text than 1, true, 0 or false (a client's `True` or `yes` must not quietly read as
    "only the new ones")."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if value in INCLUDE_DOWNLOADED:
        return INCLUDE_DOWNLOADED[value]
    raise CareplanError(
        "BAD_REQUEST",
        operation=Operation.LOAD,
        detail=f"all {value!r} は 1・true・0・false のどれでもありません",
        fix="ダウンロード済も含めるなら all=1（または true）を付け、含めないなら all を付けないでください。",
        detail_en=f"all {value!r} is none of 1, true, 0 and false",
        fix_en="Add all=1 (or true) to include the downloaded transmissions; leave all out otherwise.",
    )


def receipt_sql(dialect: str) -> str:
    """A receipt's blobs (one row each, or one NULL) beside the transmission's row JSON."""
    return _RECEIPT_SQL[dialect]


def row_json(row: sqlite3.Row) -> dict[str, object]:
    """One transmission as the lists, the send answer and the download info show it (its
    `row_json` column, built by the database)."""
    value: dict[str, object] = json.loads(row["row_json"])
    return value


class Listings:
    """The send list and the inbox as pages; single rows with the same shape."""

    db: Database

    @property
    def _LIST_SQL(self) -> str:  # HubService reads it as the constant it used to be
        return _LIST_SQL[self.db.dialect]

    async def _check_data_load(self, session: Any, operation: Operation) -> None:
        raise NotImplementedError  # HubService's (R3.6)

    def _judge_data_load(self, session: Any, operation: Operation, licence: Licence | None) -> None:
        raise NotImplementedError  # HubService's: the same check on a licence already read

    async def _sent_row(self, transmission_id: str) -> dict[str, object]:
        row = await lookup_one(self.db, self._LIST_SQL + "WHERE t.id = ?", (transmission_id,))
        assert row is not None
        return row_json(row)

    async def sent(
        self, session: Any, *, limit: int | str | None = None, cursor: str | None = None
    ) -> dict[str, object]:
        """A page of the office's send list, newest first, with each transmission's download status
        (R5.1, R6.1): {"transmissions": […], "next_cursor": str or None}."""
        page: dict[str, object] = json.loads(await self.sent_json(session, limit=limit, cursor=cursor))
        return page

    async def sent_json(self, session: Any, *, limit: int | str | None = None, cursor: str | None = None) -> str:
        """`sent` as the JSON text the API answers (built without Python objects per row)."""
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
        text = await self.inbox_json(session, include_downloaded=include_downloaded, limit=limit, cursor=cursor)
        page: dict[str, object] = json.loads(text)
        return page

    async def inbox_json(
        self,
        session: Any,
        *,
        include_downloaded: bool | str | None = False,
        limit: int | str | None = None,
        cursor: str | None = None,
    ) -> str:
        """`inbox` as the JSON text the API answers. The data load check refuses first, as for the
        send list; it reads the licence in the page's own query (_INBOX_PAGE_SQL) when it can.
        `include_downloaded` may be the query's `all` text as sent."""
        where, params = "WHERE t.recipient = ? ", [session.office_number]
        try:
            if not check_include_downloaded(include_downloaded):
                where += "AND t.downloaded_at IS NULL "  # the partial index's condition, word for word
            if cursor is not None:
                where += "AND (t.submitted_at, t.id) > (?, ?) "
                params += decode_cursor("inbox", cursor)
            size = check_limit(limit)
        except CareplanError:  # a bad all, cursor or limit: the data load check still refuses first
            await self._check_data_load(session, Operation.RECEIVE)
            raise
        sql = (_INBOX_PAGE_SQL + where + _INBOX_ORDER).replace(_ROW_MARKER, _ROW_JSON[self.db.dialect])
        rows = await self.db.fetch_all(sql, [*params, size + 1])
        if rows:  # the office's row came with the page: judge its licence as _check_data_load would
            self._judge_data_load(
                session, Operation.RECEIVE, licence_of(session.office_number, rows[0]["licence_json"])
            )
        else:
            await self._check_data_load(session, Operation.RECEIVE)
        return _page_text("inbox", rows, size)

    async def _page(self, kind: str, sql: str, params: list[str], limit: int) -> str:
        rows = await self.db.fetch_all(sql.replace(_ROW_MARKER, _ROW_JSON[self.db.dialect]), [*params, limit + 1])
        return _page_text(kind, rows, limit)


def _page_text(kind: str, rows: list[sqlite3.Row], limit: int) -> str:
    """The page's JSON from its rows (at most `limit` + 1: one more tells that a next page exists)."""
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(kind, rows[-1]["submitted_at"], rows[-1]["id"]) if more else None
    listed = ", ".join(r["row_json"] for r in rows)
    return '{"transmissions": [' + listed + '], "next_cursor": ' + json.dumps(cursor) + "}"
