"""The hub's HTTP surface: one route table, thin handlers (parse, call the service, serialize).

The same surface is described for vendors in `hub/openapi.yaml`; a test keeps the two in step.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import quote

from aiohttp import BodyPartReader, MultipartReader, hdrs, web
from aiohttp.multipart import content_disposition_filename, parse_content_disposition

from careplan.errors import CareplanError, Operation
from hub.bodies import json_object, refusal_for
from hub.clock import by_seconds, refused_move
from hub.headers import retry_after_on_throttle
from hub.keys import (
    CLOCK,
    CONFIG,
    SERVICE,
    bearer_token,
    json_response,
    json_text_response,
    office_session,
    peer_identity,
    require_admin,
)
from hub.metrics import METRICS
from hub.payloads import KEPT_BYTES, StagedPayload
from hub.service import Upload

ROUTES = web.RouteTableDef()


async def _json_body(request: web.Request) -> dict[str, Any]:
    return await json_object(request)


def _field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise CareplanError(
            "BAD_REQUEST",
            detail=f"項目 {name!r}（空でない文字列）が必要です",
            detail_en=f"field {name!r} (a non-empty string) is required",
        )
    return value


_T = TypeVar("_T", str, bool)
_KINDS = {str: ("文字列です", "a string"), bool: (" true か false です", "true or false")}


def _optional(body: dict[str, Any], name: str, kind: type[_T], default: _T) -> _T:
    """An optional field of one JSON type (absent or null: `default`); BAD_REQUEST for another
    type, which a conversion would have misread: bool() read "retire_old": "false" as true and
    retired the old keys, str() stored "prefecture": null as the prefecture "None"."""
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, kind):
        said, said_en = _KINDS[kind]
        raise CareplanError("BAD_REQUEST", detail=f"項目 {name!r} は{said}", detail_en=f"field {name!r} is {said_en}")
    return value


def _personal_users(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(user_id, password) of each of `personal_users` (absent or null: none); BAD_REQUEST unless it
    is an array of objects (a number or a string here was a 500: not iterable, str has no .get)."""
    users = body.get("personal_users")
    if users is None:
        return []
    if not isinstance(users, list) or not all(isinstance(user, dict) for user in users):
        raise CareplanError(
            "BAD_REQUEST",
            detail='項目 \'personal_users\' は {"user_id": …, "password": …} の配列です',
            detail_en='field \'personal_users\' is an array of {"user_id": …, "password": …}',
        )
    return [(_field(user, "user_id"), _field(user, "password")) for user in users]


# --- public ---------------------------------------------------------------------------------
@ROUTES.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok", "hub_time": request.app[CLOCK].now().isoformat()})


@ROUTES.get("/openapi.yaml")
async def openapi(request: web.Request) -> web.Response:
    text = resources.files("hub").joinpath("openapi.yaml").read_text("utf-8")
    return web.Response(text=text, content_type="application/yaml")


@ROUTES.get("/api/v1/trust")
async def trust(request: web.Request) -> web.Response:
    """The CA certificates office certificates must chain to (readable without a certificate)."""
    pem = request.app[CONFIG].trusted_ca_file.read_text("ascii")
    return json_response({"office_ca_pem": pem})


# --- sessions --------------------------------------------------------------------------------
@ROUTES.post("/api/v1/session")
async def login(request: web.Request) -> web.Response:
    peer = peer_identity(request, Operation.LOGIN)
    body = await _json_body(request)
    with retry_after_on_throttle(request):
        result = await request.app[SERVICE].login(peer, _field(body, "user_id"), _field(body, "password"))
    return json_response(result, status=201)


@ROUTES.get("/api/v1/session")
async def whoami(request: web.Request) -> web.Response:
    _, session = await office_session(request, Operation.LOGIN)
    return json_response(await request.app[SERVICE].whoami(session))


@ROUTES.delete("/api/v1/session")
async def logout(request: web.Request) -> web.Response:
    await office_session(request, Operation.LOGIN)
    await request.app[SERVICE].logout(bearer_token(request))
    return json_response({"logged_out": True})


