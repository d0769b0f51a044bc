"""A repeat signer's signatures judged on their changing values alone (careplan.signature_template):
the same verdict, code and detail as the full verification, on real signatures and random
mutations of them."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from asn1crypto import cms, core
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import careplan.signature as signature_module
from ca.authority import CertificateAuthority, Issued
from careplan.errors import CareplanError
from careplan.signature import DerPrefixes, sign, verify
from careplan.signature_template import LEARNED_BYTES, Template, Templates, learn, utc_time
from tests.careplan.test_core_integrity import CONTENT, NOW, office


def _sha(content: bytes) -> bytes:
    return hashlib.sha256(content).digest()


__all__ = ["office"]  # the module fixture, shared
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _verdict(signature: bytes, content: bytes, known: DerPrefixes | None) -> tuple[object, ...]:
    try:
        signed = verify(signature, content, der_prefixes=known)
    except CareplanError as refusal:
        return refusal.code, refusal.operation, refusal.detail, refusal.detail_en, refusal.fix
    return "ok", signed.certificate, signed.signing_time


def _warm(office: Issued) -> DerPrefixes:
    known = DerPrefixes()
    verify(sign(CONTENT, office.certificate, office.key), CONTENT, der_prefixes=known)
    return known


def _template(office: Issued, signature: bytes, content: bytes) -> Template:
    certificate = verify(signature, content).certificate
    template = learn(signature, cms.ContentInfo.load(signature), certificate)
    assert template is not None
    return template


# --- the signing time -------------------------------------------------------------------------
def _asn1crypto_utc_time(contents: bytes) -> dt.datetime | None:
    """What the full verification makes of a signingTime's contents: its time when it parses and
    is DER (`_changing_values_der`), else None (the full check refuses it)."""
    try:
        value = core.UTCTime.load(b"\x17" + bytes([len(contents)]) + contents, strict=True)
        native = value.native
        return native if value.copy().dump(force=True) == value.dump() else None
    except Exception:
        return None


_DIGITS = st.text(alphabet="0123456789Z+-", min_size=13, max_size=13).map(str.encode)
_TIMES = st.datetimes(min_value=dt.datetime(1950, 1, 1), max_value=dt.datetime(2049, 12, 31, 23, 59, 59)).map(
    lambda t: t.strftime("%y%m%d%H%M%SZ").encode()
)


@given(st.one_of(st.binary(min_size=13, max_size=13), _DIGITS, _TIMES))
@settings(max_examples=2000, deadline=None)
def test_utc_time_is_asn1cryptos_der_utc_time(contents: bytes) -> None:
    assert utc_time(contents) == _asn1crypto_utc_time(contents)


@pytest.mark.parametrize("contents", [b"261201205500Z", b"491231235959Z", b"500101000000Z"])
def test_utc_time_of_der_times(contents: bytes) -> None:
    native = utc_time(contents)
    assert native is not None and native == _asn1crypto_utc_time(contents)
    assert native.tzinfo is not None and native.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    "contents", [b"261301205500Z", b"260230205500Z", b"261201245500Z", b"2612012055+00", b"26120120550Z"]
)
def test_utc_time_refuses_what_is_not_a_der_time(contents: bytes) -> None:
    assert utc_time(contents) is None


# --- the fast path ----------------------------------------------------------------------------
def test_a_repeat_signers_signature_is_judged_without_parsing(office, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    known = _warm(office)
    later = sign(CONTENT + b"1", office.certificate, office.key)
    expected = _verdict(later, CONTENT + b"1", None)

    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("the signature was parsed")

    monkeypatch.setattr(cms.ContentInfo, "load", no_parsing)
    assert _verdict(later, CONTENT + b"1", known) == expected
    assert expected[0] == "ok" and expected[2] is not None


def test_a_known_shape_without_a_template_still_skips_the_re_encoding(office, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The DerPrefixes shape path stays right for what the templates do not take."""
    known = _warm(office)
    monkeypatch.setattr(known.templates, "judge", lambda signature, content_sha256: None)
    verify(sign(CONTENT + b"1", office.certificate, office.key), CONTENT + b"1", der_prefixes=known)

    def no_re_encoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("the signerInfos were re-encoded")

    monkeypatch.setattr(cms.SignerInfos, "copy", no_re_encoding)
    monkeypatch.setattr(signature_module, "_signer_certificate", no_re_encoding)
    third = sign(CONTENT + b"2", office.certificate, office.key)
    assert verify(third, CONTENT + b"2", der_prefixes=known).certificate == office.certificate


def test_the_template_marks_exactly_the_changing_values(office) -> None:  # type: ignore[no-untyped-def]
    first = sign(CONTENT, office.certificate, office.key)
    second = sign(CONTENT + b"1", office.certificate, office.key)
    template = _template(office, first, CONTENT)
    assert len(second) == len(first)
    assert all(first[a:b] == second[a:b] for a, b in template.fixed)
    assert template.time is not None and template.digest[1] - template.digest[0] == 32
    assert template.value[1] - template.value[0] == 256  # RSA-2048
    changing = sorted([template.digest, template.time, template.value])
    covered = sum(b - a for a, b in template.fixed) + sum(b - a for a, b in changing)
    assert covered == len(first)


