"""What the hub has done, in the Prometheus text format: `GET /metrics` (README "Metrics and logs").

Rules this module keeps:
1. One CollectorRegistry per application (no process-wide registry): tests build many hubs in one
   process, and each hub's figures are its own.
2. Labels have bounded values only: a route is the route's template ("GET /api/v1/inbox/{id}"),
   never the path asked for; every path no route matches is `unmatched`; codes are catalogue codes.
3. Counters and histograms belong to this process (one node). Figures read from the database at
   scrape time (transmissions pending, bytes held) belong to the whole hub: every node sharing the
   database reports the same value, so they are not to be summed over nodes.
4. Connection refusals are counted by the connection layer (hub.connections.ConnectionGate) and
   read from it at scrape time; commit batch sizes are reported by the database
   (`observe_commit_batch`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from importlib import metadata
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, Info, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub.requestid import REFUSAL_CODE

PREFIX = "careplan_hub"
SUBMIT_ROUTE = "POST /api/v1/transmissions"
LOGIN_ROUTES = frozenset({"POST /api/v1/session", "POST /web/login"})
LOGIN_REFUSALS = frozenset({"LOGIN_FAILED", "LOGIN_THROTTLED"})
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# The instruments one kind of answer moves: requests, duration, submit duration, login failures.
_Children = tuple[Any, Any, Any | None, Any | None]


def route_label(request: web.Request) -> str:
    """The matched route's method and template, or `unmatched` (rule 2)."""
    match = request.match_info
    resource = match.route.resource
    if match.http_exception is not None or resource is None:
        return "unmatched"
    method = match.route.method
    return f"{'ANY' if method == '*' else method} {resource.canonical}"


class _ScrapeTime(Collector):
    """Figures computed when scraped (rule 3 and 4), set by `HubMetrics.refresh` just before."""

    def __init__(self) -> None:
        self.pending = (0, 0)
        self.stored = 0
        self.connections: dict[str, int] = {}

    def collect(self) -> Iterator[Metric]:
        stored = GaugeMetricFamily(f"{PREFIX}_transmissions", "Transmissions on record, by state", labels=["state"])
        stored.add_metric(["pending"], self.pending[0])
        stored.add_metric(["downloaded"], self.stored - self.pending[0])
        yield stored
        yield GaugeMetricFamily(
            f"{PREFIX}_payload_bytes_pending", "Bytes of files stored and not yet downloaded", value=self.pending[1]
        )
        refused = CounterMetricFamily(
            f"{PREFIX}_connections_refused", "Connections refused before or instead of a request", labels=["reason"]
        )
        for reason, count in sorted(self.connections.items()):
            refused.add_metric([reason], count)
        yield refused


class HubMetrics:
    """The registry of one hub application and the instruments the middleware and hooks move."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            f"{PREFIX}_requests", "Requests answered, by route, HTTP status and catalogue code",
            ["route", "status", "code"], registry=r,
        )  # fmt: skip
        self.request_seconds = Histogram(
            f"{PREFIX}_request_duration_seconds", "Time to answer a request, by route", ["route"],
            buckets=SECONDS, registry=r,
        )  # fmt: skip
        self.submit_seconds = Histogram(
            f"{PREFIX}_submit_duration_seconds", "Time to answer a submit (its commit included), by outcome",
            ["outcome"], buckets=SECONDS, registry=r,
        )  # fmt: skip
        self.payload_bytes = Counter(
            f"{PREFIX}_payload_bytes_stored", "Bytes of files in transmissions newly stored", registry=r
        )
        self.commit_batch = Histogram(
            f"{PREFIX}_commit_batch_size", "Write transactions per durable commit", buckets=BATCHES, registry=r
        )
        self.login_failures = Counter(
            f"{PREFIX}_login_failures", "Refused logins, by route and code", ["route", "code"], registry=r
        )
        self.node = Info(f"{PREFIX}_node", "This node: hostname:port/pid, and the software version", registry=r)
        self._scrape = _ScrapeTime()
        r.register(self._scrape)
        ProcessCollector(registry=r)  # process_*: CPU seconds, resident memory, open files of this node
        self._children: dict[tuple[str, int, str], _Children] = {}

    # --- hooks ---------------------------------------------------------------------------------
    def observe_request(self, request: web.Request, status: int, seconds: float) -> None:
        route = route_label(request)
        code = request.get(REFUSAL_CODE, "")
        key = (route, status, code)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = self._children_of(route, status, code)
        count, duration, submit, login = children
        count.inc()
        duration.observe(seconds)
        if submit is not None:
            submit.observe(seconds)
        if login is not None:
            login.inc()

    def _children_of(self, route: str, status: int, code: str) -> _Children:
        """The labelled instruments one kind of answer moves. Kept per (route, status, code), a
        bounded set (rule 2): `labels()` validates and locks on every call (~1% of a cycle)."""
        submit = login = None
        if route == SUBMIT_ROUTE:
            submit = self.submit_seconds.labels({201: "stored", 200: "already_stored"}.get(status, "refused"))
        elif route in LOGIN_ROUTES and code in LOGIN_REFUSALS:
            login = self.login_failures.labels(route, code)
        return self.requests.labels(route, str(status), code), self.request_seconds.labels(route), submit, login

    def observe_commit_batch(self, size: int) -> None:
        """One durable commit carrying `size` write transactions (group commit: many submits)."""
        self.commit_batch.observe(size)

    def transmission_stored(self, record: Mapping[str, object]) -> None:
        """A submit's answer: its files' bytes count unless an earlier try had stored them."""
        size = record.get("total_size")
        if not record.get("already_stored") and isinstance(size, int):
            self.payload_bytes.inc(size)

    # --- scraping ------------------------------------------------------------------------------
    def refresh(self, *, pending: tuple[int, int], stored: int, connections: dict[str, int], node: str) -> None:
        self._scrape.pending, self._scrape.stored, self._scrape.connections = pending, stored, connections
        self.node.info({"node": node, "version": _version()})

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The registry in the format the scraper asked for (Prometheus text or OpenMetrics)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


METRICS = web.AppKey("metrics", HubMetrics)


def _version() -> str:
    try:
        return metadata.version("careplan-sim")
    except metadata.PackageNotFoundError:
        return "unknown"


def metrics_middleware(metrics: HubMetrics) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Counts and times every request the application answers (outside the error middleware, so it
    sees the final status; a request cancelled because its client left is not counted)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status: int | None = None
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:  # redirects raised by the usage website
            status = exc.status
            raise
        finally:
            if status is not None:
                metrics.observe_request(request, status, time.perf_counter() - started)

    return middleware


def connection_counts(gate: object | None) -> dict[str, int]:
    """What the connection layer refused (hub.connections.ConnectionGate's counters)."""
    names = {"tls_handshake": "refused_handshake", "busy": "refused_busy", "slow": "closed_slow"}
    return {reason: int(getattr(gate, attribute, 0)) for reason, attribute in names.items()}
