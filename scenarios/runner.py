"""Run scenarios against a fresh in-process hub each (or against a running hub, `--hub`), and
record what happened at every step.

Rules this module keeps:
1. Every scenario gets its own hub: a temp data directory, its own CRL, its own clock set (frozen)
   to the scenario's `clock:`. Time moves only through that clock; nothing sleeps.
2. Keys are expensive: one CA, one server certificate and one certificate per (office label,
   certificate kind) per process, reused by every scenario. Revocations are per run (each hub
   gets a copy of the CA directory and publishes its own CRL).
3. A step's outcome is the hub's own answer: on refusal its code, message, detail and fix.
4. After the first failing step the rest of the scenario is skipped.
5. Everything a step needs from the hub itself (registering offices, licence changes, the clock,
   revocation) goes through a `HubDriver`: `InProcessHub` uses the service directly, `RemoteHub`
   the admin API of a hub already running (its data directory gives the CA and the admin token).
   A remote run derives its 事業所番号 from the labels and a random nonce, so runs never collide.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import datetime as dt
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from ca.authority import CertificateAuthority, Issued
from ca.cli import write_server_cert
from careplan import licence as lic
from careplan.certificates import CertificateKind, KeyPair
from careplan.errors import CareplanError
from careplan.manifest import Manifest
from careplan.signature import sign
from careplan.standard import parse_file_name
from client.hubclient import HubClient, client_ssl_context
from hub.app import SERVICE
from hub.clock import Clock
from hub.config import HubConfig
from hub.control import steer
from hub.server import RunningHub, admin_token, start_hub
from hub.service import HubService
from scenarios.loader import office_number_for
from scenarios.model import OfficeSpec, Scenario, Step, split_actor

ADMIN_TOKEN = "scenario-admin-token"
PKI_EPOCH = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
LONG_DAYS = 365 * 30
OTHER_CERTIFICATE = "kaigo-other"  # `forge: {other_certificate: true}`: the same office, another certificate


# --- results --------------------------------------------------------------------------------------
@dataclass(slots=True, kw_only=True)
class StepResult:
    index: int
    line: int
    actor: str
    action: str
    expectation: str
    outcome: str  # "ok", "CODE", or what a check found
    passed: bool
    skipped: bool = False
    explanation: dict[str, Any] = field(default_factory=dict)  # code, message, detail, fix
    note: str = ""
    duration: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(slots=True, kw_only=True)
class ScenarioResult:
    name: str
    path: str
    line: int
    tags: tuple[str, ...]
    steps: list[StepResult] = field(default_factory=list)
    error: str = ""  # a problem outside the steps (setup)
    duration: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.error and all(s.passed for s in self.steps)

    @property
    def failing_step(self) -> StepResult | None:
        return next((s for s in self.steps if not s.passed and not s.skipped), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "line": self.line,
            "tags": list(self.tags),
            "passed": self.passed,
            "error": self.error,
            "duration": round(self.duration, 3),
            "steps": [s.to_json() for s in self.steps],
        }


class StepFailed(Exception):
    """A check inside a step found something other than what the scenario expects."""


# --- the process-wide PKI -------------------------------------------------------------------------
class Pki:
    """One CA (and a foreign look-alike) per process; certificates cached by office and kind."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="careplan-scenarios-pki-"))
        self.ca = CertificateAuthority.create(now=PKI_EPOCH, directory=self.directory / "ca", years=40)
        self.server: Issued = self.ca.issue_server(now=PKI_EPOCH, days=LONG_DAYS)
        self._foreign: CertificateAuthority | None = None
        self._cache: dict[tuple[str, str, str], KeyPair] = {}  # (label, number, kind#terminal)

    @property
    def foreign(self) -> CertificateAuthority:
        if self._foreign is None:
            self._foreign = CertificateAuthority.create(
                name="careplan-sim Test Office CA", now=PKI_EPOCH, directory=self.directory / "foreign", years=40
            )
        return self._foreign

    def terminal(self, office: OfficeSpec, certificate: str, terminal: int = 1) -> KeyPair:
        """The certificate installed on an office's terminal (each terminal has its own, R6.1)."""
        key = (office.label, office.number, f"{certificate}#{terminal}")
        if key not in self._cache:
            ca, kind, days, client_auth = self.ca, CertificateKind.KAIGO, LONG_DAYS, True
            now = PKI_EPOCH
            if certificate == "not-yet-valid":  # valid in real time, not on a scenario clock before today
                now = dt.datetime.now(dt.UTC)
                days = 365
            elif certificate == OTHER_CERTIFICATE:  # a second 介護保険証明書 of the same office
                pass
            elif certificate == "foreign":
                ca = self.foreign
            elif certificate == "expired":
                days = 365
            elif certificate == "no-client-auth":
                client_auth = False
            elif certificate not in ("kaigo", "revoked"):
                kind = CertificateKind.from_slug(certificate)
            issued = ca.issue_office(
                office_number=office.number,
                office_user_id=office.user,
                office_name=office.name,
                kind=kind,
                now=now,
                days=days,
                client_auth=client_auth,
            )
            self._cache[key] = KeyPair(certificate=issued.certificate, key=issued.key)
        return self._cache[key]


