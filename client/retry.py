"""Retrying a send whose answer was lost (HubClient rule 5).

The client cannot tell a connection cut before the upload reached the hub from one cut after the
hub committed it; nor can it know whether a 5xx left anything behind. It does not need to: it
retries with the same transmission id, signature and files, and the hub answers an identical
resubmission with the stored record (`already_stored`). So retrying is always safe, and bounded
(attempts, exponential backoff with full jitter, the hub's Retry-After honoured up to a ceiling).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from dataclasses import dataclass

from careplan.errors import CareplanError


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How a send whose answer was lost is retried (rule 5). The defaults stay well inside the hub's
    ±10 minute signing tolerance, so the retried signature is never stale."""

    attempts: int = 5  # in all, the first one included
    base_delay: float = 0.5  # seconds before the first retry, at most (full jitter)
    max_delay: float = 8.0  # the backoff's ceiling
    max_retry_after: float = 60.0  # a hub's Retry-After is honoured up to this

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("attempts >= 1 and non-negative delays")

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number `retry` (0 for the first): the hub's Retry-After if
        it gave one, else a random wait up to base_delay * 2**retry (capped at max_delay)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2**retry))


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(attempts=1)


class HubTrouble(CareplanError):
    """A 5xx answer: the hub (or a proxy before it) failed or is busy and changed nothing that a
    retry of the same request would duplicate. `retry_after` is its Retry-After in seconds, if any."""

    def __init__(self, error: CareplanError, retry_after: float | None) -> None:
        super().__init__(
            error.code,
            operation=error.operation,
            detail=error.detail,
            fix=error.fix,
            findings=error.findings,
            detail_en=error.detail_en,
            fix_en=error.fix_en,
        )
        self.retry_after = retry_after


def retry_after_seconds(header: str | None, now: dt.datetime) -> float | None:
    """Retry-After (RFC 9110 10.2.3) as seconds: delay-seconds or an HTTP-date; None if absent or bad."""
    if not header:
        return None
    if header.strip().isdigit():
        return float(header.strip())
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max((when - now).total_seconds(), 0.0) if when.tzinfo is not None else None


def answer_lost(error: CareplanError) -> bool:
    """Whether the hub may not have answered what it did: the connection failed (before or after the
    upload, which the client cannot tell apart) or the hub answered 5xx. A certificate the handshake
    refused (diagnosed as a CERT_… code) or any 4xx refusal would be refused again."""
    return isinstance(error, HubTrouble) or error.code == "HUB_UNREACHABLE"
