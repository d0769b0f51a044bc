"""The journal: every API, website and admin request, and for each submission its decision chain.

Rules this module keeps:
1. One row per request: hub-clock time, method, route, status, catalogue code, office, user,
   certificate serial, transmission id, duration, the injected fault if any, and the decisions.
2. Never a payload byte and never a value from a file: a decision's note names checks, counts,
   codes and identities (事業所番号, serials), nothing read out of the CSV contents.
3. The submission path reports its checks through `decision(step, outcome, note)`, a context
   variable the control middleware opens per request; outside a request it does nothing, so the
   service stays callable from tests without HTTP.
4. Rows are written by one background task in batches (a busy hub shares one commit among many
   requests; a batch is begun LINGER after its first entry, so that it gathers the requests
   finishing meanwhile); `flush()` waits until everything recorded so far is in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from careplan.errors import CareplanError
from hub.control.store import ControlDatabase
from hub.storage import Statements, statement, statement_many

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    step: str
    outcome: str  # "ok", "refused" or a short result ("warnings: 2")
    note: str = ""


@dataclass(slots=True)
class _Chain:
    decisions: list[Decision] = field(default_factory=list)
    transmission: str | None = None


_CHAIN: contextvars.ContextVar[_Chain | None] = contextvars.ContextVar("careplan_decisions", default=None)


def decision(step: str, outcome: str = "ok", note: str = "", *, transmission: str | None = None) -> None:
    """Record one check of the current request's decision chain (no-op outside a request).

    `note` must never carry a value read from a file (rule 2); `transmission` names the
    transmission the request is about as soon as it is known (the manifest's id)."""
    chain = _CHAIN.get()
    if chain is None:
        return
    chain.decisions.append(Decision(step=step, outcome=outcome, note=note))
    if transmission:
        chain.transmission = transmission


# The check that refuses with each code: the chain ends with that step marked "refused", so the
# service needs one `decision()` line per passed check and nothing around its raise sites.
_CERTIFICATE_CODES = (
    "CERT_UNTRUSTED", "CERT_KIND_NOT_ACCEPTED", "CERT_REVOKED", "CERT_EXPIRED", "CERT_NOT_YET_VALID", "CERT_MALFORMED",
    "CERT_NO_CLIENT_AUTH",
)  # fmt: skip
REFUSING_STEP: Mapping[str, str] = MappingProxyType(
    {
        "MANIFEST_INVALID": "manifest",
        "FILE_NAME_RESERVED": "manifest",
        "FILE_NAME_TRAILING_DOT": "manifest",
        "FILE_NAME_DUPLICATE": "manifest",
        "SIGNATURE_INVALID": "signature",
        "SIGNATURE_NOT_DETACHED": "signature",
        "SIGNATURE_NOT_DER": "signature",
        **dict.fromkeys(_CERTIFICATE_CODES, "certificate"),
        "SIGNER_MISMATCH": "signer",
        "FILE_TAMPERED": "files",
        "REPLAY": "replay",
        "SIGNING_TIME_INVALID": "signing_time",
        "SENDER_NOT_APPLIED": "licences",
        "SAME_OFFICE": "licences",
        "RECIPIENT_NOT_LICENSED": "licences",
        "COMBINATION_INVALID": "standard",
        "FORMAT_INVALID": "standard",
        "FILE_TYPE_NOT_ALLOWED": "standard",
    }
)


def findings_summary(findings: Iterable[Mapping[str, Any] | Any]) -> str:
    """'errors 2, warnings 1: RULE×2, OTHER×1' — rules and counts only, never a value (rule 2)."""
    counts: Counter[str] = Counter()
    severities: Counter[str] = Counter()
    for finding in findings:
        get = finding.get if isinstance(finding, Mapping) else lambda k, f=finding: getattr(f, k, None)
        counts[str(get("rule"))] += 1
        severities[str(get("severity") or "error")] += 1
    if not counts:
        return "no findings"
    head = ", ".join(f"{s}s {n}" for s, n in sorted(severities.items()))
    return f"{head}: " + ", ".join(f"{rule}×{n}" for rule, n in counts.most_common())


def close_chain(chain: _Chain, code: str | None, findings: Iterable[Mapping[str, Any]] = ()) -> None:
    """Mark the refusing check at the end of a submission's chain."""
    if not chain.decisions or code is None:
        return
    step = REFUSING_STEP.get(code, "request")
    note = findings_summary(findings) if step == "standard" else ""
    if chain.decisions[-1].step == step:  # the check itself recorded its refusal
        note = chain.decisions.pop().note
    chain.decisions.append(Decision(step=step, outcome=f"refused: {code}", note=note))


@contextlib.contextmanager
def recording() -> Any:
    """Open a decision chain for the duration of one request; yields it."""
    chain = _Chain()
    token = _CHAIN.set(chain)
    try:
        yield chain
    finally:
        _CHAIN.reset(token)


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    at: str
    method: str
    route: str
    path: str
    status: int
    duration_ms: float
    code: str | None = None
    office: str | None = None
    user_id: str | None = None
    serial: str | None = None
    transmission: str | None = None
    fault: Mapping[str, Any] | None = None
    decisions: tuple[Decision, ...] = ()


_COLUMNS = (
    "at", "method", "route", "path", "status", "code", "office", "user_id", "serial", "transmission",
    "duration_ms", "fault", "decisions",
)  # fmt: skip
_INSERT = f"INSERT INTO journal ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"


def _row(entry: Entry) -> tuple[Any, ...]:
    # Built by hand, in _COLUMNS order: dataclasses.asdict deep-copies every field and was ~3% of
    # the hub's Python CPU per submit (py-spy, bench/load.py).
    fault = json.dumps(entry.fault, ensure_ascii=False) if entry.fault else None
    decisions = (
        json.dumps(
            [{"step": d.step, "outcome": d.outcome, "note": d.note} for d in entry.decisions], ensure_ascii=False
        )
        if entry.decisions
        else None
    )
    e = entry
    return (
        e.at, e.method, e.route, e.path, e.status, e.code, e.office, e.user_id, e.serial, e.transmission,
        e.duration_ms, fault, decisions,
    )  # fmt: skip


def entry_json(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["fault"] = json.loads(row["fault"]) if row["fault"] else None
    out["decisions"] = json.loads(row["decisions"]) if row["decisions"] else []
    return out


KEEP = 200_000  # entries kept; older ones are dropped as new ones come (about 100 MB at most)
TRIM_EVERY = 1_000  # entries written between two trims
BATCH_MOST = 500  # entries written in one transaction at most
LINGER = 0.01  # seconds a batch waits for more entries once one is recorded (rule 4)


class Journal:
    """Records entries (in batches, off the request path) and answers queries over them."""

    def __init__(self, db: ControlDatabase) -> None:
        self.db = db
        self._queue: asyncio.Queue[Entry | asyncio.Event] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._written = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._writer(), name="journal-writer")

    async def stop(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def record(self, entry: Entry) -> None:
        self._queue.put_nowait(entry)

    async def flush(self) -> None:
        """Wait until every entry recorded before this call is in the database."""
        if self._task is None or self._task.done():
            return
        done = asyncio.Event()
        self._queue.put_nowait(done)
        await done.wait()

    async def _writer(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if isinstance(batch[0], Entry) and self._queue.qsize() < BATCH_MOST:
                # A batch costs three trips to the database whatever its size: let the requests
                # finishing meanwhile join it (a flush is not held up: it is never the first item).
                await asyncio.sleep(LINGER)
            while not self._queue.empty() and len(batch) < BATCH_MOST:
                batch.append(self._queue.get_nowait())
            entries = [e for e in batch if isinstance(e, Entry)]
            try:
                if entries:
                    await self._write(entries)
            except CareplanError as error:  # DATABASE_UNAVAILABLE: a known outage, no traceback
                log.warning("could not write %d journal entries: %s", len(entries), error.code,
                            extra={"repeat_key": ("journal", error.code)})  # fmt: skip
            except Exception:  # the journal must never take the hub down
                log.exception("could not write %d journal entries", len(entries))
            for item in batch:
                if isinstance(item, asyncio.Event):
                    item.set()

    async def _write(self, entries: list[Entry]) -> None:
        """The batch's rows, and now and then the trim, as one `Statements` work: SQLite commits it
        in one trip to its connection's thread (BEGIN, the rows, COMMIT), where a transaction
        block took three, each a thread hand-off for the event loop (hub.db)."""
        steps = [statement_many(_INSERT, [_row(entry) for entry in entries])]
        trim = self._written + len(entries) >= TRIM_EVERY  # trim now and then, not on every batch
        if trim:
            steps.append(statement("DELETE FROM journal WHERE id <= (SELECT max(id) FROM journal) - ?", (KEEP,)))
        await self.db.commit_together(Statements(tuple(steps)))
        self._written = 0 if trim else self._written + len(entries)

    # --- queries ------------------------------------------------------------------------------
    async def page(
        self,
        *,
        office: str = "",
        transmission: str = "",
        code: str = "",
        since: str = "",
        cursor: int | None = None,
        limit: int = 100,
    ) -> dict[str, Any]:
        """Entries in id order after `cursor`; without a cursor (and without `since`) the latest
        `limit`. `next_cursor` continues the listing (it is the cursor again when nothing is new)."""
        where, params = ["1 = 1"], []
        for column, value in (("office", office), ("transmission", transmission), ("code", code)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        if since:
            where.append("at >= ?")
            params.append(since)
        if cursor is not None:
            where.append("id > ?")
            params.append(cursor)
            sql = f"SELECT * FROM journal WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"
        else:
            order = "id" if since else "id DESC"
            sql = f"SELECT * FROM journal WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"
        rows = [entry_json(r) for r in await self.db.fetch_all(sql, [*params, limit])]
        rows.sort(key=lambda r: int(r["id"]))
        last = rows[-1]["id"] if rows else (cursor if cursor is not None else await self.last_id())
        return {"entries": rows, "next_cursor": str(last)}

    async def last_id(self) -> int:
        row = await self.db.fetch_one("SELECT coalesce(max(id), 0) FROM journal")
        return int(row[0]) if row is not None else 0

    async def of_transmission(self, transmission: str) -> list[dict[str, Any]]:
        rows = await self.db.fetch_all("SELECT * FROM journal WHERE transmission = ? ORDER BY id", (transmission,))
        return [entry_json(r) for r in rows]

    async def follow(
        self, cursor: int, stop: asyncio.Event, *, interval: float = 0.25
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """New entries after `cursor`, polled from the database (shared by every worker); an empty
        list after each quiet interval, so a stream can send keep-alives. Ends when `stop` is set."""
        while not stop.is_set():
            page = await self.page(cursor=cursor, limit=200)
            cursor = int(page["next_cursor"])
            yield page["entries"]
            if not page["entries"]:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)
