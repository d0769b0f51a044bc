"""`GET /metrics`: the hub's figures for a Prometheus scraper (hub.metrics says what they are).

Access: the configured `metrics_token` from any address (a scraper usually runs on another machine),
or the admin token from loopback, as for /admin. Served on the hub's own port, over its TLS.
"""

from __future__ import annotations

from aiohttp import web

from hub.app import CONFIG, SERVICE, require_admin
from hub.logformat import node_name
from hub.metrics import METRICS, check_scraper, connection_counts

METRICS_ROUTES = web.RouteTableDef()

# Pending: the partial index of pending transmissions, a small moving part (4 ms at 1M rows, 20k
# pending). Stored: transmission rows are never deleted (a receipt forgets the payload, not the row),
# so the largest rowid is their number, read in O(log n); count(*) would scan an index and hold the
# database's one connection for 53 ms at 1M rows. A purge that deletes rows must change this.
PENDING_SQL = "SELECT count(*), coalesce(sum(total_size), 0) FROM transmissions WHERE downloaded_at IS NULL"
STORED_SQL = "SELECT coalesce(max(rowid), 0) FROM transmissions"


@METRICS_ROUTES.get("/metrics")
async def scrape(request: web.Request) -> web.Response:
    check_scraper(request, metrics_token=request.app[CONFIG].metrics_token, admin_allowed=require_admin)
    db = request.app[SERVICE].db
    pending, stored = await db.fetch_one(PENDING_SQL), await db.fetch_one(STORED_SQL)
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    metrics = request.app[METRICS]
    metrics.refresh(
        pending=(int(pending[0]), int(pending[1])) if pending else (0, 0),
        stored=int(stored[0]) if stored else 0,
        connections=connection_counts(getattr(request.protocol, "gate", None)),
        node=node_name(sockname[1] if sockname else "?"),
    )
    body, content_type = metrics.exposition(request.headers.get("Accept"))
    return web.Response(body=body, headers={"Content-Type": content_type})