class RemotePki(Pki):
    """Certificates issued by a running hub's own CA (its data directory's ca/), per scenario run."""

    def __init__(self, ca_directory: Path) -> None:  # no super().__init__: the CA exists already
        self.directory = Path(tempfile.mkdtemp(prefix="careplan-scenarios-remote-"))
        self.ca = CertificateAuthority.load(ca_directory)
        self._foreign = None
        self._cache = {}


_PKI: Pki | None = None


def pki() -> Pki:
    global _PKI
    if _PKI is None:
        _PKI = Pki()
    return _PKI


# --- the hub a run talks to -------------------------------------------------------------------------
class HubDriver(Protocol):
    """What a run needs from the hub beyond the office API."""

    url: str
    ca_file: Path
    pki: Pki

    async def register_office(self, office: OfficeSpec) -> None: ...
    async def change_licence(self, office_number: str, action: str, payment: str | None) -> dict[str, Any]: ...
    async def licence_summary(self, office_number: str) -> tuple[dict[str, Any], dt.date]: ...
    async def set_clock(self, when: dt.datetime) -> dt.datetime: ...
    async def advance_clock(self, delta: dt.timedelta) -> dt.datetime: ...
    async def now(self) -> dt.datetime: ...
    async def revoke(self, serial: int) -> None: ...
    async def faults(self, add: list[dict[str, Any]], *, seed: int, clear: bool) -> None: ...
    async def snapshot(self, action: str, name: str) -> None: ...


_CHANGES: dict[str, Callable[..., lic.Licence]] = {
    "apply": lic.apply,
    "renew": lic.renew,
    "cancel": lic.cancel,
    "pay_invoice": lic.record_invoice_payment,
}


class InProcessHub:
    """A hub started in this process: the service, its clock and a copy of the CA, directly."""

    def __init__(self, hub: RunningHub, clock: Clock, ca: CertificateAuthority, ca_file: Path) -> None:
        self.hub = hub
        self.clock = clock
        self.ca = ca
        self.url = hub.url
        self.ca_file = ca_file
        self.pki = pki()

    @property
    def service(self) -> HubService:
        return self.hub.app[SERVICE]

    async def register_office(self, office: OfficeSpec) -> None:
        await self.service.register_office(
            office_number=office.number,
            name=office.name,
            service_kind=office.kind,
            office_user_id=office.user,
            password=office.password,
            licence=office.licence,
        )

    async def change_licence(self, office_number: str, action: str, payment: str | None) -> dict[str, Any]:
        current = await self.service.licence(office_number)
        assert current is not None
        kwargs = {"payment": lic.Payment(payment)} if payment else {}
        updated = _CHANGES[action](current, on=self.service.today(), **kwargs)
        await self.service.save_licence(updated)
        return lic.summary(updated, self.service.today())

    async def licence_summary(self, office_number: str) -> tuple[dict[str, Any], dt.date]:
        current = await self.service.licence(office_number)
        assert current is not None
        return lic.summary(current, self.service.today()), self.service.today()

    async def set_clock(self, when: dt.datetime) -> dt.datetime:
        self.clock.set(when, frozen=True)
        return self.clock.now()

    async def advance_clock(self, delta: dt.timedelta) -> dt.datetime:
        self.clock.advance(delta)
        return self.clock.now()

    async def now(self) -> dt.datetime:
        return self.clock.now()

    async def revoke(self, serial: int) -> None:
        self.ca.revoke(serial, now=self.clock.now())

    async def faults(self, add: list[dict[str, Any]], *, seed: int, clear: bool) -> None:
        await steer.change_faults(self.hub.app[steer.CONTROL], add, seed=seed, clear=clear, now=self.clock.now())

    async def snapshot(self, action: str, name: str) -> None:
        control = self.hub.app[steer.CONTROL]
        await (steer.save_snapshot(control, name) if action == "save" else steer.restore_snapshot(control, name))


