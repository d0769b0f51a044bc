"""Fault injection, seeded and reproducible: make the hub slow, fail or cut a connection so that a
client's retry logic can be tested.

Rules this module keeps:
1. A rule matches requests by route (`"POST /api/v1/transmissions"`, `*` wildcards), office
   (the TLS certificate's 事業所番号) and operation (login, send, list, download, acknowledge);
   a new rule's route must match a route of the hub that faults reach (the router's, named as the
   journal names them: `GET /api/v1/inbox/{transmission_id}`), else it would never fire; a
   request that matches no route of the hub (a 404, a 405) is never faulted, though the journal
   names it by its path: a rule stored before routes were checked may name such a path;
   `count` limits it to the next N matching requests, `probability` draws from a hash of the
   rule, its seed and the match number, so the same rules and requests inject the same faults.
2. Rules, counters and draws live in the control database: every worker process sees the same
   rules and a `count` is spent once across all of them.
3. Every injected fault is marked on its request, so the journal shows it.
4. Kinds: latency (wait, then answer), http_error (status, catalogue code, Retry-After),
   cut_upload (read `after_bytes` of the body, then close), cut_download (send `after_bytes` of
   the answer, then close), lose_answer (do the work, commit, then close without answering),
   expire_session (the request's session ends now; the handler refuses SESSION_REQUIRED),
   substitute_signature (the download of one transmission answers with another detached
   signature, given in the rule: a wrong signer on the wire, the stored one untouched).
5. substitute_signature is a fault and not a change to the store because the hub must never hold
   a transmission whose signer is not its sender (the submit check refuses it): the stored record
   stays true, the journal marks the one answer that lied, and clearing the rules ends it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import difflib
import fnmatch
import hashlib
import json
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Any

from aiohttp import web
from cryptography import x509

from careplan.certificates import identity_of
from careplan.errors import CATALOGUE, CareplanError, Operation
from careplan.manifest import TRANSMISSION_ID
from careplan.office import is_office_number
from hub import tokens
from hub.control.store import ControlDatabase
from hub.keys import SERVICE, json_response
from hub.operations import in_route, matched_route, routes_of

ALIASES = {"lost_answer": "lose_answer"}  # the conformance kit's name for it
KINDS = (
    "latency",
    "http_error",
    "cut_upload",
    "cut_download",
    "lose_answer",
    "expire_session",
    "substitute_signature",
)
SIGNED_ANSWER = "GET /api/v1/inbox/{transmission_id}"  # the answer that carries manifest + signature
OPERATIONS: Mapping[str, tuple[str, ...]] = {
    "login": ("POST /api/v1/session",),
    "send": ("POST /api/v1/transmissions",),
    "list": ("GET /api/v1/sent", "GET /api/v1/inbox"),
    "download": ("GET /api/v1/inbox/{transmission_id}", "GET /api/v1/inbox/{transmission_id}/files/{position}"),
    "acknowledge": ("POST /api/v1/inbox/{transmission_id}/ack",),
}
# Each field's JSON type, as hub/openapi.yaml's FaultRule gives it: a rule of another type would
# raise in a comparison (a 500) or be stored and never match (an office given as a number).
_TEXT, _WHOLE, _NUMBER = ("文字列", "a string"), ("整数", "a whole number"), ("数", "a number")
FIELD_TYPES: Mapping[str, tuple[tuple[type, ...], tuple[str, str], bool]] = MappingProxyType(
    {  # name: (accepted types, (Japanese, English) name of the type, may be null)
        "kind": ((str,), _TEXT, False),
        "route": ((str,), _TEXT, True),
        "office": ((str,), _TEXT, True),
        "operation": ((str,), _TEXT, True),
        "count": ((int,), _WHOLE, True),
        "probability": ((int, float), _NUMBER, False),
        "latency_ms": ((int,), _WHOLE, False),
        "status": ((int,), _WHOLE, False),
        "code": ((str,), _TEXT, False),
        "retry_after": ((int,), _WHOLE, True),
        "after_bytes": ((int,), _WHOLE, False),
        "transmission": ((str,), _TEXT, True),
        "signature": ((str,), _TEXT, False),
    }
)
COUNT_MAX = 1_000_000_000  # a count or a seed is stored as a 64-bit integer: a bigger one was a 500
SEED_RANGE = range(-(2**63), 2**63)
FAULT = web.RequestKey("fault", dict)
REFRESH_SECONDS = 0.25  # how stale another worker's view of the rules may be
SPARED = ("/admin/", "/dashboard")  # a catch-all rule must never lock the tester out of clearing it


def _bad(problems: list[tuple[str, str]], fix: tuple[str, str] | None = None) -> CareplanError:
    """BAD_REQUEST naming every problem of a rule: (Japanese, English) pairs; the fix an example
    rule unless given."""
    example = '{"kind": "http_error", "status": 503, "route": "POST /api/v1/transmissions", "count": 1}'
    fix_ja, fix_en = fix or (f"規則の例: {example}", f"e.g. {example}")
    return CareplanError(
        "BAD_REQUEST",
        operation=Operation.ADMIN,
        detail="、".join(ja for ja, _ in problems),
        fix=fix_ja,
        detail_en="; ".join(en for _, en in problems),
        fix_en=fix_en,
    )


def faultable(routes: Iterable[str]) -> tuple[str, ...]:
    """The routes a rule can reach: all but the admin API's and the dashboard's (SPARED)."""
    return tuple(r for r in routes if not r.partition(" ")[2].startswith(SPARED))


def _close_routes(pattern: str, routes: Collection[str]) -> tuple[str, str]:
    """The fix of a route that matches none: a few close route names (HEAD ones only for HEAD)."""
    candidates = [r for r in routes if pattern.startswith("HEAD ") or not r.startswith("HEAD ")]
    close = difflib.get_close_matches(pattern, candidates, n=3, cutoff=0.5)
    close = close or difflib.get_close_matches(pattern, candidates, n=3, cutoff=0) or candidates[:3]
    named = ", ".join(close)
    return (
        f"近い経路: {named}（careplan hub journal に出る「METHOD /path」の形で、* も使えます）",
        f"close routes: {named} (METHOD /path as the journal shows them; * wildcards)",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultRule:
    kind: str
    route: str | None = None
    office: str | None = None
    operation: str | None = None
    count: int | None = None
    probability: float = 1.0
    latency_ms: int = 0
    status: int = 503
    code: str = "HUB_BUSY"
    retry_after: int | None = 1
    after_bytes: int = 0
    transmission: str | None = None  # only this transmission's requests (its id in the path)
    signature: str = ""  # substitute_signature: base64 of the detached CMS signature to serve

    def __post_init__(self) -> None:
        mistyped = self._type_problems()
        if mistyped:  # before any comparison, which would raise on a value of another type
            raise _bad(mistyped)
        problems: list[tuple[str, str]] = []
        problems += self._signature_problems()
        if self.kind not in KINDS:
            problems.append((f"kind は {', '.join(KINDS)} のいずれかです", f"kind must be one of {', '.join(KINDS)}"))
        if self.operation is not None and self.operation not in OPERATIONS:
            problems.append(
                (
                    f"operation は {', '.join(OPERATIONS)} のいずれかです",
                    f"operation must be one of {', '.join(OPERATIONS)}",
                )
            )
        if self.route is not None and len(self.route.split(" ", 1)) != 2:
            problems.append(("route は 'POST /api/v1/transmissions' の形です", "route is 'METHOD /path'"))
        if self.count is not None and not 1 <= self.count <= COUNT_MAX:  # the database holds 64 bits
            problems.append(
                (f"count は 1〜{COUNT_MAX} です（省略すると解除まで毎回）", f"count must be from 1 to {COUNT_MAX}")
            )
        if not 0 < self.probability <= 1:
            problems.append(("probability は 0 より大きく 1 以下です", "probability must be in (0, 1]"))
        if not 0 <= self.latency_ms <= 120_000:
            problems.append(("latency_ms は 0〜120000 です", "latency_ms must be between 0 and 120000"))
        if not 400 <= self.status <= 599:
            problems.append(("status は HTTP のエラー番号（400〜599）です", "status must be an HTTP error status"))
        if self.code not in CATALOGUE:
            problems.append(
                (f"code {self.code!r} はエラー一覧にありません", f"code {self.code!r} is not in the catalogue")
            )
        if self.after_bytes < 0:
            problems.append(("after_bytes は 0 以上です", "after_bytes must not be negative"))
        if problems:
            raise _bad(problems)

    def check_new(self, routes: Collection[str]) -> None:
        """What a new rule must also be (a stored one is read back as it was, even from before
        these checks): an office, transmission or route no request can carry would be stored and
        never match (`--office abc`, `--route 'GET /nothing'`), which reads as a fault that does
        not work; Retry-After: -1 is no HTTP. `routes`: the hub's routes that faults reach
        (`faultable`). Raises BAD_REQUEST naming every problem, with close routes as the fix for a
        route that matches none."""
        problems = []
        fix = None
        if self.route is not None and not any(fnmatch.fnmatchcase(r, self.route) for r in routes):
            problems.append(
                (
                    f"route {self.route!r} に合うハブの経路がありません（この規則は働きません）",
                    f"route {self.route!r} matches no route of the hub (the rule would never fire)",
                )
            )
            fix = _close_routes(self.route, routes)
        if self.retry_after is not None and self.retry_after < 0:
            problems.append(("retry_after は 0 以上の秒数です", "retry_after must not be negative"))
        if self.office is not None and not is_office_number(self.office):
            problems.append(
                (
                    f"office {self.office!r} は事業所番号（10桁）ではありません",
                    f"office {self.office!r} is not a 事業所番号",
                )
            )
        if self.transmission is not None and not TRANSMISSION_ID.fullmatch(self.transmission):
            problems.append(
                (
                    f"transmission {self.transmission!r} は送信ID（32桁の16進）ではありません",
                    f"transmission {self.transmission!r} is not a transmission id (32 hex digits)",
                )
            )
        if problems:
            raise _bad(problems, fix)

    def _type_problems(self) -> list[tuple[str, str]]:
        problems = []
        for name, (types, (ja, en), nullable) in FIELD_TYPES.items():
            value = getattr(self, name)
            if (value is None and nullable) or (isinstance(value, types) and not isinstance(value, bool)):
                continue
            null = ("（または null）", " (or null)") if nullable else ("", "")
            problems.append((f"{name} は{ja}です{null[0]}", f"{name} must be {en}{null[1]}"))
        return problems

    def _signature_problems(self) -> list[tuple[str, str]]:
        if self.kind != "substitute_signature":
            if self.signature:
                return [("signature は substitute_signature の項目です", "signature is for substitute_signature only")]
            return []
        problems = []
        if not self.transmission:
            problems.append(
                ("substitute_signature には transmission（送信ID）が要ります", "it needs a transmission id")
            )
        try:
            der = base64.b64decode(self.signature, validate=True)
        except (binascii.Error, ValueError):
            der = b""
        if not der.startswith(b"\x30"):  # a DER SEQUENCE (ContentInfo); verifying it is the client's job
            problems.append(
                (
                    "signature は分離署名（CMS SignedData, DER）の base64 です",
                    "signature is the base64 of a detached CMS SignedData (DER)",
                )
            )
        return problems

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> FaultRule:
        kind = body.get("kind")
        if kind is None:
            known = ", ".join(KINDS)
            raise _bad([(f"kind（{known} のいずれか）が必要です", f"kind is required (one of {known})")])
        if isinstance(kind, str) and kind in ALIASES:
            body = {**body, "kind": ALIASES[kind]}
        names = set(cls.__dataclass_fields__)
        unknown = set(body) - names - {"seed"}
        if unknown:
            fields, known = ", ".join(sorted(unknown)), ", ".join(sorted(names))
            raise _bad(
                [(f"未知の項目 {fields}（規則の項目は {known}）", f"unknown field(s) {fields}; a rule has {known}")]
            )
        try:
            return cls(**{k: v for k, v in body.items() if k in names})
        except TypeError as exc:
            raise _bad([(f"項目の型が違います: {exc}", str(exc))]) from None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def marker(self) -> dict[str, Any]:
        """The rule as the journal marks a request with it: a substituted signature by its digest
        (a certificate and a signature are no business of the journal's)."""
        marked = self.to_json()
        if marked.pop("signature"):
            marked["signature_sha256"] = hashlib.sha256(base64.b64decode(self.signature)).hexdigest()
        return marked

    def matches(self, route: str, office: str | None, transmission: str | None = None) -> bool:
        if self.route is not None and not fnmatch.fnmatchcase(route, self.route):
            return False
        if self.operation is not None and route not in OPERATIONS[self.operation]:
            return False
        if self.kind == "substitute_signature" and route != SIGNED_ANSWER:
            return False
        if self.transmission is not None and self.transmission != transmission:
            return False
        return self.office is None or self.office == office

    def draw(self, seed: int, number: int) -> bool:
        """Whether the `number`th matching request is hit (reproducible: no process randomness)."""
        if self.probability >= 1:
            return True
        key = f"{seed}:{json.dumps(self.to_json(), sort_keys=True)}:{number}".encode()
        return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64 < self.probability


def peer_office(request: web.Request) -> str | None:
    """The 事業所番号 in the TLS certificate, unjudged (matching only; the handler judges it)."""
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        return None
    try:
        return identity_of(x509.load_der_x509_certificate(der)).office_number
    except (CareplanError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class _Active:
    id: int
    rule: FaultRule
    seed: int


class Faults:
    """The rule set in the control database, with a short-lived per-process cache."""

    def __init__(self, db: ControlDatabase, app: web.Application) -> None:
        self.db = db
        self.routes = faultable(routes_of(app))  # what a new rule's route must match (check_new)
        self._cache: list[_Active] = []
        self._loaded = 0.0

    async def add(self, rules: list[FaultRule], *, seed: int, now: str) -> list[dict[str, Any]]:
        async with self.db.transaction() as tx:
            for rule in rules:
                await tx.execute(
                    "INSERT INTO faults (rule, seed, remaining, created_at) VALUES (?, ?, ?, ?)",
                    (json.dumps(rule.to_json()), seed, rule.count, now),
                )
        self._loaded = 0.0
        return await self.list()

    async def list(self) -> list[dict[str, Any]]:
        rows = await self.db.fetch_all("SELECT * FROM faults ORDER BY id")
        return [
            {
                "id": r["id"],
                "rule": json.loads(r["rule"]),
                "seed": r["seed"],
                "remaining": r["remaining"],
                "matched": r["matched"],
                "injected": r["injected"],
                "created_at": r["created_at"],
            }
            for r in rows
        ]

    async def clear(self) -> int:
        async with self.db.transaction() as tx:
            removed = await tx.execute("DELETE FROM faults")
        self._loaded = 0.0
        return removed

    async def _active(self) -> list[_Active]:
        if time.monotonic() - self._loaded > REFRESH_SECONDS:
            rows = await self.db.fetch_all(
                "SELECT id, rule, seed FROM faults WHERE remaining IS NULL OR remaining > 0 ORDER BY id"
            )
            self._cache = [_Active(r["id"], FaultRule.from_json(json.loads(r["rule"])), r["seed"]) for r in rows]
            self._loaded = time.monotonic()
        return self._cache

    async def match(self, request: web.Request) -> tuple[int, FaultRule] | None:
        """The rule that hits this request (spending one of its count), or None."""
        active = await self._active()
        if not active:
            return None
        route, office = matched_route(request), None
        if route is None:  # rule 1: no route, no fault
            return None
        if any(a.rule.office for a in active):
            office = peer_office(request)
        transmission = request.match_info.get("transmission_id")
        for candidate in active:
            if candidate.rule.matches(route, office, transmission) and await self._spend(candidate):
                return candidate.id, candidate.rule
        return None

    async def _spend(self, candidate: _Active) -> bool:
        async with self.db.transaction() as tx:
            row = await tx.fetch_one(
                "UPDATE faults SET matched = matched + 1 WHERE id = ? AND (remaining IS NULL OR remaining > 0) "
                "RETURNING matched",
                (candidate.id,),
            )
            if row is None or not candidate.rule.draw(candidate.seed, int(row[0])):
                return False
            await tx.execute(
                "UPDATE faults SET injected = injected + 1, remaining = remaining - 1 WHERE id = ?", (candidate.id,)
            )
        return True


# --- applying a fault -------------------------------------------------------------------------------
def _close(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.close()


async def _cut_upload(request: web.Request, rule: FaultRule) -> web.StreamResponse:
    received = 0
    while received < rule.after_bytes:
        chunk = await request.content.read(min(64 * 1024, rule.after_bytes - received))
        if not chunk:
            break
        received += len(chunk)
    _close(request)
    return web.Response(status=503)  # never delivered: the connection is gone


async def _cut_download(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    rule = request[FAULT]
    body = response.body if isinstance(response, web.Response) else None
    if not isinstance(body, bytes):
        _close(request)
        return response
    cut = web.StreamResponse(status=response.status, headers=response.headers)
    cut.content_length = len(body)
    await cut.prepare(request)
    await cut.write(body[: int(rule["after_bytes"])])
    _close(request)
    return cut


async def _expire_session(request: web.Request) -> None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return
    service = request.app[SERVICE]
    async with service.db.transaction() as tx:
        await tx.execute(
            "UPDATE sessions SET expires_at = ? WHERE token_hash = ?",
            (service.clock.now().isoformat(), tokens.digest(token.strip())),
        )
        await service.session_cache.revoking(tx)  # a cached copy (any process or node) must not outlive it


def _substitute_signature(response: web.StreamResponse, rule: FaultRule) -> web.StreamResponse:
    """The download's answer with the rule's signature in place of the stored one (a refusal or
    any other answer passes unchanged)."""
    if not (isinstance(response, web.Response) and response.status == 200 and isinstance(response.body, bytes)):
        return response
    answer = json.loads(response.body)
    answer["signature"] = rule.signature
    response.body = json.dumps(answer, ensure_ascii=False).encode("utf-8")
    response.headers.pop("Content-Length", None)  # counted again from the new body
    return response


def _error(request: web.Request, rule: FaultRule) -> web.Response:
    """The rule's refusal, worded for the route's operation as a real one would be (hub.operations)."""
    wait = rule.retry_after
    error = CareplanError(
        rule.code,
        detail=f"障害の模擬（HTTP {rule.status}）",
        fix=f"{wait} 秒後に同じ操作をやり直してください（Retry-After）。" if wait is not None else "",
        detail_en=f"injected fault: HTTP {rule.status}",
        fix_en=f"Retry after {wait} s." if wait is not None else "",
    )
    error = in_route(error, request)
    response = json_response(error.to_wire(), status=rule.status)
    if rule.retry_after is not None:
        response.headers["Retry-After"] = str(rule.retry_after)
    return response


@web.middleware
async def fault_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    from hub.control.plane import CONTROL

    control = request.app.get(CONTROL)
    spared = control is None or request.path.startswith(SPARED)
    hit = None if spared else await control.faults.match(request)
    if hit is None:
        return await handler(request)  # type: ignore[no-any-return]
    rule_id, rule = hit
    request[FAULT] = {"rule": rule_id, **rule.marker()}
    if rule.kind == "http_error":
        return _error(request, rule)
    if rule.kind == "cut_upload":
        return await _cut_upload(request, rule)
    if rule.kind == "latency":
        await asyncio.sleep(rule.latency_ms / 1000)
    elif rule.kind == "expire_session":
        await _expire_session(request)
    response: web.StreamResponse = await handler(request)
    if rule.kind == "lose_answer":
        _close(request)
    elif rule.kind == "cut_download":
        return await _cut_download(request, response)
    elif rule.kind == "substitute_signature":
        return _substitute_signature(response, rule)
    return response
