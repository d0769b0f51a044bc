"""Login throttling: one policy for API and usage-website logins, its state in the database.

Rules this module keeps:
1. Attempts are counted per (user ID, source) pair and per source. The source is the terminal's
   certificate (its fingerprint) for the API and the client address for the usage website. There
   is no count per user ID alone: a stranger's failures never lock the real user out when the real
   user comes from another certificate or address.
2. Reaching a limit locks the key for a window that doubles with every further failure
   (`base · 2^(failures − limit)`, at most LOCK_MAX), on the hub's clock. A locked key refuses the
   login with LOGIN_THROTTLED and Retry-After before any password is checked, and does not count.
3. An attempt counts as a failure the moment it starts (one serialized write), and a success takes
   its count back. So a burst of concurrent guesses cannot slip past the limit while the first
   ones are still hashing. A success clears its pair; the source keeps its other failures (one
   known password must not buy fresh guesses at other users).
4. A key forgets its failures FORGET_AFTER after its last one.
5. State lives in the database (table login_throttle), so several worker processes share it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from careplan.errors import SessionError
from careplan.jst import for_people, span
from hub.clock import Clock
from hub.storage import Storage as Database
from hub.storage import StorageTransaction as Transaction


@dataclass(frozen=True, slots=True, kw_only=True)
class Limit:
    failures: int  # failures before the first lock
    base: dt.timedelta  # the first lock's length; each further failure doubles it


PAIR = Limit(failures=5, base=dt.timedelta(minutes=1))
# A source tries many user IDs only when something is wrong, but offices behind one NAT share an
# address: a higher limit there.
SOURCE = Limit(failures=20, base=dt.timedelta(minutes=1))
LOCK_MAX = dt.timedelta(hours=24)
FORGET_AFTER = dt.timedelta(hours=24)


def certificate_source(fingerprint: str) -> str:
    return f"cert:{fingerprint}"


def address_source(remote: str | None) -> str:
    return f"addr:{remote or '?'}"


def lock_window(limit: Limit, failures: int) -> dt.timedelta | None:
    """How long a key with `failures` stays locked after its last failure (None: not locked)."""
    if failures < limit.failures:
        return None
    doublings = min(failures - limit.failures, 30)  # 2^30 minutes is far past LOCK_MAX already
    return min(limit.base * 2**doublings, LOCK_MAX)


class LoginThrottled(SessionError):  # catchable as every session refusal is
    """LOGIN_THROTTLED with the seconds until the lock ends (for the Retry-After header)."""

    def __init__(self, *, retry_after: int, until: dt.datetime, what_ja: str, what_en: str) -> None:
        wait_ja, _ = span(dt.timedelta(seconds=retry_after))  # 86400 seconds reads 1日
        super().__init__(
            "LOGIN_THROTTLED",
            detail=f"{what_ja}からのログインの失敗（と処理中の試行）が上限に達したため、"
            f"{for_people(until.isoformat())}（ハブ時刻、日本時間）までログインを受け付けません",
            fix=f"{wait_ja}以上待ってから、正しいパスワードでログインしてください。",
            detail_en=f"too many failed (or unfinished) logins {what_en}; logins are refused until {until.isoformat()} "
            "(hub clock)",
            fix_en=f"Wait at least {retry_after} seconds, then log in with the right password.",
        )
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """A login attempt already counted as a failure; `succeeded` takes the count back."""

    pair: str
    source: str

    async def succeeded(self, tx: Transaction) -> None:
        """Inside the transaction that opens the session: clear the pair, un-count the source."""
        await tx.execute("DELETE FROM login_throttle WHERE key = ?", (self.pair,))
        await tx.execute("UPDATE login_throttle SET failures = failures - 1 WHERE key = ?", (self.source,))
        # a source with nothing against it leaves no row behind (rows stay only for sources that failed)
        await tx.execute("DELETE FROM login_throttle WHERE key = ? AND failures <= 0", (self.source,))


class LoginThrottle:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def begin(self, user_id: str, source: str) -> Attempt:
        """Count an attempt of `user_id` from `source`, or raise LoginThrottled if either key is
        locked (then nothing is counted)."""
        attempt = Attempt(pair=f"pair:{user_id}|{source}", source=f"source:{source}")
        now = self.clock.now()
        async with self.db.transaction() as tx:
            counts = {key: await self._failures(tx, key, now) for key in (attempt.pair, attempt.source)}
            self._refuse_if_locked(
                counts[attempt.pair], PAIR, now, "このユーザIDへのこの接続元", "for this user ID from here"
            )
            self._refuse_if_locked(
                counts[attempt.source], SOURCE, now, "この接続元", "from this certificate or address"
            )
            for key, (failures, _) in counts.items():
                await tx.execute(
                    "INSERT INTO login_throttle (key, failures, last_failure_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, "
                    "last_failure_at = excluded.last_failure_at",
                    (key, failures + 1, now.isoformat()),
                )
        return attempt

    @staticmethod
    async def _failures(tx: Transaction, key: str, now: dt.datetime) -> tuple[int, dt.datetime]:
        row = await tx.fetch_one("SELECT failures, last_failure_at FROM login_throttle WHERE key = ?", (key,))
        if row is None:
            return 0, now
        last = dt.datetime.fromisoformat(row["last_failure_at"])
        if now - last >= FORGET_AFTER:
            return 0, now
        return int(row["failures"]), last

    @staticmethod
    def _refuse_if_locked(
        count: tuple[int, dt.datetime], limit: Limit, now: dt.datetime, what_ja: str, what_en: str
    ) -> None:
        failures, last = count
        window = lock_window(limit, failures)
        if window is None or now >= last + window:
            return
        until = last + window
        raise LoginThrottled(
            retry_after=max(1, math.ceil((until - now).total_seconds())), until=until, what_ja=what_ja, what_en=what_en
        )
