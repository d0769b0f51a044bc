"""TrustStore.judge_certificate (hub/trust.py): a certificate object judged before keeps its
structural judgement, and its time and revocation are judged again on every call."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

import hub.trust as trust_module
from ca.authority import CertificateAuthority, Issued
from careplan.errors import CareplanError, Operation
from hub.trust import TrustStore

NOW = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)


def _office(ca: CertificateAuthority) -> Issued:
    return ca.issue_office(
        office_number="1171201369", office_user_id="KJ1171201369", office_name="テスト訪問介護", now=NOW
    )


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create(now=NOW, directory=tmp_path / "ca")


def _store(ca: CertificateAuthority) -> TrustStore:
    assert ca.directory is not None
    return TrustStore(ca.directory / "ca.pem", ca.directory / "crl.pem")


def _code(store: TrustStore, cert: x509.Certificate, now: dt.datetime = NOW) -> str:
    try:
        store.judge_certificate(cert, now=now, operation=Operation.SEND)
    except CareplanError as refusal:
        return refusal.code
    return "ok"


def test_the_same_object_and_an_equal_one_get_the_same_identity(ca: CertificateAuthority) -> None:
    store = _store(ca)
    office = _office(ca)
    first = store.judge_certificate(office.certificate, now=NOW, operation=Operation.SEND)
    again = store.judge_certificate(office.certificate, now=NOW, operation=Operation.SEND)
    copy = x509.load_der_x509_certificate(office.certificate.public_bytes(Encoding.DER))
    assert first == again == store.judge_certificate(copy, now=NOW, operation=Operation.SEND)


def test_a_remembered_object_is_still_judged_on_time_and_revocation(ca: CertificateAuthority) -> None:
    store = _store(ca)
    office = _office(ca)
    assert _code(store, office.certificate) == "ok"
    assert _code(store, office.certificate, office.certificate.not_valid_after_utc + dt.timedelta(days=1)) == (
        "CERT_EXPIRED"
    )
    assert _code(store, office.certificate, office.certificate.not_valid_before_utc - dt.timedelta(days=1)) == (
        "CERT_NOT_YET_VALID"
    )
    ca.revoke(office.certificate.serial_number, now=NOW)  # publishes the CRL the store reads
    assert _code(store, office.certificate) == "CERT_REVOKED"


def test_refusals_are_not_remembered(ca: CertificateAuthority) -> None:
    store = _store(ca)
    stranger = _office(CertificateAuthority.create(now=NOW))
    assert _code(store, stranger.certificate) == "CERT_UNTRUSTED"
    assert _code(store, stranger.certificate) == "CERT_UNTRUSTED"
    assert not store._judged_objects


def test_remembered_objects_are_bounded(ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trust_module, "JUDGEMENT_CACHE", 2)
    store = _store(ca)
    offices = [_office(ca) for _ in range(3)]
    for office in offices:
        assert _code(store, office.certificate) == "ok"
    assert len(store._judged_objects) == 2
    assert all(entry[0] is not offices[0].certificate for entry in store._judged_objects.values())
