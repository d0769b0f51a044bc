"""The control plane: steer and watch a running hub (reset and snapshots, the journal, fault
injection, the live dashboard and admin views), kept apart from the office-facing hub.

`install(app)` is all `hub.app` calls: it adds the control middleware (gate + journal, outermost),
the nodes middleware (on a shared database only: its clock and sessions, just inside the error
middleware), the fault middleware (innermost, next to the handler), the admin routes, the
dashboard and the lifecycle that opens the control database. Nothing in the office-facing
modules imports this package except the one-line `decision()` calls of the submission path
(hub.control.journal).
"""

from __future__ import annotations

from aiohttp import web


def install(app: web.Application) -> None:
    from hub.control.dashboard import DASHBOARD
    from hub.control.faults import fault_middleware
    from hub.control.plane import closing, control_middleware, lifecycle, nodes_middleware
    from hub.control.routes import CONTROL_ROUTES
    from hub.keys import CONFIG
    from hub.middleware import error_middleware
    from hub.nodes import shared

    app.middlewares.insert(0, control_middleware)
    if shared(app[CONFIG]):  # one machine alone (SQLite) has no shared state to keep in step
        app.middlewares.insert(app.middlewares.index(error_middleware) + 1, nodes_middleware)
    app.middlewares.append(fault_middleware)
    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(closing)
    app.add_routes(CONTROL_ROUTES)
    app.add_routes(DASHBOARD)
