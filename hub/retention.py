"""What the hub keeps, for how long, and who may read it on disk (issue 9 §6).

Rules this module keeps:
1. Audit rows, API and web sessions, login failures and directory correction requests expire by the
   hub clock (the simulated time, so scenarios can age them): `purge` deletes what is older than its
   configured retention, at start and every `purge_interval` seconds. A table another migration
   has dropped or renamed is skipped, not an error. It deletes PURGE_BATCH rows a transaction, so
   a purge after a long pause holds the write lock for short turns between the requests' commits
   (never one statement over the whole backlog, which PostgreSQL's statement timeout would cancel
   on every run: hub.db_postgres rule 6). A crash between batches leaves the rest for the next run.
2. The audit and the log hold codes, file names, line and item numbers — never values from files.
   A refusal's `detail` may quote values (the standard's findings say "生年月日 19450229 is not a
   date" to the sender, who may see its own data), so `audit_detail` rebuilds the text from the
   findings' places and rules only, and drops `detail` whenever findings exist.
3. The data directory is the hub's alone: directories 0700, files 0600 (database with its WAL and
   SHM, payloads, keys, tokens, TLS key), applied at every start so an older data directory is
   tightened too. Symbolic links are not followed (a shared CA directory is its owner's business).
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from careplan.errors import CareplanError
from hub.audit_words import FINDINGS, MORE_PLACES
from hub.config import HubConfig
from hub.storage import Storage as Database

DETAIL_CHARS = 300
PLACES_SHOWN = 5
PURGE_BATCH = 1000  # rows one purge transaction deletes (rule 1)


def _place(finding: Mapping[str, object]) -> str:
    where = str(finding.get("file") or "")
    if finding.get("line") is not None:
        where += f":{finding['line']}"
    if finding.get("field_no") is not None:
        where += f" No.{finding['field_no']}"
        if finding.get("field_name"):
            where += f" {finding['field_name']}"
    rule = finding.get("rule")
    return f"{where} [{rule}]".strip() if rule else where


def audit_detail(error: CareplanError) -> str:
    """What the audit and the log may say about a refusal: no value from any file."""
    if error.findings:
        places = [_place(f) for f in error.findings[:PLACES_SHOWN]]
        more = MORE_PLACES(len(error.findings) - PLACES_SHOWN) if len(error.findings) > PLACES_SHOWN else ""
        return FINDINGS(len(error.findings)) + "; ".join(places) + more
    detail = error.detail_en or error.detail
    return detail[:DETAIL_CHARS] + ("…" if len(detail) > DETAIL_CHARS else "")


def _retention(config: HubConfig) -> tuple[tuple[str, str, str, dt.timedelta], ...]:
    """(table, primary key, time column, age after which a row goes)."""
    grace = dt.timedelta(days=config.session_grace_days)
    failures = dt.timedelta(days=config.login_failure_retention_days)
    return (
        ("audit", "id", "at", dt.timedelta(days=config.audit_retention_days)),
        ("login_failures", "id", "at", failures),
        ("login_throttle", "key", "last_failure_at", failures),
        ("directory_corrections", "id", "received_at", dt.timedelta(days=config.correction_retention_days)),
        ("sessions", "token_hash", "expires_at", grace),
        ("web_sessions", "token_hash", "expires_at", grace),
    )


async def purge(db: Database, config: HubConfig, now: dt.datetime) -> dict[str, int]:
    """Delete every row past its retention on the hub clock `now`, PURGE_BATCH rows a transaction
    (rule 1); how many per table."""
    tables = await db.table_names()
    deleted: dict[str, int] = {}
    for table, key, column, age in _retention(config):
        if table not in tables:
            continue
        cutoff = (now - age).astimezone(dt.UTC).isoformat()
        sql = f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {column} < ? LIMIT {PURGE_BATCH})"
        deleted[table] = 0
        while True:  # ends: each full batch deletes rows that no request adds back (they are past the cutoff)
            async with db.transaction() as tx:
                count = await tx.execute(sql, (cutoff,))
            deleted[table] += count
            if count < PURGE_BATCH:
                break
    return deleted


def harden(data_dir: Path) -> None:
    """Directories 0700 and files 0600 under `data_dir` (itself included), not through symlinks."""
    if not data_dir.is_dir():
        return
    os.chmod(data_dir, 0o700)
    for root, dirs, files in os.walk(data_dir):
        for name in dirs + files:
            path = os.path.join(root, name)
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:  # a payload deleted meanwhile
                continue
            if stat.S_ISDIR(mode):
                os.chmod(path, 0o700)
            elif stat.S_ISREG(mode) and stat.S_IMODE(mode) != 0o600:
                os.chmod(path, 0o600)