class RemoteHub:
    """A hub already running (`careplan up`, `careplan hub serve`), driven through its admin API."""

    def __init__(self, url: str, data: Path, *, keep: bool = False) -> None:
        self.keep = keep  # leave the run's offices and transmissions on the hub (careplan demo --hub)
        self._snapshot: str | None = None
        self.url = url.rstrip("/")
        self.data = data
        self.ca_file = data / "ca" / "ca.pem"
        self.pki: Pki = RemotePki(data / "ca")
        self.token = admin_token(HubConfig(data_dir=data))
        self._session: aiohttp.ClientSession | None = None
        self._clock_before: dict[str, Any] | None = None

    async def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=client_ssl_context(self.ca_file, None)),
                headers={"Authorization": f"Bearer {self.token}"},
            )
        async with self._session.request(method, self.url + path, json=body) as response:
            try:
                answer = await response.json(content_type=None)
            except ValueError:
                answer = None
            if response.status >= 400:
                if isinstance(answer, dict) and "code" in answer:
                    raise CareplanError.from_wire(answer)
                raise CareplanError("INTERNAL", detail=f"{method} {path}: HTTP {response.status}")
            if not isinstance(answer, dict):
                raise CareplanError("INTERNAL", detail=f"{method} {path}: the hub answered no JSON object")
            return answer

    async def open(self) -> None:
        self._clock_before = await self._call("GET", "/admin/v1/clock")
        if not self.keep:  # the hub as this run found it, to return to afterwards
            self._snapshot = f"_scenario-run-{secrets.token_hex(6)}"
            await self._call("POST", "/admin/v1/snapshots", {"name": self._snapshot})

    async def close(self) -> None:
        try:
            if self._snapshot is not None:  # offices, transmissions, clock: all as before the run
                await self._call("POST", f"/admin/v1/snapshots/{self._snapshot}/restore")
                await self._call("DELETE", f"/admin/v1/snapshots/{self._snapshot}")
                self._clock_before = None
            before = self._clock_before
            if before is not None:  # leave the hub's clock as this run found it
                if before.get("mode") == "frozen":
                    await self._call("POST", "/admin/v1/clock", {"set": before["now"], "frozen": True})
                else:
                    await self._call("POST", "/admin/v1/clock", {"reset": True})
                    offset = float(before.get("offset_seconds") or 0)
                    if offset:
                        await self._call("POST", "/admin/v1/clock", {"advance_seconds": offset})
        finally:
            if self._session is not None:
                await self._session.close()
                self._session = None

    async def register_office(self, office: OfficeSpec) -> None:
        await self._call(
            "POST",
            "/admin/v1/offices",
            {
                "office_number": office.number,
                "name": office.name,
                "service_kind": office.kind,
                "office_user_id": office.user,
                "password": office.password,
                "licence": office.licence,
            },
        )

    async def change_licence(self, office_number: str, action: str, payment: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"action": action}
        if payment:
            body["payment"] = payment
        return await self._call("POST", f"/admin/v1/offices/{office_number}/licence", body)

    async def licence_summary(self, office_number: str) -> tuple[dict[str, Any], dt.date]:
        office = await self._call("GET", f"/admin/v1/offices/{office_number}")
        return dict(office["licence"]), (await self.now()).astimezone(_JST).date()

    async def _clock(self, body: Mapping[str, Any]) -> dt.datetime:
        return dt.datetime.fromisoformat(str((await self._call("POST", "/admin/v1/clock", body))["now"]))

    async def set_clock(self, when: dt.datetime) -> dt.datetime:
        return await self._clock({"set": when.isoformat(), "frozen": True})

    async def advance_clock(self, delta: dt.timedelta) -> dt.datetime:
        return await self._clock({"advance_seconds": delta.total_seconds()})

    async def now(self) -> dt.datetime:
        return dt.datetime.fromisoformat(str((await self._call("GET", "/admin/v1/clock"))["now"]))

    async def revoke(self, serial: int) -> None:
        self.pki.ca.revoke(serial, now=await self.now())  # the hub re-reads ca/crl.pem on its own

    async def faults(self, add: list[dict[str, Any]], *, seed: int, clear: bool) -> None:
        if clear:
            await self._call("DELETE", "/admin/v1/faults")
        if add:
            await self._call("POST", "/admin/v1/faults", {"seed": seed, "rules": add})

    async def snapshot(self, action: str, name: str) -> None:
        if action == "save":
            await self._call("POST", "/admin/v1/snapshots", {"name": name})
        else:
            await self._call("POST", f"/admin/v1/snapshots/{name}/restore")


_JST = dt.timezone(dt.timedelta(hours=9))


def namespaced(scenario: Scenario, nonce: str) -> Scenario:
    """The scenario with 事業所番号 derived from its labels and `nonce`: unique on a shared hub."""
    offices: list[OfficeSpec] = []
    taken: set[str] = set()
    for office in scenario.offices:
        salt = 0
        number = office_number_for(f"{nonce}:{office.label}")
        while number in taken:
            salt += 1
            number = office_number_for(f"{nonce}:{salt}:{office.label}")
        taken.add(number)
        offices.append(dataclasses.replace(office, number=number))
    return dataclasses.replace(scenario, offices=tuple(offices))


# --- one run --------------------------------------------------------------------------------------
@dataclass(slots=True)
class Actor:
    office: OfficeSpec
    keypair: KeyPair
    client: HubClient | None = None
    user: str = ""
    password: str = ""
    logged_in: bool = False


_VAR = re.compile(r"\$\{([^}]+)\}")