# --- sending ---------------------------------------------------------------------------------
# The refusals for a part over its limit are built only when one is (a CareplanError costs more
# to build than a small part costs to read).
TooLarge = Callable[[], CareplanError]


async def _stream_part(part: BodyPartReader, staged: StagedPayload, limit: int, too_large: TooLarge) -> None:
    """A file part straight into its encrypted staging file: never whole in memory (hub.payloads)."""
    while chunk := await part.read_chunk(64 * 1024):
        if staged.size + len(chunk) > limit:
            raise too_large()
        staged.write(chunk)
    staged.close()


async def _read_part(part: BodyPartReader, limit: int, too_large: TooLarge) -> bytes:
    chunks, size = [], 0
    while chunk := await part.read_chunk(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _bad_part(detail: str, detail_en: str) -> CareplanError:
    return CareplanError(
        "MULTIPART_MALFORMED",
        detail=detail,
        detail_en=detail_en,
        fix='各パートに Content-Disposition: form-data; name="manifest"|"signature"|"file" を付け、'
        "file パートには制御文字を含まない filename を付けてください。",
        fix_en='Give each part Content-Disposition: form-data; name="manifest"|"signature"|"file", and each file '
        "part a filename without control characters.",
    )


# The form every client of ours sends: `form-data; name="…"` and, for files, `; filename="…"`,
# with no backslash, quote or semicolon inside. aiohttp's parse_content_disposition rebuilds an
# escape table on every call (py-spy: ~5% of the hub's Python CPU per submit); for this form its
# answer is the quoted text with leading slashes stripped, so it is read here by one regex and every
# other form still goes to aiohttp (tests/hub/test_hot_path.py compares the two).
_PLAIN_DISPOSITION = re.compile(r'form-data; name="([^"\\;]*)"(?:; filename="([^"\\;]*)")?')


def disposition_names(header: str | None) -> tuple[str | None, str | None]:
    """The name and filename of a part's Content-Disposition, as aiohttp reads them."""
    plain = _PLAIN_DISPOSITION.fullmatch(header or "")
    if plain is not None:
        name, filename = plain.groups()
        return name.lstrip("/"), None if filename is None else filename.lstrip("/")
    _, params = parse_content_disposition(header)
    return content_disposition_filename(params, "name"), content_disposition_filename(params, "filename")


class FormParts(MultipartReader):
    """aiohttp's multipart reader, less one cost: before each part it looks for a `_charset_` part
    (RFC 7578 §4.6) by parsing the part's Content-Disposition with parse_content_disposition,
    ~40 µs a part (py-spy: ~7% of the hub's Python CPU per 3-file submit). A part whose header has
    the plain form (`_PLAIN_DISPOSITION`) and another name is taken as aiohttp's `next()` takes it
    after that check (it remembers the part as `_last_part`), so the check is skipped; any other
    part goes through aiohttp's check unchanged (tests/hub/test_hot_path.py)."""

    async def fetch_next_part(self) -> MultipartReader | BodyPartReader:
        part = await super().fetch_next_part()
        if isinstance(part, BodyPartReader):
            plain = _PLAIN_DISPOSITION.fullmatch(part.headers.get(hdrs.CONTENT_DISPOSITION) or "")
            if plain is not None and plain[1].lstrip("/") != "_charset_":
                self._last_part = part
        return part


def _part_names(part: BodyPartReader) -> tuple[str, str | None]:
    """The part's name and filename from one parse of its Content-Disposition (aiohttp's `.name`
    and `.filename` parse it once each)."""
    name, filename = disposition_names(part.headers.get(hdrs.CONTENT_DISPOSITION))
    if not name:
        raise _bad_part("Content-Disposition の name がないパートがあります。", "a part has no name")
    for label, text in (("name", name), ("filename", filename or "")):
        if not text.isprintable():
            raise _bad_part(
                f"パートの {label} に制御文字（NUL など）が含まれています: {text!r}",
                f"a part's {label} holds control characters (NUL…): {text!r}",
            )
    return name, filename


async def _read_upload(request: web.Request) -> Upload:
    """Stream the multipart body, refusing as soon as a limit is passed (R4.3); every way the body
    can be malformed is a catalogue refusal (hub.bodies), never INTERNAL."""
    config = request.app[CONFIG]
    limit = config.max_upload_bytes
    if request.content_length is not None and request.content_length > limit + 2 * config.max_meta_bytes:
        raise CareplanError(
            "TRANSMISSION_TOO_LARGE",
            detail=f"要求は {request.content_length} バイトです。1回の送信で送れるファイルは {limit} バイトまでです",
            fix="ファイルを分けて、何回かに分けて送信してください。",
            detail_en=f"the request is {request.content_length} bytes; a transmission may carry {limit} bytes of files",
            fix_en="Split the files over several sends.",
        )
    if request.content_type != "multipart/form-data":
        raise CareplanError(
            "BAD_REQUEST",
            detail=f"Content-Type が multipart/form-data ではありません（{request.content_type}）。",
            detail_en=f"the Content-Type is {request.content_type}, not multipart/form-data",
            fix="manifest、signature、file の各パートを multipart/form-data で送ってください。",
            fix_en="Send multipart/form-data with the parts manifest, signature, file…",
        )
    try:
        return await _read_parts(request)
    except CareplanError:
        raise
    except Exception as exc:
        refusal = refusal_for(request, exc)
        if refusal is None:
            raise
        raise refusal from None


async def _read_parts(request: web.Request) -> Upload:
    config = request.app[CONFIG]

    def meta_too_large() -> CareplanError:
        return CareplanError(
            "MANIFEST_INVALID",
            detail=f"manifest または signature パートが {config.max_meta_bytes} バイトを超えています。",
            detail_en=f"manifest or signature over {config.max_meta_bytes} bytes",
            fix="manifest には署名対象の JSON、signature には DER 形式の分離署名だけを入れてください。",
            fix_en="Put only the signed JSON in manifest and only the detached DER signature in signature.",
        )

    files: list[tuple[str, StagedPayload]] = []
    try:
        return await _stream_parts(request, files, meta_too_large)
    except BaseException:
        for _, staged in files:
            staged.discard()
        raise


async def _stream_parts(
    request: web.Request, files: list[tuple[str, StagedPayload]], meta_too_large: TooLarge
) -> Upload:
    config = request.app[CONFIG]
    limit = config.max_upload_bytes
    parts: dict[str, bytes] = {}
    reader = await request.multipart()
    reader.__class__ = FormParts  # built by the request (its size limits), read as FormParts
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise _bad_part("入れ子の multipart は受け付けません。", "nested multipart is not accepted")
        name, filename = _part_names(part)
        if name in ("manifest", "signature") and name not in parts:
            parts[name] = await _read_part(part, config.max_meta_bytes, meta_too_large)
        elif name == "file" and filename:
            if len(files) >= config.max_files:
                raise CareplanError(
                    "TOO_MANY_FILES",
                    detail=f"1回の送信に {config.max_files} を超えるファイルがあります",
                    fix="何回かに分けて送信してください（一括送信なら自動で分けます）。",
                    detail_en=f"more than {config.max_files} files in one transmission",
                    fix_en="Split the files over several sends (bulk send does this for you).",
                )
            remaining = limit - sum(staged.size for _, staged in files)

            def too_large(filename: str = filename) -> CareplanError:
                return CareplanError(
                    "TRANSMISSION_TOO_LARGE",
                    detail=f"{filename} の時点でファイルの合計が {limit} バイトを超えました",
                    fix="ファイルを分けて、何回かに分けて送信してください。",
                    detail_en=f"the files pass {limit} bytes at {filename}",
                    fix_en="Split the files over several sends.",
                )

            files.append((filename, request.app[SERVICE].payloads.stage()))
            await _stream_part(part, files[-1][1], remaining, too_large)
            if sum(staged.size for _, staged in files) > KEPT_BYTES:  # a bigger upload keeps no plaintext
                for _, staged in files:
                    staged.forget_plaintext()
        else:
            raise _bad_part(
                f"想定外のパート {name!r} です（manifest・signature の重複、または filename のない file パート）。",
                f"unexpected part {name!r} (a second manifest or signature, or a file part without a filename)",
            )
    if "manifest" not in parts or "signature" not in parts:
        raise CareplanError(
            "MANIFEST_INVALID",
            detail="manifest と signature の両方のパートが必要です。",
            detail_en="the parts 'manifest' and 'signature' are both required",
            fix="manifest（JSON）と signature（分離署名）のパートを、file パートと一緒に送ってください。",
            fix_en="Send the parts manifest (JSON) and signature (detached signature) with the file parts.",
        )
    return Upload(manifest=parts["manifest"], signature=parts["signature"], files=tuple(files))


@ROUTES.post("/api/v1/transmissions")
async def send(request: web.Request) -> web.Response:
    peer, session = await office_session(request, Operation.SEND)
    upload = await _read_upload(request)
    try:
        result = await request.app[SERVICE].submit_transmission(peer, session, upload)
    finally:
        upload.discard()  # what was not published: a refusal, or a retry already stored
    request.app[METRICS].transmission_stored(result)  # payload bytes counted once, not on a retry
    # 200 when this exact submission was stored before (a retry whose answer was lost), 201 when new.
    return json_response(result, status=200 if result["already_stored"] else 201)


def _page_query(request: web.Request) -> dict[str, Any]:
    """?limit=N&cursor=C of the list routes, as given: the service checks them."""
    return {"limit": request.query.get("limit"), "cursor": request.query.get("cursor") or None}


@ROUTES.get("/api/v1/sent")
async def sent(request: web.Request) -> web.Response:
    _, session = await office_session(request, Operation.SEND)
    return json_text_response(await request.app[SERVICE].sent_json(session, **_page_query(request)))


# --- receiving -------------------------------------------------------------------------------
@ROUTES.get("/api/v1/inbox")
async def inbox(request: web.Request) -> web.Response:
    _, session = await office_session(request, Operation.RECEIVE)
    everything = request.query.get("all")  # 1, true, 0 or false: the service refuses other text
    page = await request.app[SERVICE].inbox_json(session, include_downloaded=everything, **_page_query(request))
    return json_text_response(page)


@ROUTES.get("/api/v1/inbox/{transmission_id}")
async def download_info(request: web.Request) -> web.Response:
    _, session = await office_session(request, Operation.RECEIVE)
    return json_response(await request.app[SERVICE].download_info(session, request.match_info["transmission_id"]))


@ROUTES.get("/api/v1/inbox/{transmission_id}/files/{position:[0-9]+}")
async def download_file(request: web.Request) -> web.Response:
    _, session = await office_session(request, Operation.RECEIVE)
    name, data = await request.app[SERVICE].read_file(
        session, request.match_info["transmission_id"], int(request.match_info["position"])
    )
    return web.Response(
        body=data,
        content_type="application/octet-stream",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}"},
    )


