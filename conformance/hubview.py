"""Evidence from the hub's side, through one small interface the judges use.

`HubView` reads what the hub stored (admin views: a transmission's signed manifest and signature,
an office's sessions, the refusal audit) and drives its admin API (offices, licences, clock) by
reusing the scenario runner's `RemoteHub`. Two stagings change the hub for one step and undo it in
a `finally`: the office under test without a licence (its licence record read, emptied, written
back exactly), and a download answered with another office's signature (a fault rule, cleared).

Parts an older hub under test may lack: the journal (`GET /admin/v1/journal`), faults
(`POST /admin/v1/faults`, and its substitute_signature kind) and the licence record
(`/admin/v1/offices/{n}/licence/record`). When their routes answer 404 (or the faults API does not
know the kind) they raise `NotAvailable`, and the step that needed them is reported as *not run*,
never as failed.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from careplan.errors import CareplanError
from conformance.wording import Said
from hub.config import HubConfig
from scenarios.drivers import RemoteHub
from scenarios.model import OfficeSpec


class NotAvailable(Exception):
    """The hub under test does not offer this; `said` says what is missing, in both languages."""

    def __init__(self, said: Said) -> None:
        super().__init__(str(said))
        self.said = said


class HubView:
    def __init__(self, url: str, data: Path) -> None:
        self.driver = RemoteHub(url, data)
        self.data = data

    @property
    def url(self) -> str:
        return self.driver.url

    async def close(self) -> None:
        """The kit never moves the hub's clock and undoes each staging in its step, so nothing is
        restored here: only the session ends."""
        await self.driver.close()
        self.driver.pki.close()

    async def _get(self, path: str, missing: Said | None = None) -> dict[str, Any]:
        try:
            return await self.driver.call("GET", path)
        except CareplanError as error:
            if missing is not None and error.code == "NOT_FOUND":
                raise NotAvailable(missing) from None
            raise

    # --- offices ------------------------------------------------------------------------------
    async def office(self, number: str) -> dict[str, Any]:
        return await self._get(f"/admin/v1/offices/{number}")

    async def register(self, office: OfficeSpec) -> None:
        await self.driver.register_office(office)

    async def sessions(self, number: str) -> list[dict[str, Any]]:
        return list((await self._get(f"/admin/v1/offices/{number}/sessions"))["sessions"])

    # --- transmissions ------------------------------------------------------------------------
    async def stored(self, transmission_id: str) -> dict[str, Any] | None:
        try:
            return await self._get(f"/admin/v1/transmissions/{transmission_id}")
        except CareplanError as error:
            if error.code == "TRANSMISSION_NOT_FOUND":
                return None
            raise

    async def sent_by(self, sender: str, recipient: str | None = None) -> list[dict[str, Any]]:
        query = {"sender": sender} | ({"recipient": recipient} if recipient else {})
        return list((await self._get("/admin/v1/transmissions?" + urlencode(query)))["transmissions"])

    async def refusals(self, office: str) -> list[dict[str, Any]]:
        """The hub's refusals to this office, newest first (the audit keeps the latest 200)."""
        rows = (await self._get("/admin/v1/audit"))["refusals"]
        return [r for r in rows if r.get("office_number") == office]

    # --- issue 11: journal and faults (may be missing) -----------------------------------------
    async def journal(self, transmission_id: str) -> list[dict[str, Any]]:
        answer = await self._get(
            "/admin/v1/journal?" + urlencode({"transmission": transmission_id}),
            missing=Said(
                "ハブにジャーナルの API（GET /admin/v1/journal）がありません",
                "the hub has no journal API (GET /admin/v1/journal)",
            ),
        )
        return list(answer.get("entries") or answer.get("journal") or [])

    async def arm_fault(self, fault: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self.driver.call("POST", "/admin/v1/faults", fault)
        except CareplanError as error:
            if error.code == "NOT_FOUND":
                raise NotAvailable(
                    Said(
                        "ハブに障害注入の API（POST /admin/v1/faults）がありません",
                        "the hub has no faults API (POST /admin/v1/faults)",
                    )
                ) from None
            if error.code == "BAD_REQUEST":  # a faults API that does not know this fault (yet)
                kind = fault.get("kind")  # not the rule: a substitute_signature holds kilobytes of base64
                raise NotAvailable(
                    Said(
                        f"ハブの障害注入の API に {kind!r} がありません: {error.detail}",
                        f"the hub's faults API does not offer {kind!r}: {error.detail_en or error.detail}",
                    )
                ) from None
            raise

    async def clear_faults(self) -> None:
        with contextlib.suppress(CareplanError):  # no faults API, or nothing armed
            await self.driver.call("DELETE", "/admin/v1/faults")

    # --- staging the office under test without a licence (R3.6) ---------------------------------
    @contextlib.asynccontextmanager
    async def licence_withdrawn(self, office: str) -> AsyncIterator[dict[str, str]]:
        """Inside the block the office has no licence (未申請); afterwards its stored licence record
        is written back exactly, also when the block raised or the adapter timed out. Yields the
        licence states (before, during; `restored` is added on the way out)."""
        path = f"/admin/v1/offices/{office}/licence/record"
        try:
            kept = await self.driver.call("GET", path)
        except CareplanError as error:
            if error.code == "NOT_FOUND":
                raise NotAvailable(
                    Said(
                        f"ハブのライセンスを一時的に変えられません（GET {path} がありません）",
                        f"the hub cannot stage a licence (no GET {path})",
                    )
                ) from None
            raise
        empty = {"version": 1, "office_number": office, "terms": []}
        states = {"before": kept["summary"]["state"]}
        states["during"] = (await self.driver.call("PUT", path, {"licence": empty}))["summary"]["state"]
        try:
            yield states
        finally:
            restored = await self.driver.call("PUT", path, {"licence": kept["licence"]})
            if restored["licence"] != kept["licence"]:  # never leave the vendor's office changed unnoticed
                raise RuntimeError(
                    f"事業所 {office} のライセンスを元に戻せませんでした: {restored['licence']}"
                    f" / the licence of {office} was not restored"
                )
            states["restored"] = restored["summary"]["state"]

    # --- a download answered with another signature -------------------------------------------------
    async def serve_signature(self, transmission_id: str, signature: bytes) -> None:
        """Until `clear_faults`, the download of this transmission carries `signature` instead of
        the stored one (the hub's substitute_signature fault); the store stays as it is."""
        rule = {
            "kind": "substitute_signature",
            "transmission": transmission_id,
            "signature": base64.b64encode(signature).decode("ascii"),
        }
        await self.arm_fault(rule)

    # --- a stored file, changed on disk ---------------------------------------------------------
    async def tamper_stored_file(self, transmission_id: str, position: int = 0) -> None:
        """Change one byte of a stored payload, re-encrypted with the hub's own key.

        The hub checks every upload against its signed manifest, so no sender can make it store a
        tampered file; the kit has the hub's data directory and rewrites the stored copy, as a
        faulty disk or a man in the middle would. The payload file's name comes from the admin API,
        so this works whatever the hub's database (SQLite or PostgreSQL). NotAvailable when the
        payload folder is not reachable here."""
        from hub.payloads import PayloadStore

        config = HubConfig(data_dir=self.data)
        stored = await self.stored(transmission_id)
        files = [] if stored is None else stored["files"]
        blob = next((f.get("blob") for f in files if f["position"] == position), None)
        if blob is None:
            raise NotAvailable(
                Said(
                    f"送信 {transmission_id} に保存されたファイル {position} がありません",
                    f"transmission {transmission_id} has no stored file {position}",
                )
            )
        if not (config.payload_dir / blob).is_file():
            raise NotAvailable(
                Said(
                    f"ハブのペイロードのフォルダにここから届きません（{config.payload_dir}）",
                    f"the hub's payload folder is not reachable here ({config.payload_dir})",
                )
            )
        store = PayloadStore(config.payload_dir, config.key_file)
        data = bytearray(store.read(blob))
        data[-3] ^= 0x01  # inside the last record: the size stays, the digest does not
        store.write(blob, bytes(data))
