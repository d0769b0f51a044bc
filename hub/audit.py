"""The refusal audit: who was refused, when, for what — bounded, and without values from files.

Rules this module keeps:
1. Up to `audit_burst` rows per (peer, operation, code) per `audit_interval`; the refusals beyond
   are counted, and the count is written with the next row of that kind or as one summary row by
   `flush_refusals` (called by the periodic purge). A flood writes a bounded number of rows.
2. Refusals of no proven office (no certificate, the admin API, the website) count together
   whatever their address, so that a flood from many addresses is bounded too.
3. A row holds codes, file names, line and item numbers — never a value from a file
   (`hub.retention.audit_detail`). The words the hub adds are English, as stored; hub.audit_words
   has them in Japanese for people too.
4. Rows expire on the hub clock (`purge_expired`, hub.retention).
"""

from __future__ import annotations

import functools
from typing import cast

from careplan.errors import CareplanError
from hub.audit_words import HELD_BACK, SUMMARY
from hub.clock import Clock
from hub.config import HubConfig
from hub.logs import Bursts
from hub.retention import audit_detail, purge
from hub.storage import Storage as Database


class Audit:
    """The audit operations of HubService (a mixin: it uses the service's db, config and clock)."""

    config: HubConfig
    db: Database
    clock: Clock

    @functools.cached_property
    def _refusal_bursts(self) -> Bursts:
        return Bursts(interval=self.config.audit_interval, burst=self.config.audit_burst)

    async def record_refusal(self, *, peer: str | None, office_number: str | None, error: CareplanError) -> None:
        """Record one refusal, within the bounds of rules 1 and 2."""
        who = peer if office_number is not None else "(no certificate)"
        passes, held_back = self._refusal_bursts.admit((who, office_number, str(error.operation), error.code))
        if not passes:
            return
        detail = audit_detail(error)
        if held_back:
            detail += HELD_BACK(held_back)
        await self._audit(peer, office_number, str(error.operation), error.code, detail)

    async def _audit(self, peer: str | None, office_number: str | None, operation: str, code: str, detail: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO audit (at, peer, office_number, operation, code, detail) VALUES (?, ?, ?, ?, ?, ?)",
                (self.clock.now().isoformat(), peer, office_number, operation, code, detail),
            )

    async def flush_refusals(self) -> int:
        """One summary row per (peer, code) whose window closed with refusals not yet recorded."""
        closed = list(self._refusal_bursts.drain())
        for key, count in closed:
            peer, office_number, operation, code = cast(tuple[str | None, str | None, str, str], key)
            await self._audit(peer, office_number, operation, code, SUMMARY(count))
        return len(closed)

    async def purge_expired(self) -> dict[str, int]:
        """Retention (hub.retention) on the hub clock, after writing pending audit summaries."""
        await self.flush_refusals()
        return await purge(self.db, self.config, self.clock.now())

    async def audit_log(self, limit: int = 200) -> list[dict[str, object]]:
        rows = await self.db.fetch_all("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(r) for r in rows]
