"""The control plane's admin API (admin token + loopback, like every /admin route): thin handlers
over hub.control's modules. Documented in hub/openapi.yaml with the hub's other routes."""

from __future__ import annotations

from aiohttp import web

from careplan.errors import CareplanError, Operation
from hub.control import views
from hub.control.faults import SEED_RANGE
from hub.control.inspector import inspect
from hub.control.plane import CONTROL, Control
from hub.control.staging import licence_record, replace_licence_record
from hub.control.steer import change_faults, reset_hub, restore_snapshot, save_snapshot
from hub.keys import CLOCK, SERVICE, json_response, require_admin
from hub.routes import _field, _json_body

CONTROL_ROUTES = web.RouteTableDef()


def _control(request: web.Request) -> Control:
    require_admin(request)
    return request.app[CONTROL]


# --- reset and snapshots --------------------------------------------------------------------------
@CONTROL_ROUTES.post("/admin/v1/reset")
async def reset(request: web.Request) -> web.Response:
    """{"to": "seed"|"empty"}: back to what `careplan up` seeded (default), or to nothing."""
    control = _control(request)
    body = await _json_body(request) if request.can_read_body else {}
    return json_response(await reset_hub(control, str(body.get("to", "seed"))))


@CONTROL_ROUTES.post("/admin/v1/snapshots")
async def snapshot_save(request: web.Request) -> web.Response:
    control = _control(request)
    return json_response(await save_snapshot(control, _field(await _json_body(request), "name")), status=201)


@CONTROL_ROUTES.get("/admin/v1/snapshots")
async def snapshot_list(request: web.Request) -> web.Response:
    return json_response({"snapshots": _control(request).snapshots.list()})


@CONTROL_ROUTES.post("/admin/v1/snapshots/{name}/restore")
async def snapshot_restore(request: web.Request) -> web.Response:
    return json_response(await restore_snapshot(_control(request), request.match_info["name"]))


@CONTROL_ROUTES.delete("/admin/v1/snapshots/{name}")
async def snapshot_delete(request: web.Request) -> web.Response:
    return json_response(await _control(request).snapshots.delete(request.match_info["name"]))


# --- journal ---------------------------------------------------------------------------------------
@CONTROL_ROUTES.get("/admin/v1/journal")
async def journal(request: web.Request) -> web.Response:
    """?office=&transmission=&code=&since=&cursor=&limit= (cursor-paginated, oldest first)."""
    control = _control(request)
    query = request.query
    await control.journal.flush()
    page = await control.journal.page(
        office=query.get("office", ""),
        transmission=query.get("transmission", ""),
        code=query.get("code", ""),
        since=views.since_value(query.get("since")),
        cursor=views.cursor_value(query.get("cursor")),
        limit=views.page_limit(query.get("limit"), default=100),
    )
    return json_response(page)


# --- faults ----------------------------------------------------------------------------------------
@CONTROL_ROUTES.post("/admin/v1/faults")
async def faults_add(request: web.Request) -> web.Response:
    """One rule, or {"seed": n, "rules": [rule, …]}."""
    control = _control(request)
    body = await _json_body(request)
    raw = body.get("rules", [body]) if "rules" in body else [body]
    if not isinstance(raw, list) or not raw or not all(isinstance(r, dict) for r in raw):
        raise CareplanError(
            "BAD_REQUEST",
            operation=Operation.ADMIN,
            detail='"rules" は規則の空でない一覧です',
            fix='{"seed": 7, "rules": [{"kind": "latency", "latency_ms": 500}]} のように送ってください。',
            detail_en='"rules" is a non-empty list of rules',
            fix_en='Send e.g. {"seed": 7, "rules": [{"kind": "latency", "latency_ms": 500}]}.',
        )
    seed = body.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed not in SEED_RANGE:
        raise CareplanError(
            "BAD_REQUEST",
            operation=Operation.ADMIN,
            detail='"seed" は整数です（-2^63〜2^63-1）',
            fix='"seed": 7 のように整数で送ってください。',
            detail_en='"seed" is a whole number',
            fix_en='Send e.g. "seed": 7.',
        )
    faults = await change_faults(control, raw, seed=seed, clear=False, now=request.app[CLOCK].now())
    return json_response({"faults": faults}, status=201)


@CONTROL_ROUTES.get("/admin/v1/faults")
async def faults_list(request: web.Request) -> web.Response:
    return json_response({"faults": await _control(request).faults.list()})


@CONTROL_ROUTES.delete("/admin/v1/faults")
async def faults_clear(request: web.Request) -> web.Response:
    return json_response({"cleared": await _control(request).faults.clear()})


# --- staging a licence for a test (the conformance kit's R3.6 step) --------------------------------
@CONTROL_ROUTES.get("/admin/v1/offices/{office_number}/licence/record")
async def licence_record_show(request: web.Request) -> web.Response:
    _control(request)
    return json_response(await licence_record(request.app[SERVICE], request.match_info["office_number"]))


@CONTROL_ROUTES.put("/admin/v1/offices/{office_number}/licence/record")
async def licence_record_replace(request: web.Request) -> web.Response:
    """{"licence": record}: a record read with GET (restores it exactly), or one with no terms (未申請)."""
    _control(request)
    number, body = request.match_info["office_number"], await _json_body(request)
    return json_response(await replace_licence_record(request.app[SERVICE], number, body))


# --- admin views -----------------------------------------------------------------------------------
@CONTROL_ROUTES.get("/admin/v1/inspector/transmissions")
async def transmissions(request: web.Request) -> web.Response:
    """?office=&cursor=&limit= (newest first)."""
    _control(request)
    query = request.query
    page = await views.transmissions(
        request.app[SERVICE], office=query.get("office", ""), cursor=query.get("cursor"), limit=query.get("limit")
    )
    return json_response(page)


@CONTROL_ROUTES.get("/admin/v1/inspector/transmissions/{transmission_id}")
async def transmission(request: web.Request) -> web.Response:
    """The message inspector's data: life, signature chain, decision chain."""
    control = _control(request)
    tid = request.match_info["transmission_id"]
    found = await inspect(request.app[SERVICE], control.journal, tid)
    if found is None:
        raise CareplanError(
            "TRANSMISSION_NOT_FOUND",
            operation=Operation.ADMIN,
            detail=f"送信ID {tid} はハブにもジャーナルにもありません",
            fix="careplan hub transmissions または careplan hub journal で送信IDを確認してください。",
            detail_en=f"neither the hub nor the journal knows {tid}",
            fix_en="Look the id up with careplan hub transmissions or careplan hub journal.",
        )
    return json_response(found)


@CONTROL_ROUTES.get("/admin/v1/sessions")
async def sessions(request: web.Request) -> web.Response:
    _control(request)
    return json_response(await views.sessions(request.app[SERVICE]))


@CONTROL_ROUTES.get("/admin/v1/corrections")
async def corrections(request: web.Request) -> web.Response:
    _control(request)
    return json_response(await views.corrections(request.app[SERVICE]))


@CONTROL_ROUTES.post("/admin/v1/corrections/{correction_id}")
async def correction_status(request: web.Request) -> web.Response:
    """{"status": "受付済"|"対応中"|"反映済"|"却下"}."""
    _control(request)
    status = _field(await _json_body(request), "status")
    changed = await views.set_correction_status(request.app[SERVICE], request.match_info["correction_id"], status)
    return json_response(changed)