class Run:
    def __init__(self, scenario: Scenario, data: Path, driver: HubDriver) -> None:
        self.scenario = scenario
        self.data = data  # a scratch directory (downloads)
        self.driver = driver
        self.variables: dict[str, Any] = {}
        for office in scenario.offices:  # ${居宅A.number}, ${居宅A.user}, ${居宅A.password}
            self.variables |= {
                f"{office.label}.number": office.number,
                f"{office.label}.user": office.user,
                f"{office.label}.password": office.password,
            }
        self.actors: dict[str, Actor] = {}
        # transmission id -> (manifest, signature, files) of each upload, for `send: {replay: ${tid}}`
        self.uploads: dict[str, tuple[bytes, bytes, list[tuple[str, bytes]]]] = {}

    def ca_file(self) -> Path:
        return self.driver.ca_file

    # --- variables ---------------------------------------------------------------------------
    def expand(self, value: Any) -> Any:
        if isinstance(value, str):
            whole = _VAR.fullmatch(value)
            if whole:
                return self.variable(whole.group(1))
            return _VAR.sub(lambda m: str(self.variable(m.group(1))), value)
        if isinstance(value, Mapping):
            return {self.expand(k): self.expand(v) for k, v in value.items()}
        if isinstance(value, tuple | list):
            return tuple(self.expand(v) for v in value)
        return value

    def variable(self, name: str) -> Any:
        if name not in self.variables:
            raise StepFailed(f"no variable ${{{name}}} (save: {name} on an earlier step)")
        return self.variables[name]

    def number(self, label: str) -> str:
        try:
            return self.scenario.office(label).number
        except KeyError:
            raise StepFailed(f"unknown office {label!r}") from None

    # --- actors -------------------------------------------------------------------------------
    def actor(self, label: str) -> Actor:
        """An office on one of its terminals (`居宅A`, `居宅A#2`): its own certificate and session."""
        if label not in self.actors:
            office_label, terminal = split_actor(label)
            office = self.scenario.office(office_label)
            self.actors[label] = Actor(
                office=office,
                keypair=self.driver.pki.terminal(office, office.certificate, terminal),
                user=office.user,
                password=office.password,
            )
        return self.actors[label]

    async def client(self, actor: Actor) -> HubClient:
        if actor.client is None:
            actor.client = HubClient(url=self.driver.url, ca_file=self.ca_file(), keypair=actor.keypair)
            await actor.client.__aenter__()
        return actor.client

    async def drop_client(self, actor: Actor) -> None:
        if actor.client is not None:
            await actor.client.__aexit__(None, None, None)
            actor.client = None
        actor.logged_in = False

    async def session(self, actor: Actor) -> HubClient:
        client = await self.client(actor)
        if not actor.logged_in:
            await client.login(actor.user, actor.password)
            actor.logged_in = True
        return client

    async def close(self) -> None:
        for actor in self.actors.values():
            await self.drop_client(actor)

    # --- actions ------------------------------------------------------------------------------
    async def do(self, step: Step) -> tuple[Any, str]:
        """Perform the step; returns (value to save, a note for the report)."""
        argument = self.expand(step.argument)
        action: Callable[[Step, Any], Any] = getattr(self, "do_" + step.action)
        return await action(step, argument)

    async def do_clock(self, step: Step, argument: Mapping[str, Any]) -> tuple[Any, str]:
        if "set" in argument:
            from scenarios.loader import _instant, _Where

            now = await self.driver.set_clock(_instant(argument["set"], _Where(self.scenario.path), step.line))
        else:
            now = await self.driver.advance_clock(dt.timedelta(**{k: float(v) for k, v in argument["advance"].items()}))
        for actor in self.actors.values():  # terminals keep their clocks right; sessions may have lapsed
            await self.drop_client(actor)
        now = now.astimezone(_JST)
        return now.isoformat(), f"hub time {now.isoformat()}"

    async def do_login(self, step: Step, argument: Mapping[str, Any] | None) -> tuple[Any, str]:
        actor = self.actor(step.actor or "")
        argument = argument or {}
        await self.drop_client(actor)
        if "certificate" in argument:
            actor.keypair = self.driver.pki.terminal(actor.office, str(argument["certificate"]))
        actor.user = str(argument.get("user", actor.office.user))
        actor.password = str(argument.get("password", actor.office.password))
        client = await self.client(actor)
        result = await client.login(actor.user, actor.password)
        actor.logged_in = True
        return result.get("user_id", actor.user), f"logged in as {actor.user}"

    async def do_logout(self, step: Step, argument: Any) -> tuple[Any, str]:
        actor = self.actor(step.actor or "")
        client = await self.session(actor)
        await client.logout()
        actor.logged_in = False
        return None, "logged out"

    async def do_faults(self, step: Step, argument: Mapping[str, Any]) -> tuple[Any, str]:
        """`faults: {add: [rule, …], seed: N, clear: true}`; a rule's `office` is a label."""
        rules = [
            dict(r) | ({"office": self.number(str(r["office"]))} if "office" in r else {})
            for r in argument.get("add", ())
        ]
        await self.driver.faults(rules, seed=int(argument.get("seed", 0)), clear=bool(argument.get("clear")))
        return len(rules), f"{len(rules)} fault rule(s) added" + (" after clearing" if argument.get("clear") else "")

    async def do_snapshot(self, step: Step, argument: Mapping[str, Any]) -> tuple[Any, str]:
        """`snapshot: {save: NAME}` or `{restore: NAME}`: the whole hub's state."""
        [(action, name)] = argument.items()
        await self.driver.snapshot(str(action), str(name))
        return name, f"snapshot {name} {'saved' if action == 'save' else 'restored'}"

    async def do_revoke(self, step: Step, argument: str) -> tuple[Any, str]:
        actor = self.actor(argument)
        serial = actor.keypair.certificate.serial_number
        await self.driver.revoke(serial)
        return format(serial, "x"), f"revoked certificate {serial:x} of {argument}"

    def files_for(self, actor: Actor, argument: Mapping[str, Any]) -> tuple[list[tuple[str, bytes]], str]:
        from fixtures.samples import sample_actuals_set, sample_plan_set

        month = str(argument.get("month", "202504"))
        me = actor.office
        if "plan_to" in argument:
            to = self.scenario.office(str(argument["plan_to"]))
            files = sample_plan_set(
                sender=me.number,
                sender_kind=me.kind,
                recipient=to.number,
                recipient_kind=to.kind,
                month=month,
                created=str(argument.get("created", "20250420093000")),
            )
            return list(files.items()), to.number
        if "actuals_to" in argument:
            to = self.scenario.office(str(argument["actuals_to"]))
            files = sample_actuals_set(
                sender=me.number, sender_kind=me.kind, recipient=to.number, recipient_kind=to.kind, month=month
            )
            return list(files.items()), to.number
        to_number = self.number(str(argument["to"]))
        if "files" in argument:
            base = self.scenario.path.parent
            paths = [Path(p) if Path(p).is_absolute() else base / p for p in argument["files"]]
            missing = [str(p) for p in paths if not p.is_file()]
            if missing:
                raise StepFailed(f"no such file: {', '.join(missing)}")
            return [(p.name, p.read_bytes()) for p in paths], to_number
        if "broken" in argument:
            from fixtures.broken import by_name

            files = by_name(str(argument["broken"])).make()
        else:
            files = _generated(tuple(str(x) for x in argument["generated"]))
        return _rebase(files, sender=me.number, recipient=to_number), to_number

    async def do_send(self, step: Step, argument: Mapping[str, Any]) -> tuple[Any, str]:
        actor = self.actor(step.actor or "")
        if "replay" in argument:  # the stored signed manifest and files again, under another signature
            earlier = str(argument["replay"])
            if earlier not in self.uploads:
                raise StepFailed(f"nothing to replay: {earlier} was not uploaded in this run (precheck: false)")
            manifest, _, files = self.uploads[earlier]
            client = await self.session(actor)
            # Byte-identical bytes would be an idempotent retry (answered as already stored); a
            # replay is the same manifest under other signature bytes.
            signature = sign(manifest, client.keypair.certificate, client.keypair.key, capabilities=False)
            result = await client.upload(manifest, signature, files)
            return result["transmission_id"], f"replayed {earlier}"
        forge = argument.get("forge") or {}
        sender = self.actor(str(forge["claim_sender"])) if "claim_sender" in forge else actor
        files, to = self.files_for(sender, argument)
        client = await self.session(actor)
        attack = {"forge", "tamper", "signed_at", "manifest_to"} & set(argument)
        precheck = bool(argument.get("precheck", "broken" not in argument and "files" not in argument)) and not attack
        if precheck:
            result = await client.send(files, to=to, transmission_id=argument.get("id"))
        else:  # straight to the hub: its own checks answer
            signed_at = await self.driver.now()
            if "signed_at" in argument:
                signed_at += dt.timedelta(**{k: float(v) for k, v in argument["signed_at"].items()})
            tid = str(argument.get("id") or _new_id())
            manifest = Manifest.build(
                transmission_id=tid,
                sender=sender.office.number,
                recipient=self.number(str(argument["manifest_to"])) if "manifest_to" in argument else to,
                signed_at=signed_at,
                files=files,
            ).to_bytes()
            signer = actor.keypair
            if "signed_by" in forge:
                signer = self.actor(str(forge["signed_by"])).keypair
            elif forge.get("other_certificate"):
                signer = self.driver.pki.terminal(actor.office, OTHER_CERTIFICATE)
            signature = sign(manifest, signer.certificate, signer.key)
            if argument.get("tamper") == "file":
                name, data = files[0]
                files = [(name, data + b" "), *files[1:]]
            elif argument.get("tamper") == "manifest":  # after signing: the signature no longer fits
                manifest = manifest.replace(tid.encode("ascii"), _new_id().encode("ascii"))
            result = await client.upload(manifest, signature, files)
            self.uploads[str(result["transmission_id"])] = (manifest, signature, files)
        tid = result["transmission_id"]
        return tid, f"transmission {tid} ({len(files)} files)"

    async def do_bulk_send(self, step: Step, argument: Mapping[str, Any]) -> tuple[Any, str]:
        actor = self.actor(step.actor or "")
        files: list[tuple[str, bytes]] = []
        for created in _serials(int(argument.get("count", 1))):  # `count` transmissions per office
            for label in argument.get("plans_to") or ():
                files += self.files_for(actor, {"plan_to": label, "created": created})[0]
        if argument.get("files"):
            files += self.files_for(actor, {"files": argument["files"], "to": actor.office.label})[0]
        client = await self.session(actor)
        result = await client.bulk_send(files, send_valid=bool(argument.get("send_valid", False)))
        sent, failed = len(result.sent), len(result.failed)
        for key, got in (("expect_sent", sent), ("expect_failed", failed)):
            if key in argument and int(argument[key]) != got:
                raise StepFailed(f"{key} {argument[key]}, got {got}")
        return [r["transmission_id"] for r in result.sent], f"sent {sent}, failed {failed}"

    async def do_inbox(self, step: Step, argument: Mapping[str, Any] | None) -> tuple[Any, str]:
        argument = argument or {}
        if "steal_session" in argument:  # this terminal's certificate with another office's session token
            owner = await self.session(self.actor(str(argument["steal_session"])))
            actor = self.actor(step.actor or "")
            async with HubClient(
                url=self.driver.url, ca_file=self.ca_file(), keypair=actor.keypair, token=owner.token
            ) as thief:
                rows = await thief.inbox(include_downloaded=bool(argument.get("all", False)))
        else:
            client = await self.session(self.actor(step.actor or ""))
            rows = await client.inbox(include_downloaded=bool(argument.get("all", False)))
        ids = [r["transmission_id"] for r in rows]
        if "expect_ids" in argument and sorted(argument["expect_ids"]) != sorted(ids):
            raise StepFailed(f"inbox holds {ids}, expected {list(argument['expect_ids'])}")
        if "expect_count" in argument and int(argument["expect_count"]) != len(ids):
            raise StepFailed(f"inbox holds {len(ids)}, expected {argument['expect_count']}")
        return ids, f"{len(ids)} waiting"

    async def do_download(self, step: Step, argument: Any) -> tuple[Any, str]:
        """`download: ID | all`, or `{id: ID, acknowledge: false}`: fetched and verified but not
        acknowledged, as when a download is cut off; the hub keeps it (see `acknowledge`)."""
        acknowledge = True
        if isinstance(argument, Mapping):
            acknowledge = bool(argument.get("acknowledge", True))
            argument = argument.get("id", "all")
        client = await self.session(self.actor(step.actor or ""))
        ids = [r["transmission_id"] for r in await client.inbox()] if argument == "all" else [str(argument)]
        out = self.data / "downloads" / (step.actor or "")
        names: list[str] = []
        for tid in ids:
            downloaded = await client.download(tid, out, acknowledge=acknowledge)
            names += [p.name for p in downloaded.files]
        verb = "downloaded" if acknowledge else "fetched (not acknowledged)"
        return (ids if argument == "all" else ids[0]), f"{verb} {len(names)} files: {', '.join(names)}"

    async def do_acknowledge(self, step: Step, argument: Any) -> tuple[Any, str]:
        """The receipt for a transmission fetched earlier: the hub then forgets its data (R5.2)."""
        client = await self.session(self.actor(step.actor or ""))
        receipt = await client.acknowledge(str(argument))
        return receipt["transmission_id"], f"acknowledged: {receipt['status']} at {receipt['downloaded_at']}"

    async def do_sent(self, step: Step, argument: Mapping[str, Any] | None) -> tuple[Any, str]:
        argument = argument or {}
        client = await self.session(self.actor(step.actor or ""))
        rows = {r["transmission_id"]: r for r in await client.sent()}
        for tid, status in (argument.get("expect_status") or {}).items():
            if tid not in rows:
                raise StepFailed(f"{tid} is not in the send list")
            if rows[tid]["status"] != status:
                raise StepFailed(f"{tid} is {rows[tid]['status']}, expected {status}")
        if "expect_count" in argument and int(argument["expect_count"]) != len(rows):
            raise StepFailed(f"send list holds {len(rows)}, expected {argument['expect_count']}")
        note = ", ".join(f"{tid[:8]}… {r['status']}" for tid, r in rows.items())
        return {tid: r["status"] for tid, r in rows.items()}, note

    async def _licence_change(self, step: Step, argument: Any, action: str) -> tuple[Any, str]:
        number = self.actor(step.actor or "").office.number
        payment = lic.Payment(argument) if argument else None  # refuses an unknown payment as before
        wire = {lic.Payment.DEDUCTION: "deduction", lic.Payment.INVOICE: "invoice"}[payment] if payment else None
        summary = await self.driver.change_licence(number, action, wire)
        note = f"{summary['state']}, claim {summary['claim_month']}, deduction {summary['deduction_date']}"
        return summary["state"], note

    async def do_apply(self, step: Step, argument: Any) -> tuple[Any, str]:
        return await self._licence_change(step, argument, "apply")

    async def do_renew(self, step: Step, argument: Any) -> tuple[Any, str]:
        return await self._licence_change(step, argument, "renew")

    async def do_cancel(self, step: Step, argument: Any) -> tuple[Any, str]:
        return await self._licence_change(step, None, "cancel")

    async def do_pay_invoice(self, step: Step, argument: Any) -> tuple[Any, str]:
        """The 国保連合会 records the payment of the office's open invoice today."""
        return await self._licence_change(step, None, "pay_invoice")

    async def do_licence(self, step: Step, argument: Mapping[str, Any] | None) -> tuple[Any, str]:
        argument = argument or {}
        number = self.actor(step.actor or "").office.number
        summary, today = await self.driver.licence_summary(number)
        for key, field_name in (("expect_state", "state"), ("expect_expires", "expires"), ("expect_period", "period")):
            if key in argument and str(argument[key]) != str(summary[field_name]):
                raise StepFailed(f"{field_name} is {summary[field_name]!r}, expected {argument[key]!r}")
        note = f"{summary['state']}, 期限 {summary['expires']}, period {summary['period']} (on {today})"
        return summary["state"], note