@ROUTES.post("/api/v1/inbox/{transmission_id}/ack")
async def acknowledge(request: web.Request) -> web.Response:
    _, session = await office_session(request, Operation.RECEIVE)
    return json_response(await request.app[SERVICE].acknowledge(session, request.match_info["transmission_id"]))


# --- admin (token + loopback) -------------------------------------------------------------------
@ROUTES.post("/admin/v1/offices")
async def register_office(request: web.Request) -> web.Response:
    require_admin(request)
    body = await _json_body(request)
    office = await request.app[SERVICE].register_office(
        office_number=_field(body, "office_number"),
        name=_field(body, "name"),
        service_kind=_field(body, "service_kind"),
        office_user_id=_field(body, "office_user_id"),
        password=_field(body, "password"),
        licence=_optional(body, "licence", str, "valid"),
        password_state=_optional(body, "password_state", str, "ok"),
        prefecture=_optional(body, "prefecture", str, ""),
        address=_optional(body, "address", str, ""),
        personal_users=_personal_users(body),
    )
    return json_response(office, status=201)


@ROUTES.get("/admin/v1/offices")
async def list_offices(request: web.Request) -> web.Response:
    require_admin(request)
    return json_response({"offices": await request.app[SERVICE].offices()})


@ROUTES.get("/admin/v1/offices/{office_number}")
async def show_office(request: web.Request) -> web.Response:
    require_admin(request)
    return json_response(await request.app[SERVICE].office(request.match_info["office_number"]))


