"""Office certificates: their kinds, how an office identity is carried, and how it is judged (R2).

Rules this module keeps:
1. A certificate names one office: the KJ office user ID in the subject's UID (NameOID.USER_ID)
   and the 10-character 事業所番号 in the subject's serialNumber (R2.1: one per 事業所番号).
2. Its kind is a CertificatePolicies OID under our own arc (2.25.<uuid>, a self-assigned arc).
   Only 介護保険証明書 and 請求委任事業所用ケアプラン証明書 are accepted; 代理人証明書 and
   障害総合支援証明書 are refused (R2.1).
3. Judging a certificate is a pure function of the certificate, the trusted CA certificates, the
   revoked serial numbers and the time, which the caller passes in: no clock is read here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from careplan.errors import CareplanError, Operation
from careplan.jst import for_json
from careplan.office import is_office_number

POLICY_ARC = "2.25.212660690079085241972801136289228417442"


class CertificateKind(StrEnum):
    """The kinds of certificate the 介護保険 PKI issues to offices (R2.1)."""

    KAIGO = "介護保険証明書"
    SEIKYU_ININ = "請求委任事業所用ケアプラン証明書"
    DAIRININ = "代理人証明書"
    SHOGAI = "障害総合支援証明書"

    @property
    def oid(self) -> x509.ObjectIdentifier:
        return x509.ObjectIdentifier(f"{POLICY_ARC}.{_KIND_ARCS[self]}")

    @property
    def accepted(self) -> bool:
        return self in ACCEPTED_KINDS

    @property
    def slug(self) -> str:
        return _KIND_SLUGS[self]

    @classmethod
    def from_slug(cls, slug: str) -> CertificateKind:
        for kind, known in _KIND_SLUGS.items():
            if slug in (known, kind.value):
                return kind
        raise ValueError(f"unknown certificate kind {slug!r}; one of {', '.join(_KIND_SLUGS.values())}")


_KIND_ARCS = {
    CertificateKind.KAIGO: 1,
    CertificateKind.SEIKYU_ININ: 2,
    CertificateKind.DAIRININ: 3,
    CertificateKind.SHOGAI: 4,
}
_KIND_SLUGS = {
    CertificateKind.KAIGO: "kaigo",
    CertificateKind.SEIKYU_ININ: "seikyu-inin",
    CertificateKind.DAIRININ: "dairinin",
    CertificateKind.SHOGAI: "shogai",
}
ACCEPTED_KINDS = frozenset({CertificateKind.KAIGO, CertificateKind.SEIKYU_ININ})


@dataclass(frozen=True, slots=True, kw_only=True)
class OfficeIdentity:
    """Who a certificate says it is. `fingerprint` is the SHA-256 of the DER certificate."""

    office_number: str
    office_user_id: str
    office_name: str
    kind: CertificateKind
    serial: int
    fingerprint: str
    not_before: dt.datetime
    not_after: dt.datetime


def fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def _subject_value(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    attrs = cert.subject.get_attributes_for_oid(oid)
    return str(attrs[0].value) if attrs else ""


def _kind_of(cert: x509.Certificate) -> CertificateKind | None:
    try:
        policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except x509.ExtensionNotFound:
        return None
    by_oid = {kind.oid: kind for kind in CertificateKind}
    for policy in policies:
        if policy.policy_identifier in by_oid:
            return by_oid[policy.policy_identifier]
    return None


def identity_of(cert: x509.Certificate, *, operation: Operation = Operation.SEND) -> OfficeIdentity:
    """Read the office identity out of `cert`; CERT_MALFORMED if it carries none."""
    office_number = _subject_value(cert, NameOID.SERIAL_NUMBER)
    user_id = _subject_value(cert, NameOID.USER_ID)
    kind = _kind_of(cert)
    if not is_office_number(office_number) or not user_id.startswith("KJ") or kind is None:
        raise CareplanError(
            "CERT_MALFORMED",
            operation=operation,
            detail=f"証明書の主体 {cert.subject.rfc4514_string()!r} に事業所番号（serialNumber）、"
            "KJユーザID（UID）または証明書の種類がありません",
            fix="このシステム用に発行された証明書を使ってください（ここでは `careplan ca issue`）。",
            detail_en=f"subject {cert.subject.rfc4514_string()!r} lacks a 事業所番号 (serialNumber), "
            "a KJ office user ID (UID) or a certificate-kind policy",
            fix_en="Use a certificate issued by the care PKI (here: `careplan ca issue`).",
        )
    return OfficeIdentity(
        office_number=office_number,
        office_user_id=user_id,
        office_name=_subject_value(cert, NameOID.ORGANIZATION_NAME),
        kind=kind,
        serial=cert.serial_number,
        fingerprint=fingerprint(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


def _issuer_of(cert: x509.Certificate, cas: Sequence[x509.Certificate]) -> x509.Certificate | None:
    for ca in cas:
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return ca
    return None


def _has_client_auth(cert: x509.Certificate) -> bool:
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return ExtendedKeyUsageOID.CLIENT_AUTH in usage


def judge_certificate(
    cert: x509.Certificate,
    *,
    trusted: Sequence[x509.Certificate],
    revoked: Collection[int],
    now: dt.datetime,
    operation: Operation,
) -> OfficeIdentity:
    """The office a certificate proves, or the one refusal that explains why it proves none.

    Order: issuer, identity, kind, usage (`judge_structure`), then validity on `now` (the hub's
    simulated clock) and revocation (`judge_on`). Raises CareplanError with the message of
    `operation` (R2.3).
    """
    identity = judge_structure(cert, trusted=trusted, operation=operation)
    return judge_on(identity, revoked=revoked, now=now, operation=operation)


def _refuse(code: str, operation: Operation, ja: tuple[str, str], en: tuple[str, str]) -> CareplanError:
    """A refusal with its detail and fix in Japanese (`ja`) and English (`en`)."""
    return CareplanError(code, operation=operation, detail=ja[0], fix=ja[1], detail_en=en[0], fix_en=en[1])


def judge_structure(
    cert: x509.Certificate, *, trusted: Sequence[x509.Certificate], operation: Operation
) -> OfficeIdentity:
    """The checks that depend on the certificate and the trusted CAs only (issuer, identity, kind,
    usage): their result never changes, so a caller may keep it by fingerprint and re-run only
    `judge_on` (time and revocation), which is what the hub's judgement cache does."""
    if _issuer_of(cert, trusted) is None:
        issuer = cert.issuer.rfc4514_string()
        raise _refuse(
            "CERT_UNTRUSTED",
            operation,
            (
                f"発行者 {issuer!r} はこのハブが信頼する認証局ではありません",
                "ハブの認証局がこの事業所に発行した証明書をインストールしてください。",
            ),
            (
                f"issuer {issuer!r} is not a CA this hub trusts",
                "Install the certificate issued for this office by the hub's CA.",
            ),
        )
    identity = identity_of(cert, operation=operation)
    if not identity.kind.accepted:
        raise _refuse(
            "CERT_KIND_NOT_ACCEPTED",
            operation,
            (
                f"この証明書は{identity.kind.value}です",
                "介護保険証明書または請求委任事業所用ケアプラン証明書を使ってください（R2.1）。",
            ),
            (
                f"the certificate is a {identity.kind.value}",
                "Use the office's 介護保険証明書 or 請求委任事業所用ケアプラン証明書 (R2.1).",
            ),
        )
    if not _has_client_auth(cert):
        raise _refuse(
            "CERT_NO_CLIENT_AUTH",
            operation,
            (
                "証明書にTLSクライアント認証の用途（clientAuth）がありません",
                "クライアント認証の用途を付けて証明書を再発行してください。",
            ),
            (
                "the certificate lacks the clientAuth extended key usage",
                "Re-issue the certificate with the TLS client-authentication usage.",
            ),
        )
    return identity


