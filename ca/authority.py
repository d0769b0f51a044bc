"""A test certificate authority for KJ-style office certificates (R2.1, R2.2).

Rules this module keeps:
1. Office certificates carry the office identity as `careplan.certificates` reads it (serialNumber
   = 事業所番号, UID = KJ office user ID, policy OID = kind) and the clientAuth usage, with RSA keys
   (CMS encryption needs RSA).
2. A CA directory holds `ca.pem`, `ca-key.pem` (0600), `index.json` (every certificate issued,
   with its revocation) and `crl.pem`, which is re-published on every revocation so that a
   running hub picks it up without a restart. Every publication carries the next CRL number
   (RFC 5280 5.2.3; the counter is kept in `crlnumber`, as openssl ca does), so a hub can refuse
   an older CRL put back in place of a newer one.
3. Time is passed in (`now`): tests issue expired or not-yet-valid certificates on purpose.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from careplan.certificates import CertificateKind

KEY_BITS = 2048
CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True, kw_only=True)
class Issued:
    """A certificate with its private key."""

    certificate: x509.Certificate
    key: rsa.RSAPrivateKey

    def to_p12(self, password: str, *, name: str = "office", ca: x509.Certificate | None = None) -> bytes:
        """PKCS#12 (AES-256, PBKDF2-SHA256) as the terminal installs it; OpenSSL 3 reads it."""
        encryption = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(50_000)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
            .build(password.encode("utf-8"))
        )
        return pkcs12.serialize_key_and_certificates(
            name.encode("utf-8"), self.key, self.certificate, [ca] if ca else None, encryption
        )

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def _fit(text: str, limit: int = 64) -> str:
    """X.520 caps O and CN at 64 (UTF-8 bytes in cryptography's check): cut long office names."""
    while len(text.encode("utf-8")) > limit:
        text = text[:-1]
    return text


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


INDEX_KEYS = ("serial", "office_number", "office_user_id", "office_name", "kind", "not_before", "not_after")


class DamagedIndex(ValueError):
    """index.json cut short or edited: `path` (shown whole on a line of its own) and why, in
    Japanese then English, naming the file but never its content."""

    def __init__(self, path: Path, ja: str, en: str) -> None:
        super().__init__(f"{path.name}: {ja} / {en}")
        self.path = path


def _index(path: Path) -> list[dict[str, object]]:
    """The record of issued certificates, or DamagedIndex saying what is wrong with it (cut
    short, edited): never a KeyError or TypeError from deep in a command."""
    try:
        index = json.loads(path.read_text("utf-8"))
    except ValueError as exc:
        raise DamagedIndex(path, "発行記録ではありません", f"not a record of issued certificates ({exc})") from None
    if not isinstance(index, list):
        raise DamagedIndex(path, "発行記録の一覧ではありません", "not a list of issued certificates")
    for number, entry in enumerate(index, 1):
        if not (
            isinstance(entry, dict)
            and all(isinstance(entry.get(key), str) for key in INDEX_KEYS)
            and isinstance(entry.get("revoked_at", ""), str | None)
        ):
            keys = ", ".join(INDEX_KEYS)
            raise DamagedIndex(
                path, f"発行記録ではありません（{number} 件目に {keys} がない）", f"entry {number} lacks {keys}"
            )
    return list(index)


