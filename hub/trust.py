"""What the hub trusts: the office CA certificates and the CA's published revocation list.

Rules this module keeps:
1. The CRL file is re-read whenever it changes on disk, so a revocation published by the CA takes
   effect on a running hub without a restart.
2. A published CRL replaces the one in force only if it is readable, signed by a trusted CA and
   newer: its CRL number (RFC 5280 5.2.3) is higher than the one in force. A corrupt file, a forged
   one, an older one put back (which would un-revoke) or one without a number once numbered CRLs
   are in force is refused: the last good CRL stays in force, the refusal is logged once (per file
   content) and shown by `crl_status` (GET /admin/v1/crl, `careplan hub crl-status`). A
   certificate request is never answered 500 because of the CRL file.
3. Certificate judgements are cached by the certificate's DER (bounded, oldest out first):
   only the part that never changes (issuer signature, identity, kind, usage) is kept; validity on
   the hub clock and revocation are judged again on every call, so a cached judgement is never
   stale, whatever the clock or the CRL do. A certificate object judged before (the signer's
   certificate a signature template gives back is the same object each time) finds its judgement
   without serialising it again.
4. The CRL in force is kept in the hub's own data directory (`kept_file`), so a restart neither
   forgets a revocation nor lets an older CRL in. Before any good CRL was ever loaded nothing is
   revoked (the refusal says so).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from careplan.certificates import OfficeIdentity, judge_on, judge_structure
from careplan.errors import CareplanError, Operation
from hub.datadir import CA_LOST_EN, CA_LOST_JA, using

log = logging.getLogger(__name__)
JUDGEMENT_CACHE = 4096  # certificates whose structural judgement is kept (a few hundred bytes each)


@dataclass(frozen=True, slots=True, kw_only=True)
class Crl:
    """A CRL the hub accepted: what it revokes and where it stands in the CA's sequence."""

    number: int | None
    revoked: frozenset[int]
    last_update: dt.datetime
    next_update: dt.datetime | None
    sha256: str
    pem: bytes

    def to_json(self) -> dict[str, object]:
        return {
            "crl_number": self.number,
            "revoked_count": len(self.revoked),
            "last_update": self.last_update.isoformat(),
            "next_update": self.next_update.isoformat() if self.next_update else None,
            "sha256": self.sha256,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CrlRefusal:
    """Why a published CRL file was not put in force."""

    reason: str  # unreadable | untrusted | not-newer
    detail: str
    sha256: str
    noticed_at: dt.datetime

    def to_json(self) -> dict[str, object]:
        return {
            "reason": self.reason,
            "detail": self.detail,
            "sha256": self.sha256,
            "noticed_at": self.noticed_at.isoformat(),
        }


class _Refused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _crl_number(crl: x509.CertificateRevocationList) -> int | None:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return None


class TrustStore:
    def __init__(self, ca_file: Path, crl_file: Path, kept_file: Path | None = None) -> None:
        self.ca_file = ca_file
        self.crl_file = crl_file
        self.kept_file = kept_file
        with using(ca_file, CA_LOST_JA, CA_LOST_EN):
            self.trusted = x509.load_pem_x509_certificates(ca_file.read_bytes())
        self._crl_stamp: tuple[int, int] | None = None
        self._in_force: Crl | None = None
        self._refusal: CrlRefusal | None = None
        self._judged: OrderedDict[bytes, OfficeIdentity] = OrderedDict()
        # By id() of a certificate object held here (so its id is not reused while it is kept).
        self._judged_objects: OrderedDict[int, tuple[x509.Certificate, OfficeIdentity]] = OrderedDict()
        if kept_file is not None and kept_file.exists():
            try:
                self._in_force = self._judge_crl(kept_file.read_bytes())
            except _Refused as refused:
                log.error("ignoring the kept CRL %s: %s", kept_file, refused.detail)

    # --- the CRL ------------------------------------------------------------------------------
    def revoked(self) -> frozenset[int]:
        """The serials revoked by the CRL in force, after taking in a changed published file."""
        try:
            stat = self.crl_file.stat()
        except FileNotFoundError:
            return self._revoked_now()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._crl_stamp:
            self._crl_stamp = stamp
            self._take_in(self._read_published())
        return self._revoked_now()

    def _revoked_now(self) -> frozenset[int]:
        return self._in_force.revoked if self._in_force is not None else frozenset()

    def _read_published(self) -> bytes:
        try:
            return self.crl_file.read_bytes()
        except OSError as exc:
            return f"unreadable: {exc}".encode()

    def _take_in(self, data: bytes) -> None:
        sha = hashlib.sha256(data).hexdigest()
        if self._in_force is not None and sha == self._in_force.sha256:
            self._refusal = None  # the CRL in force is published again
            return
        if self._refusal is not None and sha == self._refusal.sha256:
            return  # refused and logged already
        try:
            crl = self._judge_crl(data)
            self._check_newer(crl)
        except _Refused as refused:
            self._refusal = CrlRefusal(
                reason=refused.reason, detail=refused.detail, sha256=sha, noticed_at=dt.datetime.now(dt.UTC)
            )
            log.error(
                "refused the CRL %s (%s): %s; the CRL in force stays", self.crl_file, refused.reason, refused.detail
            )
            return
        self._in_force = crl
        self._refusal = None
        self._keep(crl)
        log.info("CRL number %s in force: %d revoked", crl.number, len(crl.revoked))

    def _judge_crl(self, data: bytes) -> Crl:
        try:
            crl = x509.load_pem_x509_crl(data)
        except (ValueError, TypeError) as exc:
            raise _Refused("unreadable", f"not a PEM CRL: {exc}") from None
        issuers = [ca for ca in self.trusted if ca.subject == crl.issuer]
        if not any(crl.is_signature_valid(ca.public_key()) for ca in issuers):  # type: ignore[arg-type]
            raise _Refused("untrusted", f"not signed by a trusted CA (issuer {crl.issuer.rfc4514_string()})")
        return Crl(
            number=_crl_number(crl),
            revoked=frozenset(entry.serial_number for entry in crl),
            last_update=crl.last_update_utc,
            next_update=crl.next_update_utc,
            sha256=hashlib.sha256(data).hexdigest(),
            pem=data,
        )

    def _check_newer(self, crl: Crl) -> None:
        current = self._in_force
        if current is None or current.number is None:
            return
        if crl.number is None or crl.number <= current.number:
            raise _Refused(
                "not-newer",
                f"CRL number {crl.number} is not newer than number {current.number} in force "
                "(an older CRL would un-revoke certificates)",
            )

    def _keep(self, crl: Crl) -> None:
        if self.kept_file is None:
            return
        self.kept_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.kept_file.with_suffix(f".{os.getpid()}.tmp")  # workers (hub.workers) may keep it at once
        tmp.write_bytes(crl.pem)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        tmp.replace(self.kept_file)

    def crl_status(self) -> dict[str, object]:
        """The CRL in force and the latest refusal of a published file (None when it was taken in)."""
        self.revoked()
        return {
            "file": str(self.crl_file),
            "in_force": self._in_force.to_json() if self._in_force is not None else None,
            "refused": self._refusal.to_json() if self._refusal is not None else None,
        }

    # --- certificates -------------------------------------------------------------------------
    def judge(self, der: bytes | None, *, now: dt.datetime, operation: Operation) -> OfficeIdentity:
        """The office proven by a TLS peer certificate (DER), or the refusal explaining why not."""
        if not der:
            raise CareplanError(
                "CERT_MISSING",
                operation=operation,
                detail="TLS接続にクライアント証明書がありません",
                fix="事業所の .p12 をクライアントに設定してください（例: careplan client login --p12、curl --cert）。",
                detail_en="the TLS connection carried no client certificate",
                fix_en="Configure the client with the office's .p12 (e.g. curl --cert, careplan client login --p12).",
            )
        identity = self._judged.get(der)
        if identity is None:
            identity = self._structure(der, x509.load_der_x509_certificate(der), operation)
        return judge_on(identity, revoked=self.revoked(), now=now, operation=operation)

    def judge_certificate(self, cert: x509.Certificate, *, now: dt.datetime, operation: Operation) -> OfficeIdentity:
        known = self._judged_objects.get(id(cert))
        if known is not None and known[0] is cert:
            identity = known[1]
        else:
            # Serialising the certificate was most of this call's CPU for a repeat signer.
            der = cert.public_bytes(Encoding.DER)
            identity = self._judged.get(der) or self._structure(der, cert, operation)
            self._judged_objects[id(cert)] = (cert, identity)
            if len(self._judged_objects) > JUDGEMENT_CACHE:
                self._judged_objects.popitem(last=False)
        return judge_on(identity, revoked=self.revoked(), now=now, operation=operation)

    def _structure(self, der: bytes, cert: x509.Certificate, operation: Operation) -> OfficeIdentity:
        """Judge what never changes about `cert` and keep it (refusals are not kept: they are rare
        and their message depends on the operation)."""
        identity = judge_structure(cert, trusted=self.trusted, operation=operation)
        self._judged[der] = identity
        if len(self._judged) > JUDGEMENT_CACHE:
            self._judged.popitem(last=False)
        return identity