# The seed of generated fixtures for this run (a context variable: asyncio.run copies it).
GENERATED_SEED: contextvars.ContextVar[int] = contextvars.ContextVar("generated_seed", default=2024)


def _serials(count: int) -> list[str]:
    """`count` distinct ファイル連番 (作成日時 YYYYMMDDhhmmss), a minute apart from 2025-04-20 09:30."""
    first = dt.datetime(2025, 4, 20, 9, 30)
    return [(first + dt.timedelta(minutes=i)).strftime("%Y%m%d%H%M%S") for i in range(count)]


def _new_id() -> str:
    import uuid

    return uuid.uuid4().hex


def _generated(file_ids: tuple[str, ...]) -> dict[str, bytes]:
    from fixtures.broken import unit

    try:
        return unit(*file_ids, seed=GENERATED_SEED.get())
    except KeyError:
        raise StepFailed(f"the generated data set has no transmission of exactly {', '.join(file_ids)}") from None


def _rebase(files: Mapping[str, bytes], *, sender: str, recipient: str) -> list[tuple[str, bytes]]:
    """Generated files name generated offices: put the scenario's sender and recipient in their place
    (in names and contents; 事業所番号 are ASCII digits in every encoding)."""
    mapping: dict[str, str] = {}
    for name in files:
        try:
            parsed = parse_file_name(name)
        except Exception:  # an attachment or a deliberately broken name
            continue
        if getattr(parsed, "sender", None):
            mapping.setdefault(parsed.sender, sender)
        if getattr(parsed, "recipient", None) and parsed.recipient != parsed.sender:
            mapping.setdefault(parsed.recipient, recipient)
    rebased = []
    for name, data in files.items():
        for old, new in mapping.items():
            name = name.replace(old, new)
            data = data.replace(old.encode("ascii"), new.encode("ascii"))
        rebased.append((name, data))
    return rebased