class CertificateAuthority:
    """An office CA, in memory or backed by a directory (then every change is saved)."""

    def __init__(
        self,
        root: Issued,
        *,
        directory: Path | None = None,
        index: list[dict[str, object]] | None = None,
        crl_number: int = 0,
    ) -> None:
        self.root = root
        self.directory = directory
        self.index: list[dict[str, object]] = index or []
        self.crl_number = crl_number  # of the CRL last published

    @property
    def certificate(self) -> x509.Certificate:
        return self.root.certificate

    # --- creation and persistence -------------------------------------------------------------
    @classmethod
    def create(
        cls,
        *,
        name: str = "careplan-sim Test Office CA",
        now: dt.datetime,
        directory: Path | None = None,
        years: int = 20,
    ) -> CertificateAuthority:
        key = _new_key()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "careplan-sim"),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + dt.timedelta(days=365 * years))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        authority = cls(Issued(certificate=cert, key=key), directory=directory)
        if directory is not None:
            authority.save(now=now)
        return authority

    @classmethod
    def load(cls, directory: Path) -> CertificateAuthority:
        cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
        key = serialization.load_pem_private_key((directory / "ca-key.pem").read_bytes(), None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{directory / 'ca-key.pem'} is not an RSA key")
        index_path = directory / "index.json"
        index = _index(index_path) if index_path.exists() else []
        number_path = directory / "crlnumber"
        number = int(number_path.read_text().strip(), 16) if number_path.exists() else 0
        return cls(Issued(certificate=cert, key=key), directory=directory, index=index, crl_number=number)

    @classmethod
    def open_or_create(cls, directory: Path, *, now: dt.datetime) -> CertificateAuthority:
        if (directory / "ca.pem").exists():
            return cls.load(directory)
        return cls.create(now=now, directory=directory)

    def save(self, *, now: dt.datetime) -> None:
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        _write_private(self.directory / "ca-key.pem", self.root.key_pem())
        (self.directory / "ca.pem").write_bytes(self.root.cert_pem())
        _write_private(
            self.directory / "index.json", json.dumps(self.index, ensure_ascii=False, indent=1).encode("utf-8")
        )
        # The number first: a crash between the two writes skips a number, never reuses one.
        self.crl_number += 1
        _write_private(self.directory / "crlnumber", f"{self.crl_number:x}\n".encode())
        crl = self.crl(now=now)
        _write_private(self.directory / "crl.pem", crl.public_bytes(serialization.Encoding.PEM))

    # --- issuing ------------------------------------------------------------------------------
    def _builder(
        self, subject: x509.Name, key: rsa.RSAPrivateKey, not_before: dt.datetime, not_after: dt.datetime
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root.key.public_key()), critical=False
            )
        )

    def issue_office(
        self,
        *,
        office_number: str,
        office_user_id: str,
        office_name: str,
        kind: CertificateKind = CertificateKind.KAIGO,
        now: dt.datetime,
        not_before: dt.datetime | None = None,
        days: int = 730,
        client_auth: bool = True,
    ) -> Issued:
        """An office certificate of `kind` for one 事業所番号 and its KJ office user ID."""
        key = _new_key()
        start = not_before if not_before is not None else now - CLOCK_SKEW
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, _fit(office_name)),
                x509.NameAttribute(NameOID.COMMON_NAME, _fit(f"{office_user_id} {office_name}")),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, office_number),
                x509.NameAttribute(NameOID.USER_ID, office_user_id),
            ]
        )
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else [ExtendedKeyUsageOID.EMAIL_PROTECTION]
        cert = (
            self._builder(subject, key, start, start + dt.timedelta(days=days))
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=True,
                    key_encipherment=True,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.CertificatePolicies([x509.PolicyInformation(kind.oid, None)]), critical=False)
            .sign(self.root.key, hashes.SHA256())
        )
        self.index.append(
            {
                "serial": format(cert.serial_number, "x"),
                "office_number": office_number,
                "office_user_id": office_user_id,
                "office_name": office_name,
                "kind": kind.slug,
                "not_before": cert.not_valid_before_utc.isoformat(),
                "not_after": cert.not_valid_after_utc.isoformat(),
                "revoked_at": None,
            }
        )
        self.save(now=now)
        return Issued(certificate=cert, key=key)

    def issue_server(
        self, *, hostnames: Sequence[str] = ("localhost", "127.0.0.1", "::1"), now: dt.datetime, days: int = 825
    ) -> Issued:
        """The hub's TLS server certificate (serverAuth, SAN for each host name or IP)."""
        key = _new_key()
        names: list[x509.GeneralName] = []
        for host in hostnames:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
        cert = (
            self._builder(subject, key, now - CLOCK_SKEW, now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.root.key, hashes.SHA256())
        )
        return Issued(certificate=cert, key=key)

    def reissue(self, serial: int, *, now: dt.datetime, days: int = 730, revoke_old: bool = False) -> Issued:
        """A new certificate for the office of `serial` (same 事業所番号, KJ ID, name and kind): what an
        office gets when it lost its .p12 password or renews (R2.2). The old one stays valid until it
        expires, unless `revoke_old`. KeyError if this CA never issued `serial`."""
        entry = self._entry(serial)
        issued = self.issue_office(
            office_number=str(entry["office_number"]),
            office_user_id=str(entry["office_user_id"]),
            office_name=str(entry["office_name"]),
            kind=CertificateKind.from_slug(str(entry["kind"])),
            now=now,
            days=days,
        )
        if revoke_old:
            self.revoke(serial, now=now)
        return issued

    def _entry(self, serial: int) -> dict[str, object]:
        for entry in self.index:
            if entry["serial"] == format(serial, "x"):
                return entry
        raise KeyError(
            f"シリアル {serial:x} の証明書はこの認証局が発行したものではありません（careplan ca show で確認） / "
            f"serial {serial:x} was not issued by this CA"
        )

    # --- revocation ---------------------------------------------------------------------------
    def revoke(self, serial: int, *, now: dt.datetime) -> dict[str, object]:
        """Put `serial` on the CRL and re-publish it. KeyError if this CA never issued it."""
        entry = self._entry(serial)
        entry["revoked_at"] = entry["revoked_at"] or now.isoformat()
        self.save(now=now)
        return entry

    def revoked_serials(self) -> set[int]:
        return {int(str(e["serial"]), 16) for e in self.index if e["revoked_at"]}

    def crl(self, *, now: dt.datetime, days: int = 7) -> x509.CertificateRevocationList:
        """The CRL as last published (its number is `crl_number`; `save` publishes the next)."""
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(now - CLOCK_SKEW)
            .next_update(now + dt.timedelta(days=days))
            .add_extension(x509.CRLNumber(self.crl_number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root.key.public_key()), critical=False
            )
        )
        for entry in self.index:
            if entry["revoked_at"]:
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder()
                    .serial_number(int(str(entry["serial"]), 16))
                    .revocation_date(dt.datetime.fromisoformat(str(entry["revoked_at"])))
                    .build()
                )
        return builder.sign(self.root.key, hashes.SHA256())
