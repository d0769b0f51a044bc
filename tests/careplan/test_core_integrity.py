"""Issue 9 part C in the pure core: file names a Windows receiver cannot save (careplan/manifest.py)
and signatures that are attached or not DER (careplan/signature.py), each refused with its own code."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from ca.authority import CertificateAuthority, Issued
from careplan.errors import CATALOGUE, CareplanError
from careplan.manifest import Manifest, file_name_problem
from careplan.signature import sign, verify

NOW = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)
CONTENT = b'{"files":[],"sender":"1171201369"}'


def build(names: list[str]) -> Manifest:
    return Manifest.build(
        transmission_id="a" * 32,
        sender="1171201369",
        recipient="1370100024",
        signed_at=NOW,
        files=[(name, b"data") for name in names],
    )


def refusal(names: list[str]) -> CareplanError:
    with pytest.raises(CareplanError) as caught:
        build(names)
    error = caught.value
    assert error.fix and error.detail_en and error.fix_en, "Japanese detail and fix with English beside them"
    return error


@pytest.mark.parametrize(
    "name",
    [
        "CON.txt",
        "con.txt",
        "NUL.txt",
        "nul",
        "LPT1.txt",
        "aux.csv",
        "Aux.tar.gz",
        "PRN",
        "COM9.pdf",
        "com0.txt",
        "LPT1 .txt",
        "COM¹.txt",
        "CONIN$.txt",
        "conout$",
    ],
)
def test_windows_device_names_are_refused(name: str) -> None:
    assert refusal([name]).code == "FILE_NAME_RESERVED"
    assert file_name_problem(name) is not None


@pytest.mark.parametrize("name", ["memo.", "memo.txt.", "memo.txt ", "memo ", "計画書..."])
def test_trailing_dots_and_spaces_are_refused(name: str) -> None:
    assert refusal([name]).code == "FILE_NAME_TRAILING_DOT"


@pytest.mark.parametrize(
    "pair",
    [
        ("a.txt", "A.txt"),
        ("straße.txt", "STRASSE.txt"),
        (unicodedata.normalize("NFC", "ガイド.txt"), unicodedata.normalize("NFD", "ガイド.txt")),
        (unicodedata.normalize("NFD", "が.PDF"), unicodedata.normalize("NFC", "が.pdf")),
    ],
)
def test_case_and_normalisation_twins_are_refused(pair: tuple[str, str]) -> None:
    error = refusal(list(pair))
    assert error.code == "FILE_NAME_DUPLICATE"
    assert repr(pair[0]) in error.detail and repr(pair[1]) in error.detail


def test_exact_duplicates_stay_a_malformed_manifest() -> None:
    with pytest.raises(CareplanError) as caught:
        build(["a.txt", "a.txt"])
    assert caught.value.code == "MANIFEST_INVALID"


def test_the_same_rules_apply_when_the_hub_parses_a_manifest() -> None:
    text = build(["ok.txt"]).to_bytes().decode().replace("ok.txt", "CON.txt")
    with pytest.raises(CareplanError) as caught:
        Manifest.from_bytes(text.encode())
    assert caught.value.code == "FILE_NAME_RESERVED"


@pytest.mark.parametrize(
    "code",
    [
        "FILE_NAME_RESERVED",
        "FILE_NAME_TRAILING_DOT",
        "FILE_NAME_DUPLICATE",
        "SIGNATURE_NOT_DETACHED",
        "SIGNATURE_NOT_DER",
        "CLOCK_BEFORE_RECORDED",
    ],
)
def test_new_catalogue_entries_carry_both_languages(code: str) -> None:
    spec = CATALOGUE[code]
    assert spec.explanation and spec.explanation_ja and spec.fix_ja and spec.fix_en
    # Signature refusals read the real system's 送信に失敗しました…; the others are our own wording.
    assert spec.real == code.startswith("SIGNATURE_")


# --- signatures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def office() -> Issued:
    ca = CertificateAuthority.create(now=NOW)
    return ca.issue_office(
        office_number="1171201369", office_user_id="KJ1171201369", office_name="テスト訪問介護", now=NOW
    )


def _tlvs(data: bytes) -> Iterator[tuple[int, bytes]]:
    at = 0
    while at < len(data):
        tag, first = data[at], data[at + 1]
        at += 2
        length = first
        if first & 0x80:
            length = int.from_bytes(data[at : at + (first & 0x7F)], "big")
            at += first & 0x7F
        yield tag, data[at : at + length]
        at += length


def long_form_lengths(der: bytes) -> bytes:
    """The same structure with every length in (non-minimal) two-byte long form: valid BER."""
    out = b""
    for tag, value in _tlvs(der):
        inner = long_form_lengths(value) if tag & 0x20 else value
        out += bytes([tag, 0x82]) + len(inner).to_bytes(2, "big") + inner
    return out


def indefinite_outer_length(der: bytes) -> bytes:
    ((tag, value),) = list(_tlvs(der))
    return bytes([tag, 0x80]) + value + b"\x00\x00"


def test_a_detached_der_signature_verifies(office: Issued) -> None:
    assert verify(sign(CONTENT, office.certificate, office.key), CONTENT).certificate == office.certificate


def test_an_attached_signature_is_refused(office: Issued) -> None:
    attached = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(CONTENT)
        .add_signer(office.certificate, office.key, hashes.SHA256())
        .sign(Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )
    with pytest.raises(CareplanError) as caught:
        verify(attached, CONTENT)
    assert caught.value.code == "SIGNATURE_NOT_DETACHED"
    assert caught.value.message == "送信に失敗しました。再度実行してください。"


@pytest.mark.parametrize("reencode", [long_form_lengths, indefinite_outer_length])
def test_ber_re_encodings_are_refused(office: Issued, reencode: object) -> None:
    der = sign(CONTENT, office.certificate, office.key)
    ber = reencode(der)  # type: ignore[operator]
    assert ber != der
    with pytest.raises(CareplanError) as caught:
        verify(ber, CONTENT)
    assert caught.value.code == "SIGNATURE_NOT_DER"
