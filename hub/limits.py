"""Per-address rate limits on what anyone can reach without a certificate or a session (issue 9 §5),
and the middleware that tells each connection when its request starts and ends (hub.connections).

Rules this module keeps:
1. Three doors are limited per remote address, each with its own token bucket (a burst of N, refilled
   at N a minute): POST /web/login, POST /directory/correction, and /api/ requests that present no
   client certificate. Beyond it: 429 RATE_LIMITED with Retry-After, before the body is read and
   before anything is written. Admin routes (loopback + token) and certificate holders are not
   limited here (offices are accountable by certificate; their login failures have their own
   throttle).
2. Directory correction posts are also counted per address per hub-clock day
   (`corrections_per_address_per_day`, CORRECTION_LIMIT); the total per day is kept by
   `UsageSite.request_correction` in the database.
3. Buckets live in this process's memory, at most MAX_ADDRESSES of them (least recently used
   forgotten first). Several worker processes would each allow the limit: a documented trade-off,
   because writing a row per anonymous request is the amplification this module exists to prevent.
4. Time is `time.monotonic` by default (a flood is real time, not the simulated hub clock); tests
   pass their own.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from careplan.errors import CareplanError
from hub.bodies import check_url_text, check_web_form
from hub.config import HubConfig
from hub.connections import GuardedRequestHandler, try_again_later
from hub.headers import RETRY_AFTER  # the answer's Retry-After (set by hub.headers on every 429)

MAX_ADDRESSES = 10_000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """One token bucket per key: `capacity` tokens, refilled at `capacity` per `period` seconds."""

    def __init__(self, capacity: int, *, period: float = 60.0, now: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.rate = capacity / period
        self._now = now
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str) -> float:
        """0 when a token was taken; else the seconds until one will be there."""
        now = self._now()
        bucket = self._buckets.pop(key, None) or _Bucket(tokens=float(self.capacity), at=now)
        bucket.tokens = min(float(self.capacity), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self._buckets[key] = bucket
        while len(self._buckets) > MAX_ADDRESSES:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate if self.rate else math.inf


class DailyCounts:
    """How many times a key was counted on a given day; only the current day is kept."""

    def __init__(self) -> None:
        self._day = ""
        self._counts: dict[str, int] = {}

    def add(self, key: str, day: str) -> int:
        if day != self._day:
            self._day, self._counts = day, {}
        if key not in self._counts and len(self._counts) >= MAX_ADDRESSES:
            return 0  # a flood of distinct addresses: the total cap in the database still holds
        self._counts[key] = self._counts.get(key, 0) + 1
        return self._counts[key]


class RateLimits:
    def __init__(self, config: HubConfig, *, now: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.doors = {
            "web_login": TokenBuckets(config.web_login_per_minute, now=now),
            "correction": TokenBuckets(config.correction_per_minute, now=now),
            "certless": TokenBuckets(config.certless_per_minute, now=now),
        }
        self.corrections = DailyCounts()

    def check(self, request: web.Request, door: str, *, today: str) -> None:
        address = request.remote or "?"
        wait = self.doors[door].take(address)
        if wait:
            request[RETRY_AFTER] = max(1, math.ceil(wait))
            raise try_again_later(
                "RATE_LIMITED",
                seconds=request[RETRY_AFTER],
                detail=f"このアドレス（{address}）からの要求が多すぎます。",
                detail_en=f"too many requests from {address} to {request.method} {request.path}",
            )
        if door == "correction" and self.corrections.add(address, today) > self.config.corrections_per_address_per_day:
            raise CareplanError(
                "CORRECTION_LIMIT",
                detail=f"このアドレスからの修正依頼は 1 日 {self.config.corrections_per_address_per_day} 件までです。",
                detail_en=f"at most {self.config.corrections_per_address_per_day} correction requests "
                "per address per day",
                fix="翌日以降に再度依頼してください。",
                fix_en="Ask again on a later day.",
            )


def door(request: web.Request, has_certificate: Callable[[web.Request], bool]) -> str | None:
    """Which rate-limited door a request knocks at, if any."""
    if request.method == "POST" and request.path == "/web/login":
        return "web_login"
    if request.method == "POST" and request.path == "/directory/correction":
        return "correction"
    if request.path.startswith("/api/") and not has_certificate(request):
        return "certless"
    return None


def limits_middleware(
    limits: RateLimits, has_certificate: Callable[[web.Request], bool], today: Callable[[], str]
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        protocol = request.protocol
        if isinstance(protocol, GuardedRequestHandler):
            protocol.request_started(request)
            task = asyncio.current_task()  # aiohttp's task for this request: done once the answer is written
            if task is not None:
                task.add_done_callback(lambda _: protocol.request_finished())
        knocked = door(request, has_certificate)
        if knocked is not None:
            limits.check(request, knocked, today=today())
        check_web_form(request)
        check_url_text(request)
        return await handler(request)

    return middleware