# --- running ----------------------------------------------------------------------------------------
def _explanation(error: CareplanError) -> dict[str, Any]:
    return {"code": error.code, "message": error.message, "detail": error.detail, "fix": error.fix}


StepHook = Callable[[Step, StepResult | None], None]
"""Called with (step, None) just before a step runs and with (step, its result) just after;
`careplan demo` narrates through it. Skipped steps are reported after only."""


async def run_scenario(
    scenario: Scenario, on_step: StepHook | None = None, *, hub: tuple[str, Path] | None = None, keep: bool = False
) -> ScenarioResult:
    """Run one scenario: against a fresh in-process hub, or with `hub` = (URL, data directory)
    against that running hub (its 事業所番号 namespaced by a random nonce)."""
    started = time.perf_counter()
    result = ScenarioResult(name=scenario.name, path=str(scenario.path), line=scenario.line, tags=scenario.tags)
    if hub is not None:
        await _run_remote(namespaced(scenario, secrets.token_hex(8)), result, on_step, hub[0], hub[1], keep=keep)
        result.duration = time.perf_counter() - started
        return result
    shared = pki()
    with tempfile.TemporaryDirectory(prefix="careplan-scenario-") as tmp:
        data = Path(tmp) / "hub"
        data.mkdir()
        forging = any(s.action == "send" and "forge" in (s.argument or {}) for s in scenario.steps)
        for office in scenario.offices:  # issue before copying the CA: its index must know them
            shared.terminal(office, office.certificate)
            if forging:
                shared.terminal(office, OTHER_CERTIFICATE)
        shutil.copytree(shared.ca.directory, data / "ca")
        ca = CertificateAuthority.load(data / "ca")
        write_server_cert(shared.server.cert_pem(), shared.server.key_pem(), data / "tls")
        (data / "admin-token").write_text(ADMIN_TOKEN)
        clock = Clock()
        clock.set(scenario.clock, frozen=True)
        running = await start_hub(
            HubConfig(data_dir=data, port=0, admin_token=ADMIN_TOKEN), clock=clock, announce_ready=False
        )
        run = Run(scenario, data, InProcessHub(running, clock, ca, data / "ca" / "ca.pem"))
        try:
            await _setup_and_steps(run, result, on_step)
        except Exception as exc:  # setup went wrong: report, do not crash the suite
            result.error = f"{type(exc).__name__}: {exc}"
        finally:
            await run.close()
            await running.stop()
    result.duration = time.perf_counter() - started
    return result


