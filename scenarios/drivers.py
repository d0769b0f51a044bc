"""The hub a run talks to: everything a step needs from the hub itself beyond the office API
(registering offices, licence changes, the clock, revocation) goes through a `HubDriver`.
`InProcessHub` uses the service directly; `RemoteHub` the admin API of a hub already running (its
data directory gives the CA and the admin token)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp

from ca.authority import CertificateAuthority
from careplan import licence as lic
from careplan.errors import CareplanError, Operation
from client.hubclient import client_ssl_context, hub_unreachable
from hub.clock import Clock, refused_move
from hub.control import steer
from hub.datadir import presented_admin_token
from hub.keys import SERVICE
from hub.server import RunningHub
from hub.service import HubService
from scenarios.model import JST, OfficeSpec
from scenarios.pki import Pki, RemotePki, pki


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
        with refused_move():  # as the admin API refuses it
            self.clock.set(when, frozen=True)
        return self.clock.now()

    async def advance_clock(self, delta: dt.timedelta) -> dt.datetime:
        with refused_move():  # as the admin API refuses it
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
        self.keep = keep  # leave a run's offices and transmissions on the hub (careplan demo --hub --keep)
        self._snapshot: str | None = None
        self.url = url.rstrip("/")
        self.data = data
        self.ca_file = data / "ca" / "ca.pem"
        self.pki: Pki = RemotePki(data / "ca")
        self.token = presented_admin_token(data)  # never made: the hub refuses one it did not make
        self._session: aiohttp.ClientSession | None = None
        self._clock_before: dict[str, Any] | None = None
        # A scenario's `snapshot` and `faults` steps reach state outside the run's snapshot: its
        # snapshots are its own (named under the run, deleted at the end, never one of the hub's),
        # and the fault rules (control database) are put back as the run found them.
        self._run = f"_scenario-run-{secrets.token_hex(6)}"
        self._snapshots: set[str] = set()
        self._faults_before: list[dict[str, Any]] = []
        self._faults_changed = False

    async def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One admin API call; a refusal raises the hub's CareplanError (NOT_FOUND: no such route)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=client_ssl_context(self.ca_file, None)),
                headers={"Authorization": f"Bearer {self.token}"},
            )
        try:
            async with self._session.request(method, self.url + path, json=body) as response:
                return await self._answer(response, method, path)
        except (aiohttp.ClientError, TimeoutError) as exc:  # the hub stopped: as the client says it
            raise hub_unreachable(self.url, exc, Operation.ADMIN) from None

    @staticmethod
    async def _answer(response: aiohttp.ClientResponse, method: str, path: str) -> dict[str, Any]:
        try:
            answer = await response.json(content_type=None)
        except ValueError:
            answer = None
        if response.status >= 400:
            if isinstance(answer, dict) and "code" in answer:
                raise CareplanError.from_wire(answer)
            raise CareplanError(
                "INTERNAL",
                detail=f"{method} {path}: HTTP {response.status} が、エラーの JSON なしで返りました",
                detail_en=f"{method} {path}: HTTP {response.status}",
            )
        if not isinstance(answer, dict):
            raise CareplanError(
                "INTERNAL",
                detail=f"{method} {path}: ハブの応答が JSON オブジェクトではありません",
                detail_en=f"{method} {path}: the hub answered no JSON object",
            )
        return answer

    async def open(self) -> None:
        self._clock_before = await self.call("GET", "/admin/v1/clock")
        self._faults_before = list((await self.call("GET", "/admin/v1/faults"))["faults"])
        if not self.keep:  # the hub as this run found it, to return to afterwards
            self._snapshot = self._run
            await self.call("POST", "/admin/v1/snapshots", {"name": self._snapshot})

    @property
    def kept_snapshot(self) -> str | None:
        """The snapshot of the hub as the run found it, while it has not been restored."""
        return self._snapshot

    async def close(self) -> None:
        try:
            if self._snapshot is not None:  # offices, transmissions, clock: all as before the run
                await self.call("POST", f"/admin/v1/snapshots/{self._snapshot}/restore")
                await self.call("DELETE", f"/admin/v1/snapshots/{self._snapshot}")
                self._snapshot = self._clock_before = None
            for name in sorted(self._snapshots):
                await self.call("DELETE", f"/admin/v1/snapshots/{quote(name, safe='')}")
                self._snapshots.discard(name)
            if self._faults_changed:
                await self._put_back_faults(self._faults_before)
                self._faults_changed = False
            before = self._clock_before
            if before is not None:  # leave the hub's clock as this run found it
                if before.get("mode") == "frozen":
                    await self.call("POST", "/admin/v1/clock", {"set": before["now"], "frozen": True})
                else:
                    await self.call("POST", "/admin/v1/clock", {"reset": True})
                    offset = float(before.get("offset_seconds") or 0)
                    if offset:
                        await self.call("POST", "/admin/v1/clock", {"advance_seconds": offset})
        finally:
            if self._session is not None:
                await self._session.close()
                self._session = None

    async def register_office(self, office: OfficeSpec) -> None:
        await self.call(
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
        return await self.call("POST", f"/admin/v1/offices/{office_number}/licence", body)

    async def licence_summary(self, office_number: str) -> tuple[dict[str, Any], dt.date]:
        office = await self.call("GET", f"/admin/v1/offices/{office_number}")
        return dict(office["licence"]), (await self.now()).astimezone(JST).date()

    async def _clock(self, body: Mapping[str, Any]) -> dt.datetime:
        return dt.datetime.fromisoformat(str((await self.call("POST", "/admin/v1/clock", body))["now"]))

    async def set_clock(self, when: dt.datetime) -> dt.datetime:
        return await self._clock({"set": when.isoformat(), "frozen": True})

    async def advance_clock(self, delta: dt.timedelta) -> dt.datetime:
        return await self._clock({"advance_seconds": delta.total_seconds()})

    async def now(self) -> dt.datetime:
        return dt.datetime.fromisoformat(str((await self.call("GET", "/admin/v1/clock"))["now"]))

    async def revoke(self, serial: int) -> None:
        self.pki.ca.revoke(serial, now=await self.now())  # the hub re-reads ca/crl.pem on its own

    async def faults(self, add: list[dict[str, Any]], *, seed: int, clear: bool) -> None:
        self._faults_changed = True
        if clear:
            await self.call("DELETE", "/admin/v1/faults")
        if add:
            await self.call("POST", "/admin/v1/faults", {"seed": seed, "rules": add})

    async def _put_back_faults(self, before: list[dict[str, Any]]) -> None:
        """The rules the run found, each with the count it had left (its match counter, and so its
        probability draws, start again: the admin API adds rules, it cannot restore counters)."""
        await self.call("DELETE", "/admin/v1/faults")
        for entry in before:
            if entry.get("remaining") == 0:
                continue  # spent: it would never match again
            rule = dict(entry["rule"]) | {"count": entry.get("remaining")}
            await self.call("POST", "/admin/v1/faults", {"seed": entry.get("seed", 0), "rules": [rule]})

    def _own_snapshot(self, name: str) -> str:
        """The hub's name for the scenario's snapshot `name`: under this run, so that saving 月初
        never overwrites the hub's own 月初 (a name too long for that is hashed)."""
        own = f"{self._run}-{name}"
        return own if len(own) <= 64 else f"{self._run}-{hashlib.sha256(name.encode()).hexdigest()[:16]}"

    async def snapshot(self, action: str, name: str) -> None:
        own = self._own_snapshot(name)
        if action == "save":
            await self.call("POST", "/admin/v1/snapshots", {"name": own})
            self._snapshots.add(own)
        else:
            await self.call("POST", f"/admin/v1/snapshots/{quote(own, safe='')}/restore")
