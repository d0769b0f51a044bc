"""The hub's cheap DER check of an office's later signatures (careplan.signature.DerPrefixes):
the same verdicts as the full check, whatever the cache holds."""

from __future__ import annotations

import pytest
from asn1crypto import cms

import careplan.signature as signature_module
from careplan.errors import CareplanError
from careplan.signature import DerPrefixes, sign, verify
from tests.careplan.test_core_integrity import CONTENT, indefinite_outer_length, long_form_lengths, office

__all__ = ["office"]  # the module fixture, shared


def test_later_signatures_of_an_office_verify_from_the_remembered_prefix(office) -> None:  # type: ignore[no-untyped-def]
    known = DerPrefixes()
    first = sign(CONTENT, office.certificate, office.key)
    verify(first, CONTENT, der_prefixes=known)
    second = sign(CONTENT + b" ", office.certificate, office.key)
    assert any(second.startswith(p) for p in known._known), "the second signature shares the prefix"
    assert verify(second, CONTENT + b" ", der_prefixes=known).certificate == office.certificate


@pytest.mark.parametrize("reencode", [long_form_lengths, indefinite_outer_length])
def test_ber_re_encodings_are_refused_with_a_warm_cache(office, reencode) -> None:  # type: ignore[no-untyped-def]
    known = DerPrefixes()
    verify(sign(CONTENT, office.certificate, office.key), CONTENT, der_prefixes=known)
    ber = reencode(sign(CONTENT, office.certificate, office.key))
    with pytest.raises(CareplanError) as caught:
        verify(ber, CONTENT, der_prefixes=known)
    assert caught.value.code == "SIGNATURE_NOT_DER"


def test_the_cache_is_bounded() -> None:
    known = DerPrefixes(limit=2)
    for prefix in (b"a", b"b", b"c"):
        known.add(prefix)
    assert b"c" in known and b"a" not in known


def _verdict(signature: bytes, content: bytes, known: DerPrefixes | None) -> tuple[str, str]:
    try:
        return "ok", str(verify(signature, content, der_prefixes=known).certificate.serial_number)
    except CareplanError as refusal:
        return refusal.code, str(refusal.detail)


def test_a_known_signer_info_shape_skips_the_re_encoding_and_the_certificate_search(office, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    known = DerPrefixes()
    verify(sign(CONTENT, office.certificate, office.key), CONTENT, der_prefixes=known)
    verify(sign(CONTENT + b"1", office.certificate, office.key), CONTENT + b"1", der_prefixes=known)
    assert len(known._shapes) == 1, "every signature of the office has the same shape"

    def no_re_encoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("the signerInfos were re-encoded")

    monkeypatch.setattr(cms.SignerInfos, "copy", no_re_encoding)
    monkeypatch.setattr(signature_module, "_signer_certificate", no_re_encoding)  # remembered too
    third = sign(CONTENT + b"2", office.certificate, office.key)
    assert verify(third, CONTENT + b"2", der_prefixes=known).certificate == office.certificate


def test_every_byte_changed_in_the_signer_infos_gets_the_verdict_of_the_full_check(office) -> None:  # type: ignore[no-untyped-def]
    """Warm cache (prefix and shape known) against no cache at all, for each byte of the
    signerInfos changed to a few values: digits and letters where the signing time is, tags,
    lengths and padding elsewhere."""
    known = DerPrefixes()
    for n in range(2):
        verify(sign(CONTENT + bytes([n]), office.certificate, office.key), CONTENT + bytes([n]), der_prefixes=known)
    signature = sign(CONTENT, office.certificate, office.key)
    tail = len(cms.ContentInfo.load(signature)["content"]["signer_infos"].dump())
    verdicts = set()
    for at in range(len(signature) - tail, len(signature)):
        for value in {signature[at] ^ 1, 0x00, 0x80, ord("9"), ord("Z"), ord("+")} - {signature[at]}:
            changed = signature[:at] + bytes([value]) + signature[at + 1 :]
            warm = _verdict(changed, CONTENT, known)
            assert warm == _verdict(changed, CONTENT, None), f"byte {at} = {value:#x}"
            verdicts.add(warm[0])
    assert {"SIGNATURE_NOT_DER", "SIGNATURE_INVALID"} <= verdicts


def test_signed_attributes_out_of_der_order_take_the_full_check(office) -> None:  # type: ignore[no-untyped-def]
    """The same attributes in reverse (non-DER) order: the same bytes and lengths, another shape,
    so the full check refuses it as it always did."""
    known = DerPrefixes()
    verify(sign(CONTENT, office.certificate, office.key), CONTENT, der_prefixes=known)
    signature = sign(CONTENT, office.certificate, office.key)
    attributes = [a.dump() for a in cms.ContentInfo.load(signature)["content"]["signer_infos"][0]["signed_attrs"]]
    swapped = signature.replace(b"".join(attributes), b"".join(reversed(attributes)), 1)
    assert swapped != signature
    assert _verdict(swapped, CONTENT, known) == _verdict(swapped, CONTENT, None)
    assert _verdict(swapped, CONTENT, known)[0] == "SIGNATURE_NOT_DER"