async def _run_remote(
    scenario: Scenario, result: ScenarioResult, on_step: StepHook | None, url: str, data: Path, *, keep: bool = False
) -> None:
    with tempfile.TemporaryDirectory(prefix="careplan-scenario-remote-") as tmp:
        driver: RemoteHub | None = None
        run: Run | None = None
        try:
            driver = RemoteHub(url, data, keep=keep)
            await driver.open()
            await driver.set_clock(scenario.clock)
            run = Run(scenario, Path(tmp), driver)
            await _setup_and_steps(run, result, on_step)
        except Exception as exc:  # setup went wrong: report, do not crash the suite
            result.error = f"{type(exc).__name__}: {exc}"
        finally:
            if run is not None:
                await run.close()
            if driver is not None:
                try:
                    await driver.close()
                except Exception as exc:
                    result.error = result.error or f"restoring the hub's clock: {type(exc).__name__}: {exc}"


async def _setup_and_steps(run: Run, result: ScenarioResult, on_step: StepHook | None) -> None:
    driver = run.driver
    for office in run.scenario.offices:
        await driver.register_office(office)
        if office.certificate == "revoked":
            await driver.revoke(driver.pki.terminal(office, "revoked").certificate.serial_number)
    failed = False
    for step in run.scenario.steps:
        if failed:
            result.steps.append(_skipped(step))
            if on_step is not None:
                on_step(step, result.steps[-1])
            continue
        if on_step is not None:
            on_step(step, None)
        step_result = await _run_step(run, step)
        result.steps.append(step_result)
        if on_step is not None:
            on_step(step, step_result)
        failed = not step_result.passed