@ROUTES.post("/admin/v1/offices/{office_number}/licence")
async def change_licence(request: web.Request) -> web.Response:
    """{"action": "apply"|"renew"|"cancel"|"pay_invoice", "payment": "deduction"|"invoice"}."""
    require_admin(request)
    body = await _json_body(request)
    payment = body.get("payment")
    summary = await request.app[SERVICE].change_licence(
        request.match_info["office_number"], _field(body, "action"), None if payment is None else str(payment)
    )
    return json_response(summary)


@ROUTES.get("/admin/v1/clock")
async def clock_show(request: web.Request) -> web.Response:
    require_admin(request)
    return json_response(request.app[CLOCK].state())


@ROUTES.post("/admin/v1/clock")
async def clock_change(request: web.Request) -> web.Response:
    """{"set": ISO time, "frozen": bool} or {"advance_seconds": n} or {"reset": true}."""
    require_admin(request)
    body = await _json_body(request)
    clock = request.app[CLOCK]
    _check_clock_change(body)
    with refused_move():  # the clock stays where it was
        if body.get("reset"):
            clock.reset()
        elif "set" in body:
            clock.set(dt.datetime.fromisoformat(_field(body, "set")), frozen=bool(body.get("frozen")))
        elif "advance_seconds" in body:
            clock.advance(by_seconds(float(body["advance_seconds"])))
        else:
            raise CareplanError(
                "BAD_REQUEST",
                detail="set・advance_seconds・reset のどれか1つを指定してください",
                detail_en="give one of set, advance_seconds, reset",
            )
    return json_response(clock.state())


