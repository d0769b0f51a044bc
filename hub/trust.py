"""What the hub trusts: the office CA certificates and the CA's published revocation list.

The CRL file is re-read whenever it changes on disk, so a revocation published by the CA takes
effect on a running hub without a restart. A CRL whose signature no trusted CA made is ignored
(and logged): a forged file must not un-revoke anyone.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from cryptography import x509

from careplan.certificates import OfficeIdentity, judge_certificate
from careplan.errors import CareplanError, Operation

log = logging.getLogger(__name__)


class TrustStore:
    def __init__(self, ca_file: Path, crl_file: Path) -> None:
        self.ca_file = ca_file
        self.crl_file = crl_file
        self.trusted = x509.load_pem_x509_certificates(ca_file.read_bytes())
        self._crl_mtime: float | None = None
        self._revoked: frozenset[int] = frozenset()

    def revoked(self) -> frozenset[int]:
        try:
            mtime = self.crl_file.stat().st_mtime_ns
        except FileNotFoundError:
            return self._revoked
        if mtime != self._crl_mtime:
            self._revoked = self._load_crl()
            self._crl_mtime = mtime
        return self._revoked

    def _load_crl(self) -> frozenset[int]:
        crl = x509.load_pem_x509_crl(self.crl_file.read_bytes())
        if not any(crl.is_signature_valid(ca.public_key()) for ca in self.trusted):  # type: ignore[arg-type]
            log.error("ignoring %s: not signed by a trusted CA", self.crl_file)
            return self._revoked
        return frozenset(entry.serial_number for entry in crl)

    def judge(self, der: bytes | None, *, now: dt.datetime, operation: Operation) -> OfficeIdentity:
        """The office proven by a TLS peer certificate (DER), or the refusal explaining why not."""
        if not der:
            raise CareplanError(
                "CERT_MISSING",
                operation=operation,
                detail="the TLS connection carried no client certificate",
                fix="Configure the client with the office's .p12 (e.g. curl --cert, careplan client login --p12).",
            )
        return self.judge_certificate(x509.load_der_x509_certificate(der), now=now, operation=operation)

    def judge_certificate(self, cert: x509.Certificate, *, now: dt.datetime, operation: Operation) -> OfficeIdentity:
        return judge_certificate(cert, trusted=self.trusted, revoked=self.revoked(), now=now, operation=operation)
