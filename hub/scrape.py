"""`GET /metrics`: the hub's figures for a Prometheus scraper (hub.metrics says what they are).

Access: the configured `metrics_token` from any address (a scraper usually runs on another machine),
or the admin token from loopback, as for /admin. Served on the hub's own port, over its TLS.
"""

from __future__ import annotations

from aiohttp import web

from careplan.errors import CareplanError, Operation
from hub import tokens
from hub.keys import CONFIG, SERVICE, presented_token, require_admin
from hub.logformat import node_name
from hub.metrics import METRICS, connection_counts

METRICS_ROUTES = web.RouteTableDef()

# Pending: the partial index of pending transmissions, a small moving part (4 ms at 1M rows, 20k
# pending). Stored: transmission rows are never deleted (a receipt forgets the payload, not the row),
# so the largest rowid is their number, read in O(log n); count(*) would scan an index and hold the
# database's one connection for 53 ms at 1M rows. A purge that deletes rows must change this.
# PostgreSQL has no rowid: there count(*) is an index-only scan of the primary key.
PENDING_SQL = "SELECT count(*), coalesce(sum(total_size), 0) FROM transmissions WHERE downloaded_at IS NULL"
STORED_SQL = {
    "sqlite": "SELECT coalesce(max(rowid), 0) FROM transmissions",
    "postgresql": "SELECT count(*) FROM transmissions",
}


def check_scraper(request: web.Request) -> None:
    """A scraper shows the metrics token (from anywhere), or the admin token from loopback."""
    metrics_token = request.app[CONFIG].metrics_token
    if metrics_token and tokens.same(presented_token(request), metrics_token):
        return
    try:
        require_admin(request)
    except CareplanError:
        raise CareplanError(
            "ADMIN_FORBIDDEN",
            operation=Operation.ADMIN,
            detail="メトリクスの取得には、メトリクス用トークン、またはループバックからの管理トークンが必要です。",
            detail_en="/metrics needs the metrics token, or the admin token from a loopback peer",
            fix="Authorization: Bearer <トークン> を付けてください（metrics_token の設定値、"
            "またはこのマシン上で data_dir/admin-token の値）。",
            fix_en="Send 'Authorization: Bearer <token>' with the configured metrics_token, or the admin token "
            "(data_dir/admin-token) from this machine.",
        ) from None


@METRICS_ROUTES.get("/metrics")
async def scrape(request: web.Request) -> web.Response:
    check_scraper(request)
    db = request.app[SERVICE].db
    pending, stored = await db.fetch_one(PENDING_SQL), await db.fetch_one(STORED_SQL[db.dialect])
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
