"""Detached CMS signatures over manifests (careplan/signature.py, R2.4)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from asn1crypto import cms, core
from hypothesis import given, settings
from hypothesis import strategies as st

from ca.authority import CertificateAuthority, Issued
from careplan.errors import CareplanError, Operation, is_japanese
from careplan.signature import sign, verify

NOW = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)
CONTENT = b'{"files":[],"sender":"1171201369"}'


@dataclass(frozen=True, slots=True)
class Keys:
    office: Issued
    other: Issued
    signature: bytes


@pytest.fixture(scope="module")
def keys() -> Keys:
    ca = CertificateAuthority.create(now=NOW)
    office = ca.issue_office(
        office_number="1171201369", office_user_id="KJ1171201369", office_name="テスト訪問介護", now=NOW
    )
    other = ca.issue_office(
        office_number="1171201369", office_user_id="KJ1171201369", office_name="テスト訪問介護", now=NOW
    )
    return Keys(office=office, other=other, signature=sign(CONTENT, office.certificate, office.key))


def assert_invalid(
    signature: bytes, content: bytes, fragment: str = "", operation: Operation = Operation.SEND
) -> CareplanError:
    with pytest.raises(CareplanError) as caught:
        verify(signature, content, operation=operation)
    error = caught.value
    assert error.code == "SIGNATURE_INVALID"
    assert error.operation is operation
    assert is_japanese(error.detail) and is_japanese(error.fix), error.detail
    assert fragment in error.detail_en, error.detail_en  # the English beside it names the rule
    return error


def rewrite(signature: bytes, change: Callable[[cms.ContentInfo], None]) -> bytes:
    info = cms.ContentInfo.load(signature)
    change(info)
    return info.dump(force=True)


def signer_of(info: cms.ContentInfo) -> cms.SignerInfo:
    return info["content"]["signer_infos"][0]


def set_attribute(info: cms.ContentInfo, name: str, value: core.Asn1Value) -> None:
    for attribute in signer_of(info)["signed_attrs"]:
        if attribute["type"].native == name:
            attribute["values"] = [value]
            return
    raise AssertionError(f"no {name} attribute")


# --- the round trip -----------------------------------------------------------------------------
def test_sign_verify_round_trip(keys: Keys) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    signature = sign(CONTENT, keys.office.certificate, keys.office.key)
    after = dt.datetime.now(dt.UTC)
    signed = verify(signature, CONTENT)
    assert signed.certificate == keys.office.certificate
    assert signed.signing_time is not None
    assert signed.signing_time.tzinfo is not None
    assert before - dt.timedelta(seconds=1) <= signed.signing_time <= after


def test_signature_is_detached_sha256_with_one_signer(keys: Keys) -> None:
    info = cms.ContentInfo.load(keys.signature)
    assert info["content_type"].native == "signed_data"
    assert info["content"]["encap_content_info"]["content"].native is None  # detached
    assert CONTENT not in keys.signature
    assert len(info["content"]["signer_infos"]) == 1
    assert signer_of(info)["digest_algorithm"]["algorithm"].native == "sha256"


def test_empty_content_round_trips(keys: Keys) -> None:
    signature = sign(b"", keys.office.certificate, keys.office.key)
    assert verify(signature, b"").certificate == keys.office.certificate
    assert_invalid(signature, b"\x00", "messageDigest")


def test_binary_content_is_signed_byte_for_byte(keys: Keys) -> None:
    content = b"line1\nline2\r\n\x00\xff"
    signature = sign(content, keys.office.certificate, keys.office.key)
    verify(signature, content)
    assert_invalid(signature, content.replace(b"\r\n", b"\n"), "messageDigest")


# --- refusals -----------------------------------------------------------------------------------
@pytest.mark.parametrize("content", [CONTENT + b" ", CONTENT[:-1], b"", CONTENT.replace(b"1171", b"1172")])
def test_changed_content(keys: Keys, content: bytes) -> None:
    assert_invalid(keys.signature, content, "messageDigest")


@pytest.mark.parametrize("operation", list(Operation))
def test_refusal_speaks_in_the_words_of_the_operation(keys: Keys, operation: Operation) -> None:
    error = assert_invalid(keys.signature, b"other", operation=operation)
    assert error.message == CareplanError("SIGNATURE_INVALID", operation=operation).message


@pytest.mark.parametrize(
    "garbage", [b"", b"\x00", b"\x30\x00", b"\x30\x80", b"not a signature", b"\x30\x82\xff\xff" + b"\x00" * 10]
)
def test_garbage(garbage: bytes) -> None:
    assert_invalid(garbage, CONTENT, "not a readable CMS SignedData")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_raise_only_signature_invalid(data: bytes) -> None:
    with pytest.raises(CareplanError) as caught:
        verify(data, CONTENT)
    assert caught.value.code == "SIGNATURE_INVALID"


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_flipped_bytes_of_a_real_signature_raise_only_signature_invalid(keys: Keys, data: st.DataObject) -> None:
    signature = bytearray(keys.signature)
    position = data.draw(st.integers(0, len(signature) - 1))
    signature[position] ^= data.draw(st.integers(1, 255))
    try:
        signed = verify(bytes(signature), CONTENT)
    except CareplanError as error:
        # A flipped byte may also leave valid BER that is not DER (e.g. a boolean's value octet).
        assert error.code in ("SIGNATURE_INVALID", "SIGNATURE_NOT_DER")
    else:
        # Some bytes (e.g. inside an unsigned certificate field or the signing time) may not matter
        # to the check, but then the signature must still name the same key.
        assert signed.certificate.public_key() == keys.office.certificate.public_key()


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=64))
def test_truncated_or_extended_signature(keys: Keys, tail: bytes) -> None:
    assert_invalid(keys.signature + tail, CONTENT)
    assert_invalid(keys.signature[: -len(tail)], CONTENT)


def test_non_signed_data_cms(keys: Keys) -> None:
    data = cms.ContentInfo({"content_type": "data", "content": CONTENT}).dump()
    assert_invalid(data, CONTENT, "not signed_data")
    digested = cms.ContentInfo(
        {
            "content_type": "digested_data",
            "content": cms.DigestedData(
                {
                    "version": "v0",
                    "digest_algorithm": {"algorithm": "sha256"},
                    "encap_content_info": {"content_type": "data"},
                    "digest": hashlib.sha256(CONTENT).digest(),
                }
            ),
        }
    ).dump()
    assert_invalid(digested, CONTENT, "not signed_data")


def test_altered_digest_attribute(keys: Keys) -> None:
    forged = rewrite(
        keys.signature,
        lambda info: set_attribute(info, "message_digest", core.OctetString(hashlib.sha256(b"forged").digest())),
    )
    assert_invalid(forged, CONTENT, "messageDigest")
    # The digest now matches the forged content, but the RSA signature over the attributes fails.
    assert_invalid(forged, b"forged", "RSA signature does not verify")


def test_altered_signing_time_breaks_the_signature(keys: Keys) -> None:
    forged = rewrite(
        keys.signature,
        lambda info: set_attribute(
            info, "signing_time", cms.Time({"utc_time": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)})
        ),
    )
    assert_invalid(forged, CONTENT, "RSA signature does not verify")


def test_altered_signature_value(keys: Keys) -> None:
    def flip(info: cms.ContentInfo) -> None:
        value = bytearray(signer_of(info)["signature"].native)
        value[-1] ^= 1
        signer_of(info)["signature"] = bytes(value)

    assert_invalid(rewrite(keys.signature, flip), CONTENT, "RSA signature does not verify")


def test_key_that_does_not_match_the_certificate(keys: Keys) -> None:
    signature = sign(CONTENT, keys.office.certificate, keys.other.key)
    assert_invalid(signature, CONTENT, "RSA signature does not verify")


def test_certificate_swapped_for_another(keys: Keys) -> None:
    # The signature names the first certificate; carrying only another one leaves no signer.
    def swap(info: cms.ContentInfo) -> None:
        info["content"]["certificates"] = [
            cms.CertificateChoices.load(cms.CertificateChoices(name="certificate", value=_asn1_cert(keys.other)).dump())
        ]

    assert_invalid(rewrite(keys.signature, swap), CONTENT, "not included")


def test_signature_without_certificates(keys: Keys) -> None:
    def strip(info: cms.ContentInfo) -> None:
        info["content"]["certificates"] = cms.CertificateSet([])

    assert_invalid(rewrite(keys.signature, strip), CONTENT, "not included")


def test_two_signers_are_refused(keys: Keys) -> None:
    def duplicate(info: cms.ContentInfo) -> None:
        signer = signer_of(info)
        info["content"]["signer_infos"] = [signer, cms.SignerInfo.load(signer.dump())]

    assert_invalid(rewrite(keys.signature, duplicate), CONTENT, "2 signers")


def test_wrong_digest_algorithm_is_refused(keys: Keys) -> None:
    def sha1(info: cms.ContentInfo) -> None:
        signer_of(info)["digest_algorithm"] = {"algorithm": "sha1"}

    assert_invalid(rewrite(keys.signature, sha1), CONTENT, "SHA-256")


def test_wrong_content_type_attribute_is_refused(keys: Keys) -> None:
    forged = rewrite(keys.signature, lambda info: set_attribute(info, "content_type", cms.ContentType("signed_data")))
    assert_invalid(forged, CONTENT, "content-type attribute")


def _asn1_cert(issued: Issued) -> object:
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return asn1_x509.Certificate.load(issued.certificate.public_bytes(Encoding.DER))
