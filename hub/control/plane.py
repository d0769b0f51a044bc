"""The control plane's state on the app (CONTROL), its middleware and its lifecycle.

The control middleware is the outermost one: it opens the request's decision chain, lets the
request through the gate (so a restore is atomic for it) and records its journal entry once the
answer is known. The dashboard's own polling is not journalled (it would only record itself).

On a shared database (several nodes, `serve --database URL`) the nodes middleware keeps the node
in step (hub.nodes): the shared clock and session generation are read before every request, and
a clock move the request made is written before its answer leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from careplan.errors import CareplanError
from hub import tokens
from hub.control.faults import FAULT, Faults
from hub.control.gate import Gate
from hub.control.journal import Entry, Journal, close_chain, recording
from hub.control.snapshots import Snapshots
from hub.control.store import ControlDatabase, open_control
from hub.keys import CLOCK, CONFIG, PEER, SERVICE
from hub.logs import logged_path
from hub.nodes import NodeState, shared
from hub.operations import route_of
from hub.service import HubService
from hub.sessions import SessionCache

log = logging.getLogger(__name__)
Seeder = Callable[[HubService], Awaitable[object]]


@dataclass(slots=True, kw_only=True)
class Control:
    db: ControlDatabase
    journal: Journal
    faults: Faults
    gate: Gate
    snapshots: Snapshots
    seeder: Seeder | None = None
    nodes: NodeState | None = None  # on a shared database only (hub.nodes)
    closing: asyncio.Event = field(default_factory=asyncio.Event)  # ends the dashboard's streams
    users: dict[str, str] = field(default_factory=dict)  # token hash -> user id, for the journal


CONTROL = web.AppKey("control", Control)
UNJOURNALLED = ("/dashboard/events", "/dashboard/state", "/dashboard/static", "/admin/v1/journal")  # no events
# Control routes that take the gate exclusively (or stream for ever) must not hold it shared.
UNGATED = ("/admin/v1/reset", "/admin/v1/snapshots", "/dashboard")


def set_seeder(app: web.Application, seeder: Seeder) -> None:
    """What `POST /admin/v1/reset` re-creates after emptying the hub (`careplan up`: the demo offices)."""
    app[CONTROL].seeder = seeder


async def closing(app: web.Application) -> None:
    """On shutdown: end the dashboard's event streams, which would otherwise hold it up."""
    control = app.get(CONTROL)
    if control is not None:
        control.closing.set()