def _check_clock_change(body: dict[str, Any]) -> None:
    """BAD_REQUEST for a change of the wrong JSON type, before the clock moves: "reset": "no" was
    truthy and reset the clock, "advance_seconds": true moved it a second and "1e400" (a string)
    was read as a number."""
    problems = []
    if "reset" in body and not isinstance(body["reset"], bool):
        problems.append(("reset は true か false です", "reset must be true or false"))
    if "frozen" in body and not isinstance(body["frozen"], bool):
        problems.append(("frozen は true か false です", "frozen must be true or false"))
    seconds = body.get("advance_seconds")
    if "advance_seconds" in body and (isinstance(seconds, bool) or not isinstance(seconds, int | float)):
        problems.append(("advance_seconds は秒数（数値）です", "advance_seconds must be a number of seconds"))
    if problems:
        raise CareplanError(
            "BAD_REQUEST",
            operation=Operation.ADMIN,
            detail="、".join(ja for ja, _ in problems),
            fix='{"advance_seconds": 86400} や {"set": "2026-12-01T09:00:00+09:00", "frozen": true}、{"reset": true} '
            "のように指定してください。",
            detail_en="; ".join(en for _, en in problems),
            fix_en='Send e.g. {"advance_seconds": 86400}, {"set": "2026-12-01T09:00:00+09:00", "frozen": true} '
            'or {"reset": true}.',
        )


@ROUTES.post("/admin/v1/keys/rotate")
async def rotate_keys(request: web.Request) -> web.Response:
    """{"retire_old": bool}: a new payload key; with retire_old, every stored payload re-encrypted."""
    require_admin(request)
    body = await _json_body(request)
    return json_response(await request.app[SERVICE].rotate_keys(retire_old=_optional(body, "retire_old", bool, False)))


@ROUTES.get("/admin/v1/audit")
async def audit(request: web.Request) -> web.Response:
    require_admin(request)
    return json_response({"refusals": await request.app[SERVICE].audit_log()})


@ROUTES.get("/admin/v1/crl")
async def crl_status(request: web.Request) -> web.Response:
    """The CRL in force (its number) and the latest refused publication, if any."""
    require_admin(request)
    return json_response(request.app[SERVICE].trust.crl_status())