def test_another_certificate_of_the_same_office_has_its_own_template(office) -> None:  # type: ignore[no-untyped-def]

    other = CertificateAuthority.create(now=NOW).issue_office(
        office_number="1171201369", office_user_id="KJ1171201369", office_name="テスト訪問介護", now=NOW
    )
    known = _warm(office)
    signature = sign(CONTENT, other.certificate, other.key)
    assert known.templates.judge(signature, _sha(CONTENT)) is None
    assert verify(signature, CONTENT, der_prefixes=known).certificate == other.certificate
    assert known.templates.judge(sign(CONTENT, other.certificate, other.key), _sha(CONTENT)) is not None


def test_the_templates_are_bounded(office) -> None:  # type: ignore[no-untyped-def]
    templates = Templates(limit=2)
    for n in range(3):
        signature = sign(CONTENT + bytes([n]), office.certificate, office.key)
        template = _template(office, signature, CONTENT + bytes([n]))
        templates.add(
            Template(
                signature=template.signature[:10] + bytes([n]) + template.signature[11:],
                fixed=template.fixed,
                digest=template.digest,
                time=template.time,
                value=template.value,
                signed_attrs=template.signed_attrs,
                certificate=template.certificate,
                public_key=template.public_key,
            )
        )
    assert templates._count <= 2


# --- the same verdicts as the full verification -----------------------------------------------
@pytest.fixture(scope="module")
def warm(office: Issued) -> tuple[DerPrefixes, bytes, Template, Issued]:
    known = _warm(office)
    fresh = sign(CONTENT + b"x", office.certificate, office.key)
    return known, fresh, _template(office, fresh, CONTENT + b"x"), office


@given(data=st.data())
@SETTINGS
def test_random_byte_changes_get_the_full_verdict(warm, data) -> None:  # type: ignore[no-untyped-def]
    known, fresh, *_ = warm
    changed = bytearray(fresh)
    for _ in range(data.draw(st.integers(1, 3))):
        changed[data.draw(st.integers(0, len(fresh) - 1))] = data.draw(st.integers(0, 255))
    assert _verdict(bytes(changed), CONTENT + b"x", known) == _verdict(bytes(changed), CONTENT + b"x", None)


@given(data=st.data())
@SETTINGS
def test_random_changing_values_get_the_full_verdict(warm, data) -> None:  # type: ignore[no-untyped-def]
    """New contents where the template lets bytes change: random bytes, DER and non-DER times,
    another signature's values (a valid signature over other attributes), the right digest."""
    known, fresh, template, signer = warm
    changed = bytearray(fresh)
    other = sign(CONTENT + data.draw(st.binary(max_size=4)), signer.certificate, signer.key)
    assert template.time is not None
    for start, end in data.draw(st.sets(st.sampled_from([template.digest, template.time, template.value]), min_size=1)):
        source = data.draw(
            st.one_of(
                st.binary(min_size=end - start, max_size=end - start),
                st.just(other[start:end]),
                _TIMES if (start, end) == template.time else st.just(fresh[start:end]),
                _DIGITS if (start, end) == template.time else st.just(fresh[start:end]),
            )
        )
        changed[start:end] = source
    content = data.draw(st.sampled_from([CONTENT + b"x", CONTENT]))
    assert _verdict(bytes(changed), content, known) == _verdict(bytes(changed), content, None)


@given(data=st.data())
@SETTINGS
def test_cut_and_grown_signatures_get_the_full_verdict(warm, data) -> None:  # type: ignore[no-untyped-def]
    known, fresh, *_ = warm
    at = data.draw(st.integers(0, len(fresh)))
    extra = data.draw(st.binary(max_size=3))
    cut = data.draw(st.integers(0, 3))
    changed = fresh[:at] + extra + fresh[at + cut :]
    assert _verdict(changed, CONTENT + b"x", known) == _verdict(changed, CONTENT + b"x", None)


@pytest.mark.parametrize("capabilities", [True, False])
def test_each_form_of_an_offices_signature_gets_its_own_template(office, capabilities) -> None:  # type: ignore[no-untyped-def]
    """With and without SMIMECapabilities: other signed attributes, so another template; each
    verifies as the full verification says, from the second signature on without parsing."""
    known = DerPrefixes()
    for n in range(3):
        signature = sign(CONTENT + bytes([n]), office.certificate, office.key, capabilities=capabilities)
        assert (known.templates.judge(signature, _sha(CONTENT + bytes([n]))) is not None) == (n > 0)
        assert _verdict(signature, CONTENT + bytes([n]), known) == _verdict(signature, CONTENT + bytes([n]), None)


def test_a_signature_over_the_learned_size_gets_no_template(office) -> None:  # type: ignore[no-untyped-def]
    """Templates are learned before the hub judges the signer's trust: a big signature (e.g. one
    padded with extra certificates) is verified in full each time and never kept."""
    signature = sign(CONTENT, office.certificate, office.key)
    assert len(signature) < LEARNED_BYTES, "an office's usual signature is learned"
    assert learn(signature, cms.ContentInfo.load(signature), office.certificate) is not None
    padded = signature + b"\x00" * (LEARNED_BYTES - len(signature) + 1)
    assert learn(padded, cms.ContentInfo.load(signature), office.certificate) is None