async def lifecycle(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    db = await open_control(config)
    journal = Journal(db)
    journal.start()
    service = app[SERVICE]
    nodes = None
    if shared(config):  # several nodes may share the database: no mapped files (hub.nodes)
        service.session_cache.close()  # the mapped file of one machine: not what nodes share
        service.session_cache = SessionCache(None)
        nodes = await NodeState.open(service.db, app[CLOCK], service.session_cache)
    snapshots = Snapshots(service, app[CLOCK], config, nodes)
    if nodes is not None:  # a restore through another node: read the files it restored (hub.nodes)
        nodes.on_restore = snapshots.fresh_stores
    app[CONTROL] = Control(
        db=db,
        journal=journal,
        faults=Faults(db, app),
        gate=Gate(),
        snapshots=snapshots,
        nodes=nodes,
    )
    try:
        yield
    finally:
        await journal.stop()
        await db.close()


def _answer(response: web.StreamResponse | None) -> dict[str, Any]:
    """The JSON object a handler answered (refusals included), or {}; read once per request."""
    body = response.body if isinstance(response, web.Response) else None
    if response is None or not isinstance(body, bytes) or response.content_type != "application/json":
        return {}
    with contextlib.suppress(ValueError):
        loaded = json.loads(body)
        return loaded if isinstance(loaded, dict) else {}
    return {}


_ANSWER_READ = frozenset({"POST /api/v1/transmissions", "POST /api/v1/session"})  # ids worth keeping
USERS_KEPT = 4096  # token hashes whose user is remembered (a session's user never changes)


async def _user(request: web.Request, service: HubService, users: dict[str, str]) -> str | None:
    """The user behind the request's API session or website session (by token hash only)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    table, secret = ("sessions", token.strip()) if scheme.lower() == "bearer" else ("web_sessions", "")
    if not secret:
        secret = request.cookies.get("careplan_web", "")
    if not secret:
        return None
    digest = tokens.digest(secret)
    if digest not in users:
        row = await service.db.fetch_one(f"SELECT user_id FROM {table} WHERE token_hash = ?", (digest,))
        if row is None:
            return None
        if len(users) >= USERS_KEPT:
            users.clear()
        users[digest] = str(row[0])
    return users[digest]


async def _entry(request: web.Request, status: int, response: web.StreamResponse | None, duration: float,
                 chain: Any) -> Entry:  # fmt: skip
    """The journal entry of a finished request. Of the answer only the code, the findings' rules
    and counts, the transmission id and (at login) the user id are kept (journal rule 2)."""
    peer = request.get(PEER)
    route = route_of(request)
    refused = status >= 400
    # The answer is parsed only when something is taken from it: a refusal's code and findings,
    # else an id the request itself did not give (a submit's chain names its transmission as soon
    # as its manifest is read, so an accepted submit's answer is not parsed again).
    answered: dict[str, Any] | None = None

    def answer() -> dict[str, Any]:
        nonlocal answered
        if answered is None:
            answered = _answer(response) if refused or route in _ANSWER_READ else {}
        return answered

    code = (str(answer().get("code") or "") or None) if refused else None
    findings = answer().get("findings") if refused and isinstance(answer().get("findings"), list) else []
    close_chain(chain, code, findings)
    transmission = request.match_info.get("transmission_id") or chain.transmission
    if not transmission and not refused and answer().get("transmission_id"):
        transmission = str(answer()["transmission_id"])
    user = await _user(request, request.app[SERVICE], request.app[CONTROL].users)
    if user is None and route == "POST /api/v1/session" and not refused and answer().get("user_id"):
        user = str(answer()["user_id"])
    method, _, template = route.partition(" ")
    return Entry(
        at=request.app[CLOCK].now().isoformat(),
        method=method,
        route=template,
        path=request.path,
        status=status,
        duration_ms=round(duration * 1000, 2),
        code=code,
        office=peer.office_number if peer is not None else None,
        user_id=user,
        serial=format(peer.serial, "x") if peer is not None else None,
        transmission=transmission,
        fault=request.get(FAULT),
        decisions=tuple(chain.decisions),
    )


@web.middleware
async def nodes_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """hub.nodes rules 1 and 2, just inside the error middleware: a database that cannot be read
    or written here is answered like anywhere else (503 DATABASE_UNAVAILABLE, Retry-After)."""
    control = request.app.get(CONTROL)
    nodes = control.nodes if control is not None else None
    if nodes is None:
        return await handler(request)  # type: ignore[no-any-return]
    await nodes.refresh()  # before anything reads the clock or the session cache
    try:
        response = await handler(request)
    except BaseException:  # e.g. a redirect of the website: share what the request moved, go on
        with contextlib.suppress(Exception):
            await nodes.publish()
        raise
    await nodes.publish()  # before the answer leaves: the mover's next request, anywhere, sees it
    return response  # type: ignore[no-any-return]


@web.middleware
async def control_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    control = request.app.get(CONTROL)
    if control is None or request.path.startswith(UNJOURNALLED):
        return await handler(request)  # type: ignore[no-any-return]
    started = time.perf_counter()
    gated = not request.path.startswith(UNGATED)
    response: web.StreamResponse | None = None
    status = 500
    with recording() as chain:
        try:
            async with control.gate.shared() if gated else contextlib.nullcontext():
                response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:  # redirects of the website
            status = exc.status
            raise
        finally:
            try:
                duration = time.perf_counter() - started
                control.journal.record(await _entry(request, status, response, duration, chain))
            except CareplanError as error:  # DATABASE_UNAVAILABLE: a known outage, no traceback
                log.warning("could not journal %s %s: %s", request.method, logged_path(request), error.code,
                            extra={"repeat_key": ("journal", error.code)})  # fmt: skip
            except Exception:  # the journal never turns an answer into an error
                log.exception("could not journal %s %s", request.method, logged_path(request))
