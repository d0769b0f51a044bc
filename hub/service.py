"""The hub's operations, named after what offices do; callable from tests without HTTP.

Rules this module keeps:
1. A submission is judged in the order of ARCHITECTURE.md step 6 — manifest, signature, signer
   (= TLS certificate = login office), files against the manifest, replay, licences, the standard —
   and the first refusal ends it with nothing written.
2. Payloads are written (encrypted, fsynced) before the commit that makes them visible, and the
   caller is answered only after that commit: an acknowledged transmission survives a crash.
3. A submit is idempotent: the same transmission id with byte-identical manifest and signature (so
   the same files) is answered with the stored record and `already_stored: true` — a retry whose
   answer was lost never stores twice. Other bytes under a stored id (or a stored manifest) are
   REPLAY. This holds after the receiver has downloaded and acknowledged it too: the retry learns
   the transmission arrived (status ダウンロード済) and nothing is delivered again.
4. Download once (R5.2): a transmission can be fetched until the receiver acknowledges it; the
   acknowledgement records the receipt and forgets the payload in one commit. A download cut off
   before the acknowledgement loses nothing.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from careplan import licence as lic
from careplan import standard
from careplan.certificates import OfficeIdentity
from careplan.errors import CareplanError, Operation
from careplan.jst import for_people
from careplan.manifest import Manifest
from careplan.signature import DerPrefixes, verify
from careplan.transmission import DownloadStatus
from hub.audit import Audit
from hub.clock import Clock
from hub.config import HubConfig
from hub.control.journal import decision, findings_summary
from hub.listing import Listings, receipt_sql, row_json
from hub.nodes import collect_garbage
from hub.offices import Offices, judge_send_licences, licence_state
from hub.passwords import PasswordHasher
from hub.payloads import PayloadStore, StagedPayload
from hub.sessions import Session, SessionCache, Sessions
from hub.storage import (
    STAMP,
    CommitOutcomeUnknown,
    IntegrityError,
    RowsNotAsExpected,
    Statements,
    lookup_one,
    statement,
    statement_fetch,
    statement_many,
)
from hub.storage import Storage as Database
from hub.throttle import LoginThrottle
from hub.trust import TrustStore

log = logging.getLogger(__name__)


STANDARD_CHECKS = 1  # big units checked at once, per process: the check holds the GIL, so a
# second one at once would not finish sooner (each reads its unit back a chunk at a time)
INLINE_BYTES = 64 * 1024  # units (and downloaded files) up to this size are checked (read) on the
# event loop: their standard check takes about 1 ms, less than what a hop to a thread and back
# costs under the GIL (py-spy: the thread pool's hand-offs were ~10% of a cycle's Python CPU)


@dataclass(frozen=True, slots=True, kw_only=True)
class Upload:
    """One submission as received: the manifest bytes, its detached signature and the files, each
    staged encrypted on disk as it streamed in (hub.payloads), with its size and SHA-256."""

    manifest: bytes
    signature: bytes
    files: Sequence[tuple[str, StagedPayload]]

    def discard(self) -> None:
        """Remove the staged files not published (a no-op for those that were)."""
        for _, staged in self.files:
            staged.discard()


def _same_submission(row: sqlite3.Row, manifest: Manifest, upload: Upload) -> bool:
    return (
        row["id"] == manifest.transmission_id
        and bytes(row["manifest"]) == upload.manifest
        and bytes(row["signature"]) == upload.signature
    )


def _new_row(
    manifest: Manifest, session: Session, office_names: dict[str, str], submitted_at: str
) -> dict[str, object]:
    """A transmission just committed, as hub.listing's row JSON shows it (same keys, same order),
    built from what was written instead of read back: the submit's answer costs no query.
    tests/hub/test_hot_path.py holds it equal to the stored row."""
    return {
        "transmission_id": manifest.transmission_id,
        "sender": {"office_number": manifest.sender, "name": office_names[manifest.sender], "user_id": session.user_id},
        "recipient": {"office_number": manifest.recipient, "name": office_names[manifest.recipient]},
        "signed_at": manifest.signed_at.isoformat(),
        "submitted_at": submitted_at,
        "file_count": len(manifest.files),
        "total_size": manifest.total_size,
        "files": [
            {"position": position, "name": entry.name, "size": entry.size, "sha256": entry.sha256}
            for position, entry in enumerate(manifest.files)
        ],
        "status": DownloadStatus.PENDING.value,
        "downloaded_at": None,
    }


class HubService(Sessions, Offices, Listings, Audit):
    def __init__(
        self,
        *,
        config: HubConfig,
        db: Database,
        payloads: PayloadStore,
        trust: TrustStore,
        clock: Clock,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.payloads = payloads
        self.trust = trust
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        self.throttle = LoginThrottle(db, clock)
        self.session_cache = SessionCache(config.data_dir / "sessions-generation")  # hub.sessions rule 4
        self._standard_turns = asyncio.Semaphore(STANDARD_CHECKS)
        self._der_prefixes = DerPrefixes()  # signatures' DER checks, cheap from an office's second

    # --- sessions (login, session, logout: hub/sessions.py) ---------------------------------------
    async def whoami(self, session: Session) -> dict[str, object]:
        return {
            "user_id": session.user_id,
            "office": await self.office(session.office_number),
            "session_expires_at": session.expires_at.isoformat(),
            "hub_time": self._now(),
        }

    # --- sending ------------------------------------------------------------------------------
    async def submit_transmission(self, peer: OfficeIdentity, session: Session, upload: Upload) -> dict[str, object]:
        """Judge and store a transmission; answered only after its commit. The record carries
        `already_stored`: true when this exact submission was stored before (a retry, rule 3)."""
        manifest, office_names = await self._judge_submission(peer, upload)
        record = None if office_names is None else await self._store(manifest, upload, session, peer, office_names)
        if record is None:
            log.info("transmission %s resubmitted unchanged: answered with the stored record", manifest.transmission_id)
            return await self._sent_row(manifest.transmission_id) | {"already_stored": True}
        log.info("stored transmission %s %s -> %s", manifest.transmission_id, manifest.sender, manifest.recipient)
        return record | {"already_stored": False}

    async def _store(
        self, manifest: Manifest, upload: Upload, session: Session, peer: OfficeIdentity, office_names: dict[str, str]
    ) -> dict[str, object] | None:
        """Write the payloads, then commit the row naming them; the new row as the send list shows
        it. None (and nothing kept) if an identical submission — the same retry racing this one —
        committed first."""
        names = [staged.name for _, staged in upload.files]
        await asyncio.to_thread(self.payloads.publish, [staged for _, staged in upload.files])
        try:
            submitted_at = await self._commit_submission(manifest, upload, session, peer, names)
        except CommitOutcomeUnknown:  # the rows may be stored: their files stay (hub.storage rule 8)
            raise
        except BaseException:
            await asyncio.to_thread(self.payloads.delete, names)
            raise
        if submitted_at is None:
            await asyncio.to_thread(self.payloads.delete, names)
            return None
        return _new_row(manifest, session, office_names, submitted_at)

    async def _judge_submission(self, peer: OfficeIdentity, upload: Upload) -> tuple[Manifest, dict[str, str] | None]:
        """The manifest, and the names of its sender and recipient; None instead of the names when
        this exact submission is already stored (then the later checks — signing time, licences,
        standard — were passed when it was first stored)."""
        # The signature, certificate and manifest checks cost about 0.3 ms whatever the unit's size
        # (hashes are counted as it streams in, judged certificates and DER shapes are cached): on
        # the loop. The CSV standard check of a big unit runs in a thread, one unit at a time: a
        # 10 MB unit's check (~200 ms) would otherwise stall every connection.
        manifest = self._judge_signed(peer, upload)
        stored, offices = await self._stored_and_offices(manifest)
        if self._judge_replay(stored, manifest, upload):
            decision("replay", "already stored", "an identical retry: answered with the stored record")
            return manifest, None
        decision("replay", "ok", "new transmission id and signed manifest")
        manifest.judge_signing_time(self.clock.now())
        decision("signing_time", "ok", f"signed at {manifest.signed_at.isoformat()}, within tolerance of the hub clock")
        office_names = judge_send_licences(manifest.sender, manifest.recipient, offices, self.today())
        decision("licences", "ok", f"sender {manifest.sender} applied; recipient {manifest.recipient} licensed")
        if sum(staged.size for _, staged in upload.files) <= INLINE_BYTES:
            self._check_standard(manifest, upload)
        else:
            async with self._standard_turns:
                await asyncio.to_thread(self._check_standard, manifest, upload)
        return manifest, office_names

    def _judge_signed(self, peer: OfficeIdentity, upload: Upload) -> Manifest:
        """Manifest, signature, signer and files against the manifest."""
        op = Operation.SEND
        manifest = Manifest.from_bytes(upload.manifest)
        decision("manifest", "ok", f"{len(manifest.files)} files", transmission=manifest.transmission_id)
        signed = verify(
            upload.signature,
            upload.manifest,
            operation=op,
            der_prefixes=self._der_prefixes,
            content_sha256=manifest.digest,
        )
        decision("signature", "ok", f"CMS signature verifies; signer serial {signed.certificate.serial_number:x}")
        signer = self.trust.judge_certificate(signed.certificate, now=self.clock.now(), operation=op)
        decision("certificate", "ok", f"{signer.kind.value}, serial {signer.serial:x}: trusted, valid, not revoked")
        self._check_signer(peer, signer, manifest)
        decision("signer", "ok", f"signer = terminal = login = manifest sender ({signer.office_number})")
        manifest.check_received([(name, staged.size, staged.sha256) for name, staged in upload.files])
        decision("files", "ok", f"{len(upload.files)} files: names, sizes and SHA-256 match the manifest")
        return manifest

    @staticmethod
    def _check_signer(peer: OfficeIdentity, signer: OfficeIdentity, manifest: Manifest) -> None:
        def refuse(detail: str, fix: str, detail_en: str, fix_en: str) -> CareplanError:
            return CareplanError(
                "SIGNER_MISMATCH", operation=Operation.SEND, detail=detail, fix=fix, detail_en=detail_en, fix_en=fix_en
            )

        if signer.office_number != peer.office_number:
            raise refuse(
                f"事業所 {signer.office_number} が署名していますが、この端末は事業所 {peer.office_number} です",
                "この端末にインストールされた証明書の鍵で署名してください。",
                f"signed by office {signer.office_number}, but the terminal is office {peer.office_number}",
                "Sign with the key of the certificate installed on this terminal.",
            )
        if signer.fingerprint != peer.fingerprint:
            raise refuse(
                f"シリアル {signer.serial:x} の証明書で署名されていますが、接続はシリアル {peer.serial:x} です",
                "接続に使っている証明書で署名してください。",
                f"signed with certificate serial {signer.serial:x}, but connected with serial {peer.serial:x}",
                "Sign with the same certificate the terminal connects with.",
            )
        if manifest.sender != signer.office_number:
            raise refuse(
                f"明細の送信元は {manifest.sender} ですが、署名したのは事業所 {signer.office_number} です",
                "明細の送信元には、署名する事業所の事業所番号を書いてください。",
                f"the manifest claims sender {manifest.sender}, but office {signer.office_number} signed it",
                "The manifest's sender must be the signing office's 事業所番号.",
            )

    # What a submission is judged against, in one query (one trip to the database): the stored
    # transmission with its id or its signed manifest (the replay check), then the sender's and the
    # recipient's office (the licence checks). Each branch's NULLs take the other's column types.
    _STORED_AND_OFFICES_SQL = (
        "SELECT t.id, t.manifest, t.signature, NULL AS office_number, NULL AS name, NULL AS licence_json "
        "FROM transmissions t WHERE t.id = ? OR t.manifest_sha256 = ? UNION ALL "
        "SELECT NULL, NULL, NULL, o.office_number, o.name, o.licence_json FROM offices o "
        "WHERE o.office_number IN (?, ?)"
    )

    async def _stored_and_offices(self, manifest: Manifest) -> tuple[sqlite3.Row | None, dict[str, sqlite3.Row]]:
        rows = await self.db.lookup(
            self._STORED_AND_OFFICES_SQL,
            (
                manifest.transmission_id,
                manifest.sha256,
                manifest.sender,
                manifest.recipient,
            ),
        )
        stored = next((row for row in rows if row["id"] is not None), None)
        return stored, {row["office_number"]: row for row in rows if row["office_number"] is not None}

    async def _check_replay(self, manifest: Manifest, upload: Upload) -> bool:
        """`_judge_replay` on a fresh read (a concurrent submission committed first)."""
        row = await self.db.fetch_one(
            "SELECT id, manifest, signature FROM transmissions WHERE id = ? OR manifest_sha256 = ?",
            (manifest.transmission_id, manifest.sha256),
        )
        return self._judge_replay(row, manifest, upload)

    @staticmethod
    def _judge_replay(row: sqlite3.Row | None, manifest: Manifest, upload: Upload) -> bool:
        """True if this exact submission (same id, byte-identical manifest and signature) is stored
        as `row`: a retry. REPLAY if the id or the signed manifest is stored with other bytes."""
        if row is None:
            return False
        if _same_submission(row, manifest, upload):
            return True
        raise CareplanError(
            "REPLAY",
            detail=f"送信ID {row['id']} は別の内容（マニフェストまたは署名）で既に送信されています",
            fix="送信ごとに新しい送信IDで署名してください。応答を受け取れなかった送信の再試行は、"
            "同じ送信ID・同じ署名・同じファイルのまま送ってください。",
            detail_en=f"transmission {row['id']} was already submitted with other bytes (manifest or signature)",
            fix_en="Each send needs a new transmission id and a new signature; retry a send whose answer was "
            "lost with the same id, signature and files unchanged.",
        )

    async def _check_data_load(self, session: Session, operation: Operation) -> None:
        """R3.6: the client's data load (lists) needs a completed application."""
        self._judge_data_load(session, operation, await self.licence(session.office_number))

    def _judge_data_load(self, session: Session, operation: Operation, licence: lic.Licence | None) -> None:
        """`_check_data_load` on the office's licence as read (None: no such office)."""
        if licence is None or licence_state(licence, self.today()) is lic.LicenceState.UNAPPLIED:
            raise CareplanError(
                "DATA_LOAD_FAILED",
                operation=operation,
                detail=f"事業所 {session.office_number} は利用申請をしていません",
                fix="利用状況Webサイトで利用申請を行ってから、クライアントを再起動してください。",
                detail_en=f"office {session.office_number} has not applied (利用申請)",
                fix_en="Apply on the usage website (利用申請), then restart the client.",
            )

    def _check_standard(self, manifest: Manifest, upload: Upload) -> None:
        """The standard's checks on the files: their kept plaintext, or read back from their staging
        files chunk by chunk as the validator reads them, a block of lines at a time (blocking: in a
        thread above INLINE_BYTES)."""
        files = [(name, self.payloads.staged_content(staged)) for name, staged in upload.files]
        findings = standard.check_transmission(files, sender=manifest.sender, recipient=manifest.recipient)
        error = standard.refusal(findings)
        decision("standard", "ok" if error is None else "refused", findings_summary(findings))
        if error is not None:
            raise error

    async def _commit_submission(
        self, manifest: Manifest, upload: Upload, session: Session, peer: OfficeIdentity, names: Sequence[str]
    ) -> str | None:
        """Commit the transmission's rows; their submitted_at, or None if an identical submission
        is already committed."""
        files = [
            (manifest.transmission_id, position, entry.name, entry.size, entry.sha256, blob)
            for position, (entry, blob) in enumerate(zip(manifest.files, names, strict=True))
        ]
        write = Statements(
            (
                statement(
                    "INSERT INTO transmissions (id, sender, recipient, sender_user, manifest, manifest_sha256, "
                    "signature, signer_fingerprint, signed_at, submitted_at, file_count, total_size) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        manifest.transmission_id,
                        manifest.sender,
                        manifest.recipient,
                        session.user_id,
                        upload.manifest,
                        manifest.sha256,
                        upload.signature,
                        peer.fingerprint,
                        manifest.signed_at.isoformat(),
                        STAMP,
                        len(manifest.files),
                        manifest.total_size,
                    ),
                ),
                statement_many("INSERT INTO transmission_files VALUES (?, ?, ?, ?, ?, ?)", files),
            ),
            stamp=self._now,  # submitted_at: at its turn in the commit queue, as always
        )
        try:
            # Group commit (hub.db): concurrent submits share one transaction and one fsync; this
            # returns after the COMMIT that holds these rows.
            submitted_at: str = await self.db.commit_together(write)
        except IntegrityError:
            # A concurrent submission of the same id or manifest committed first: that was this
            # very retry (answer it as stored), or a replay.
            if await self._check_replay(manifest, upload):
                return None
            raise CareplanError(
                "REPLAY",
                detail=f"送信ID {manifest.transmission_id} は同時に別の要求で送信されました",
                detail_en=f"transmission {manifest.transmission_id} was submitted concurrently",
            ) from None
        return submitted_at

    # --- receiving ----------------------------------------------------------------------------
    # What a download step needs to judge the transmission (not its files or manifest): read_file
    # and acknowledge no longer build the whole row (one query per file, not two).
    _RECEIVABLE_SQL = (
        "SELECT t.id, t.sender, t.downloaded_at, t.downloaded_by, s.name AS sender_name{extra} FROM transmissions t "
        "JOIN offices s ON s.office_number = t.sender {join}WHERE t.id = ? AND t.recipient = ?"
    )

    async def _receivable(
        self, session: Session, transmission_id: str, *, sql: str | None = None, params: tuple[object, ...] = ()
    ) -> sqlite3.Row:
        """The transmission's row (`sql`, default the few columns judged here) if `session`'s office
        may still download it."""
        query = sql or self._RECEIVABLE_SQL.format(extra="", join="")
        row = await lookup_one(self.db, query, (*params, transmission_id, session.office_number))
        if row is None:
            raise CareplanError(
                "TRANSMISSION_NOT_FOUND",
                detail=f"事業所 {session.office_number} あての送信ID {transmission_id} のデータはありません",
                fix="受信一覧（careplan client inbox）で送信IDを確かめてください。",
                detail_en=f"no transmission {transmission_id} for office {session.office_number}",
                fix_en="List the inbox (careplan client inbox) for ids.",
            )
        if row["downloaded_at"]:
            raise CareplanError(
                "ALREADY_DOWNLOADED",
                detail=f"送信ID {transmission_id} は {for_people(row['downloaded_at'])} に {row['downloaded_by']} が"
                "ダウンロード済みで、ハブにはもうデータがありません",
                fix=f"送信元（{row['sender']} {row['sender_name']}）に再送を依頼してください（R5.2）。",
                detail_en=f"transmission {transmission_id} was downloaded at {row['downloaded_at']} "
                f"by {row['downloaded_by']}; "
                "the hub no longer holds its data",
                fix_en=f"Ask the sender ({row['sender']} {row['sender_name']}) to send it again (R5.2).",
            )
        return row

    async def download_info(self, session: Session, transmission_id: str) -> dict[str, object]:
        """Everything the receiver needs to fetch and verify a transmission before acknowledging."""
        full = self._LIST_SQL + "WHERE t.id = ? AND t.recipient = ?"
        row = await self._receivable(session, transmission_id, sql=full)
        return row_json(row) | {
            "manifest": row["manifest"].decode("utf-8"),
            "signature": base64.b64encode(row["signature"]).decode(),
        }

    async def read_file(self, session: Session, transmission_id: str, position: int) -> tuple[str, bytes]:
        """One file's name and bytes. A position no database integer holds (the route takes any digits)
        names no file: it is looked up as -1, which matches none, rather than failing in the driver."""
        row = await self._receivable(
            session,
            transmission_id,
            sql=self._RECEIVABLE_SQL.format(
                extra=", f.name AS file_name, f.size AS file_size, f.blob",
                join="LEFT JOIN transmission_files f ON f.transmission_id = t.id AND f.position = ? ",
            ),
            params=(position if 0 <= position < 2**63 else -1,),
        )
        if row["blob"] is None:
            raise CareplanError(
                "TRANSMISSION_NOT_FOUND",
                detail=f"送信ID {transmission_id} に {position} 番目のファイルはありません",
                detail_en=f"transmission {transmission_id} has no file {position}",
            )
        if row["file_size"] <= INLINE_BYTES:  # cheaper than a thread hop (see INLINE_BYTES)
            return row["file_name"], self.payloads.read(row["blob"])
        return row["file_name"], await asyncio.to_thread(self.payloads.read, row["blob"])

    async def acknowledge(self, session: Session, transmission_id: str) -> dict[str, object]:
        """Record the receipt and forget the payload in one commit (R5.2). The commit is shared with
        concurrent submits and receipts (group commit, hub.db) and the transmission is judged by the
        UPDATE itself: only when it changes nothing is the row read, for the refusal's details. The
        answer (the row as the send list now shows it) is read in the same transaction, with the
        payload files it forgets."""

        write = Statements(
            (
                statement(
                    "UPDATE transmissions SET downloaded_at = ?, downloaded_by = ? "
                    "WHERE id = ? AND recipient = ? AND downloaded_at IS NULL",
                    (STAMP, session.user_id, transmission_id, session.office_number),
                    expect=1,
                ),
                statement_fetch(receipt_sql(self.db.dialect), (transmission_id,)),
                statement("UPDATE transmission_files SET blob = NULL WHERE transmission_id = ?", (transmission_id,)),
            ),
            stamp=self._now,  # downloaded_at: at its turn in the commit queue
        )
        try:
            rows = await self.db.commit_together(write)
        except RowsNotAsExpected:  # the UPDATE changed nothing: undone, and the row says why
            await self._receivable(session, transmission_id)  # TRANSMISSION_NOT_FOUND, ALREADY_DOWNLOADED
            raise CareplanError(
                "ALREADY_DOWNLOADED",
                detail=f"送信ID {transmission_id} の受領は同時に別の要求で記録されました",
                detail_en=f"transmission {transmission_id} was acknowledged concurrently",
            ) from None
        held = [r for r in rows if r["blob"] is not None]
        blobs = [r["blob"] for r in held]
        if sum(r["blob_size"] for r in held) <= INLINE_BYTES:  # cheaper than a thread hop
            self.payloads.forget(blobs)
        else:
            await asyncio.to_thread(self.payloads.forget, blobs)
        log.info("receipt of transmission %s by %s; payload deleted", transmission_id, session.user_id)
        return row_json(rows[0])  # what _sent_row would read after the commit

    # --- keys at rest --------------------------------------------------------------------------
    async def rotate_keys(self, *, retire_old: bool) -> dict[str, object]:
        """A new payload key; with `retire_old`, re-seal the database's sealed values and re-encrypt
        every payload with it, then drop the old keys (in that order: nothing is ever left sealed
        under a key that is no longer on disk)."""
        active = await asyncio.to_thread(self.payloads.add_key)
        rewritten = 0
        if retire_old:
            rewritten += await self._reseal_secrets()
            rewritten += await asyncio.to_thread(self.payloads.retire_old_keys)
        keys = [active] if retire_old else await asyncio.to_thread(self.payloads.key_ids)
        return {"active_key": active, "keys_on_disk": keys, "rewritten": rewritten}

    async def _reseal_secrets(self) -> int:
        rows = await self.db.fetch_all("SELECT user_id, initial_password FROM users WHERE initial_password IS NOT NULL")
        async with self.db.transaction() as tx:
            for row in rows:
                context = f"initial-password:{row['user_id']}"
                secret = self.payloads.unseal(row["initial_password"], context=context)
                await tx.execute(
                    "UPDATE users SET initial_password = ? WHERE user_id = ?",
                    (self.payloads.seal(secret, context=context), row["user_id"]),
                )
        return len(rows)

    # --- housekeeping -------------------------------------------------------------------------
    async def collect_garbage(self) -> list[str]:
        return await collect_garbage(self.db, self.payloads)
