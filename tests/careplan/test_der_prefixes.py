"""The hub's cheap DER check of an office's later signatures (careplan.signature.DerPrefixes):
the same verdicts as the full check, whatever the cache holds."""

from __future__ import annotations

import pytest

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