def judge_on(
    identity: OfficeIdentity, *, revoked: Collection[int], now: dt.datetime, operation: Operation
) -> OfficeIdentity:
    """The checks that move with time: validity on `now` and revocation."""
    if now < identity.not_before:
        raise _refuse(
            "CERT_NOT_YET_VALID",
            operation,
            (
                f"有効期間の開始は {for_json(identity.not_before.isoformat())}、"
                f"ハブの時刻は {for_json(now.isoformat())} です",
                "証明書の開始日まで待つか、端末とハブの時刻を確かめてください。",
            ),
            (
                f"valid from {identity.not_before.isoformat()}, hub time is {now.isoformat()}",
                "Wait until the certificate's start date, or check the terminal's and hub's clocks.",
            ),
        )
    if now > identity.not_after:
        raise _refuse(
            "CERT_EXPIRED",
            operation,
            (
                f"有効期間は {for_json(identity.not_after.isoformat())} に終わりました"
                f"（ハブの時刻 {for_json(now.isoformat())}）",
                "更新された事業所の証明書をインストールしてください。",
            ),
            (
                f"expired at {identity.not_after.isoformat()}, hub time is {now.isoformat()}",
                "Install the office's renewed certificate.",
            ),
        )
    if identity.serial in revoked:
        raise _refuse(
            "CERT_REVOKED",
            operation,
            (
                f"シリアル {identity.serial:x} の証明書は認証局の失効リストにあります",
                "この事業所の証明書を新しく発行してもらい、端末にインストールしてください。",
            ),
            (
                f"serial {identity.serial:x} is on the CA's revocation list",
                "Have a new certificate issued for this office and install it on the terminal.",
            ),
        )
    return identity


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPair:
    """An office certificate with its private key, as a terminal holds it."""

    certificate: x509.Certificate
    key: rsa.RSAPrivateKey
    extra: tuple[x509.Certificate, ...] = ()


def load_p12(data: bytes, password: str) -> KeyPair:
    """Open a PKCS#12; ValueError with a readable reason on a wrong password or a bad file."""
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password.encode("utf-8"))
    except ValueError as exc:
        raise ValueError(
            "PKCS#12 を開けません（パスワードが違うか、.p12 ファイルではありません） / "
            f"cannot open the PKCS#12 (wrong password, or not a .p12 file): {exc}"
        ) from None
    if cert is None or not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("PKCS#12 に RSA 鍵の証明書がありません / the PKCS#12 holds no certificate with an RSA key")
    return KeyPair(certificate=cert, key=key, extra=tuple(extra))
