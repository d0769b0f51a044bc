"""Judging office certificates (careplan/certificates.py, R2.1–R2.3)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from cryptography import x509

from ca.authority import CertificateAuthority, Issued
from careplan.certificates import (
    ACCEPTED_KINDS,
    CertificateKind,
    OfficeIdentity,
    fingerprint,
    identity_of,
    judge_certificate,
    load_p12,
)
from careplan.errors import CareplanError, Lang, Operation

NOW = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)
NUMBER = "1171201369"
USER = "KJ1171201369"
NAME = "テスト訪問介護"
TICK = dt.timedelta(microseconds=1)

LOGIN_CERT = "正しい電子証明書をインストールしてください。"
SEND_CERT = (
    "端末に登録されている証明書が一致しないため、送信に失敗しました。"
    "サポートサイトのエラー関連 FAQ を参考のうえ、再度実行してください。"
)
RECEIVE_CERT = (
    "端末に登録されている証明書が一致しないため、受信に失敗しました。"
    "サポートサイトのエラー関連 FAQ を参考のうえ、再度実行してください。"
)


@dataclass(frozen=True, slots=True)
class Pki:
    ca: CertificateAuthority
    foreign: CertificateAuthority
    office: Issued

    def issue(self, **kwargs: object) -> Issued:
        args: dict[str, object] = {"office_number": NUMBER, "office_user_id": USER, "office_name": NAME, "now": NOW}
        return self.ca.issue_office(**(args | kwargs))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca = CertificateAuthority.create(now=NOW - dt.timedelta(days=30))
    # Same subject name as the hub's CA: only the key tells them apart.
    foreign = CertificateAuthority.create(now=NOW - dt.timedelta(days=30))
    office = ca.issue_office(office_number=NUMBER, office_user_id=USER, office_name=NAME, now=NOW)
    return Pki(ca=ca, foreign=foreign, office=office)


def judge(
    pki: Pki,
    cert: x509.Certificate,
    *,
    now: dt.datetime = NOW,
    revoked: frozenset[int] = frozenset(),
    operation: Operation = Operation.SEND,
    trusted: list[x509.Certificate] | None = None,
) -> OfficeIdentity:
    return judge_certificate(
        cert,
        trusted=trusted if trusted is not None else [pki.ca.certificate],
        revoked=revoked,
        now=now,
        operation=operation,
    )


def refusal(pki: Pki, cert: x509.Certificate, **kwargs: object) -> CareplanError:
    with pytest.raises(CareplanError) as caught:
        judge(pki, cert, **kwargs)  # type: ignore[arg-type]
    assert caught.value.detail
    assert caught.value.fix
    return caught.value


# --- a good certificate -------------------------------------------------------------------------
def test_office_certificate_is_accepted_with_its_identity(pki: Pki) -> None:
    identity = judge(pki, pki.office.certificate)
    assert identity.office_number == NUMBER
    assert identity.office_user_id == USER
    assert identity.office_name == NAME
    assert identity.kind is CertificateKind.KAIGO
    assert identity.serial == pki.office.certificate.serial_number
    assert identity.fingerprint == fingerprint(pki.office.certificate)
    assert len(identity.fingerprint) == 64
    assert identity.not_before == NOW - dt.timedelta(minutes=5)
    assert identity.not_after == identity.not_before + dt.timedelta(days=730)


def test_any_of_several_trusted_cas_will_do(pki: Pki) -> None:
    identity = judge(pki, pki.office.certificate, trusted=[pki.foreign.certificate, pki.ca.certificate])
    assert identity.office_number == NUMBER


@pytest.mark.parametrize("kind", sorted(ACCEPTED_KINDS))
def test_both_accepted_kinds_pass(pki: Pki, kind: CertificateKind) -> None:
    assert judge(pki, pki.issue(kind=kind).certificate).kind is kind


def test_accepted_kinds_are_exactly_the_two_of_r2_1() -> None:
    assert {CertificateKind.KAIGO, CertificateKind.SEIKYU_ININ} == set(ACCEPTED_KINDS)
    assert CertificateKind.KAIGO.accepted and CertificateKind.SEIKYU_ININ.accepted
    assert not CertificateKind.DAIRININ.accepted and not CertificateKind.SHOGAI.accepted


# --- refusals, in order -------------------------------------------------------------------------
def test_untrusted_issuer(pki: Pki) -> None:
    forged = pki.foreign.issue_office(office_number=NUMBER, office_user_id=USER, office_name=NAME, now=NOW)
    error = refusal(pki, forged.certificate)
    assert error.code == "CERT_UNTRUSTED"
    assert refusal(pki, pki.office.certificate, trusted=[]).code == "CERT_UNTRUSTED"


def test_untrusted_comes_before_every_other_refusal(pki: Pki) -> None:
    forged = pki.foreign.issue_office(
        office_number=NUMBER,
        office_user_id=USER,
        office_name=NAME,
        kind=CertificateKind.DAIRININ,
        client_auth=False,
        now=NOW,
        days=1,
    )
    error = refusal(
        pki, forged.certificate, now=NOW + dt.timedelta(days=10), revoked=frozenset({forged.certificate.serial_number})
    )
    assert error.code == "CERT_UNTRUSTED"


def test_ca_certificate_itself_is_not_an_office(pki: Pki) -> None:
    # Self-signed, so "issued by" a trusted CA; but it names no office.
    assert refusal(pki, pki.ca.certificate).code == "CERT_MALFORMED"


@pytest.mark.parametrize("kind", [CertificateKind.DAIRININ, CertificateKind.SHOGAI])
def test_kind_not_accepted(pki: Pki, kind: CertificateKind) -> None:
    error = refusal(pki, pki.issue(kind=kind).certificate)
    assert error.code == "CERT_KIND_NOT_ACCEPTED"
    assert kind.value in error.detail


def test_kind_comes_before_usage_validity_and_revocation(pki: Pki) -> None:
    cert = pki.issue(kind=CertificateKind.DAIRININ, client_auth=False, days=1).certificate
    error = refusal(pki, cert, now=NOW + dt.timedelta(days=10), revoked=frozenset({cert.serial_number}))
    assert error.code == "CERT_KIND_NOT_ACCEPTED"


@pytest.mark.parametrize(
    ("number", "user"),
    [("not-a-number", USER), ("117120136", USER), (NUMBER, "C117120136901"), (NUMBER, "XX1171201369")],
)
def test_missing_office_identity_is_malformed(pki: Pki, number: str, user: str) -> None:
    cert = pki.issue(office_number=number, office_user_id=user).certificate
    assert refusal(pki, cert).code == "CERT_MALFORMED"
    with pytest.raises(CareplanError, match="CERT_MALFORMED"):
        identity_of(cert)


def test_identity_comes_before_kind(pki: Pki) -> None:
    cert = pki.issue(office_number="bad", kind=CertificateKind.SHOGAI).certificate
    assert refusal(pki, cert).code == "CERT_MALFORMED"


def test_missing_client_auth_is_refused(pki: Pki) -> None:
    error = refusal(pki, pki.issue(client_auth=False).certificate)
    assert error.code == "CERT_NO_CLIENT_AUTH"
    assert "clientAuth" in error.detail


def test_usage_comes_before_validity(pki: Pki) -> None:
    cert = pki.issue(client_auth=False, days=1).certificate
    assert refusal(pki, cert, now=NOW + dt.timedelta(days=10)).code == "CERT_NO_CLIENT_AUTH"


def test_server_certificate_is_not_an_office_certificate(pki: Pki) -> None:
    assert refusal(pki, pki.ca.issue_server(now=NOW).certificate).code == "CERT_MALFORMED"


def test_validity_boundaries_are_judged_on_now(pki: Pki) -> None:
    start = dt.datetime(2027, 4, 1, 0, 0, tzinfo=dt.UTC)
    cert = pki.issue(not_before=start, days=30).certificate
    end = start + dt.timedelta(days=30)
    assert cert.not_valid_before_utc == start and cert.not_valid_after_utc == end
    assert judge(pki, cert, now=start).not_before == start
    assert judge(pki, cert, now=end).not_after == end
    early = refusal(pki, cert, now=start - TICK)
    assert early.code == "CERT_NOT_YET_VALID"
    assert start.isoformat() in early.detail_in(Lang.EN)
    late = refusal(pki, cert, now=end + TICK)
    assert late.code == "CERT_EXPIRED"
    assert end.isoformat() in late.detail_in(Lang.EN)
    # The judgement reads only `now`: the real clock (2026 here) plays no part.
    assert refusal(pki, cert, now=NOW).code == "CERT_NOT_YET_VALID"


def test_validity_with_another_time_zone(pki: Pki) -> None:
    start = dt.datetime(2027, 4, 1, 0, 0, tzinfo=dt.UTC)
    cert = pki.issue(not_before=start, days=30).certificate
    jst = dt.timezone(dt.timedelta(hours=9))
    assert judge(pki, cert, now=start.astimezone(jst)).office_number == NUMBER
    assert refusal(pki, cert, now=(start - TICK).astimezone(jst)).code == "CERT_NOT_YET_VALID"


def test_validity_comes_before_revocation(pki: Pki) -> None:
    cert = pki.issue(days=1).certificate
    revoked = frozenset({cert.serial_number})
    assert refusal(pki, cert, now=NOW + dt.timedelta(days=2), revoked=revoked).code == "CERT_EXPIRED"
    assert refusal(pki, cert, now=NOW - dt.timedelta(days=1), revoked=revoked).code == "CERT_NOT_YET_VALID"


def test_revoked(pki: Pki) -> None:
    cert = pki.office.certificate
    error = refusal(pki, cert, revoked=frozenset({1, cert.serial_number}))
    assert error.code == "CERT_REVOKED"
    assert format(cert.serial_number, "x") in error.detail
    assert judge(pki, cert, revoked=frozenset({cert.serial_number + 1})).office_number == NUMBER


@pytest.mark.parametrize(
    ("operation", "message"),
    [(Operation.LOGIN, LOGIN_CERT), (Operation.SEND, SEND_CERT), (Operation.RECEIVE, RECEIVE_CERT)],
)
def test_message_follows_the_operation(pki: Pki, operation: Operation, message: str) -> None:
    forged = pki.foreign.issue_office(office_number=NUMBER, office_user_id=USER, office_name=NAME, now=NOW)
    cases = [
        (forged.certificate, {}),
        (pki.issue(kind=CertificateKind.DAIRININ).certificate, {}),
        (pki.office.certificate, {"revoked": frozenset({pki.office.certificate.serial_number})}),
        (pki.office.certificate, {"now": NOW + dt.timedelta(days=3650)}),
    ]
    for cert, kwargs in cases:
        error = refusal(pki, cert, operation=operation, **kwargs)
        assert error.operation is operation
        assert error.message == message


def test_malformed_identity_message_follows_the_operation(pki: Pki) -> None:
    cert = pki.issue(office_number="bad").certificate
    assert refusal(pki, cert, operation=Operation.LOGIN).message == LOGIN_CERT
    with pytest.raises(CareplanError) as caught:
        identity_of(cert, operation=Operation.RECEIVE)
    assert caught.value.message == RECEIVE_CERT


# --- identity, kinds, PKCS#12 -------------------------------------------------------------------
def test_identity_of_reads_number_user_and_kind(pki: Pki) -> None:
    issued = pki.issue(
        office_number="137010001" + "0", office_user_id="KJ99999", office_name="名前", kind=CertificateKind.SEIKYU_ININ
    )
    identity = identity_of(issued.certificate)
    assert (identity.office_number, identity.office_user_id, identity.office_name, identity.kind) == (
        "1370100010",
        "KJ99999",
        "名前",
        CertificateKind.SEIKYU_ININ,
    )


def test_identity_of_a_certificate_without_kind_policy(pki: Pki) -> None:
    with pytest.raises(CareplanError, match="CERT_MALFORMED"):
        identity_of(pki.ca.issue_server(now=NOW).certificate)


@pytest.mark.parametrize("kind", list(CertificateKind))
def test_kind_slugs_and_names(kind: CertificateKind) -> None:
    assert CertificateKind.from_slug(kind.slug) is kind
    assert CertificateKind.from_slug(kind.value) is kind
    assert kind.oid.dotted_string.endswith(f".{list(CertificateKind).index(kind) + 1}")


def test_kind_slug_values() -> None:
    assert [k.slug for k in CertificateKind] == ["kaigo", "seikyu-inin", "dairinin", "shogai"]
    assert len({k.oid for k in CertificateKind}) == 4


@pytest.mark.parametrize("slug", ["", "KAIGO", "Kaigo", "unknown", "介護証明書"])
def test_unknown_slug(slug: str) -> None:
    with pytest.raises(ValueError, match="unknown certificate kind"):
        CertificateKind.from_slug(slug)


def test_load_p12(pki: Pki) -> None:
    data = pki.office.to_p12("正しいpass", ca=pki.ca.certificate)
    pair = load_p12(data, "正しいpass")
    assert pair.certificate == pki.office.certificate
    assert pair.key.private_numbers() == pki.office.key.private_numbers()
    assert pair.extra == (pki.ca.certificate,)


@pytest.mark.parametrize("password", ["wrong", "", "正しいPASS"])
def test_load_p12_with_wrong_password(pki: Pki, password: str) -> None:
    data = pki.office.to_p12("正しいpass")
    with pytest.raises(ValueError, match="cannot open the PKCS#12"):
        load_p12(data, password)


def test_load_p12_of_garbage() -> None:
    with pytest.raises(ValueError, match="cannot open the PKCS#12"):
        load_p12(b"not a p12", "x")
