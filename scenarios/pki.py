"""Certificates for scenario offices (and for the conformance kit's partner offices).

Keys are expensive: one CA, one server certificate and one certificate per (office label, number,
certificate kind, terminal) per process, reused by every scenario. The CA's private key lives in a
private temp folder that is removed when the Pki is closed or collected, and at the latest when the
process exits (weakref.finalize runs at exit): no CA key is ever left behind in /tmp.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import weakref
from pathlib import Path

from ca.authority import CertificateAuthority, Issued
from careplan.certificates import CertificateKind, KeyPair
from scenarios.model import OfficeSpec

PKI_EPOCH = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
LONG_DAYS = 365 * 30
OTHER_CERTIFICATE = "kaigo-other"  # `forge: {other_certificate: true}`: the same office, another certificate


def _scratch(prefix: str, owner: object) -> Path:
    """A private temp folder removed with `owner` (or at process exit)."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    weakref.finalize(owner, shutil.rmtree, directory, ignore_errors=True)
    return directory


class Pki:
    """One CA (and a foreign look-alike) per process; certificates cached by office and kind."""

    def __init__(self) -> None:
        self.directory = _scratch("careplan-scenarios-pki-", self)
        self.ca = CertificateAuthority.create(now=PKI_EPOCH, directory=self.directory / "ca", years=40)
        self.server: Issued = self.ca.issue_server(now=PKI_EPOCH, days=LONG_DAYS)
        self._foreign: CertificateAuthority | None = None
        self._cache: dict[tuple[str, str, str], KeyPair] = {}  # (label, number, kind#terminal)

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

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
    """Certificates issued by a running hub's own CA (its data directory's ca/), per run. Only the
    foreign look-alike CA, if a scenario asks for one, lives in the scratch folder."""

    def __init__(self, ca_directory: Path) -> None:  # no super().__init__: the CA exists already
        self.directory = _scratch("careplan-scenarios-remote-", self)
        self.ca = CertificateAuthority.load(ca_directory)
        self._foreign = None
        self._cache = {}


class _Shared:
    """The process-wide Pki, made on first use (held in a class, not a module global)."""

    pki: Pki | None = None


def pki() -> Pki:
    if _Shared.pki is None:
        _Shared.pki = Pki()
    return _Shared.pki