def _skipped(step: Step) -> StepResult:
    return StepResult(
        index=step.index,
        line=step.line,
        actor=step.actor or "",
        action=step.describe(),
        expectation=step.expect.describe(),
        outcome="skipped",
        passed=False,
        skipped=True,
    )


async def _run_step(run: Run, step: Step) -> StepResult:
    started = time.perf_counter()
    outcome, passed, explanation, note = "ok", True, {}, ""
    try:
        value, note = await run.do(step)
        if step.save:
            run.variables[step.save] = value
        if not step.expect.ok:
            passed, note = False, f"expected {step.expect.error}, but it succeeded ({note})"
    except CareplanError as error:
        outcome, explanation = error.code, _explanation(error)
        if step.expect.ok:
            passed, note = False, f"refused with {error.code}: {error.message}"
        elif error.code != step.expect.error:
            passed, note = False, f"expected {step.expect.error}, got {error.code}"
        elif not step.expect.message_matches(error.message):
            passed, note = False, f"message differs: expected 「{step.expect.message}」, got 「{error.message}」"
        else:
            note = error.detail
    except StepFailed as exc:
        outcome, passed, note = "mismatch", False, str(exc)
    return StepResult(
        index=step.index,
        line=step.line,
        actor=step.actor or "",
        action=step.describe(),
        expectation=step.expect.describe(),
        outcome=outcome,
        passed=passed,
        explanation=explanation,
        note=note,
        duration=round(time.perf_counter() - started, 4),
    )


async def run_all(
    scenarios: Sequence[Scenario],
    on_step: StepHook | None = None,
    *,
    hub: tuple[str, Path] | None = None,
    keep: bool = False,
) -> list[ScenarioResult]:
    return [await run_scenario(s, on_step, hub=hub, keep=keep) for s in scenarios]


def run(
    scenarios: Iterable[Scenario],
    on_step: StepHook | None = None,
    *,
    hub: tuple[str, Path] | None = None,
    seed: int | None = None,
    keep: bool = False,
) -> list[ScenarioResult]:
    """Run the scenarios; `hub` = (URL, data directory) runs them against that running hub, which
    is restored afterwards to how the run found it unless `keep`; `seed` picks the generated data
    set that `send: {generated: […]}` draws from (same seed, same bytes)."""
    token = GENERATED_SEED.set(GENERATED_SEED.get() if seed is None else seed)
    try:
        return asyncio.run(run_all(list(scenarios), on_step, hub=hub, keep=keep))
    finally:
        GENERATED_SEED.reset(token)
