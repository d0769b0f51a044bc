"""A repeat signer's signatures judged without parsing: the template of one it verified before.

Rules this module keeps:
1. A template is learned only from a signature that `careplan.signature.verify` accepted in full
   (parse, detached, DER, one signer, its certificate, SHA-256, id-data, messageDigest, RSA): its
   bytes, and where the values that change from one signature to the next sit in them — the
   contents of messageDigest, of signingTime (UTCTime) and of the signature value. Every other
   byte (the certificate, the algorithms, the headers and so the lengths) is fixed.
2. A new signature matches a template when it has the same length and equals it byte for byte
   outside those contents. It then has the same structure, the same signer certificate and the
   same algorithms; and it is DER when its signingTime contents are DER on their own, for the
   reason `DerPrefixes` gives (an OCTET STRING's contents are DER whatever they are; the signed
   attributes keep their DER order: distinct types sort by their OIDs, before any value). So only
   what changed is judged: the digest against the content, the signingTime's DER, and the RSA
   signature over the new signed attributes. Every byte of the signature is still judged.
3. `Template.judge` only ever accepts: on anything else (no match, a wrong digest, a bad time, a
   signature that does not verify) it answers None and the caller runs the full verification,
   which gives the refusal it always gave. tests/careplan/test_core_signature_template.py compares
   both paths on random mutations of real signatures.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from asn1crypto import cms, core
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_UTC_TIME_TAG = 0x17
_UTC_TIME_DER = re.compile(rb"[0-9]{12}Z")


def utc_time(contents: bytes) -> dt.datetime | None:
    """The time of UTCTime `contents` when they are DER (X.690 11.8: YYMMDDHHMMSSZ), else None.

    What asn1crypto gives (`UTCTime.native`, years 1950-2049), when its DER re-encoding
    (strftime "%y%m%d%H%M%SZ" of that time) gives the same bytes back: a real date and time in
    exactly that form."""
    if not _UTC_TIME_DER.fullmatch(contents):
        return None
    year, month, day, hour, minute, second = (int(contents[i : i + 2]) for i in range(0, 12, 2))
    try:
        return dt.datetime(year + (2000 if year < 50 else 1900), month, day, hour, minute, second, tzinfo=dt.UTC)
    except ValueError:  # month 13, 30 February, hour 24, second 60
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Template:
    """A verified signature and where its changing contents sit (offset, length)."""

    signature: bytes
    fixed: tuple[tuple[int, int], ...]  # the (start, end) byte ranges outside the changing contents
    digest: tuple[int, int]
    time: tuple[int, int] | None
    value: tuple[int, int]
    signed_attrs: tuple[int, int]
    certificate: x509.Certificate
    public_key: rsa.RSAPublicKey

    @property
    def head(self) -> bytes:
        """The fixed bytes before the first changing contents (certificate included): the key a
        signature is looked up by."""
        return self.signature[: self.fixed[0][1]]

    def judge(self, signature: bytes, content_sha256: bytes) -> tuple[x509.Certificate, dt.datetime | None] | None:
        """The signer and signing time when `signature` matches and verifies over the content whose
        SHA-256 is `content_sha256`; None for anything else (the full verification then says what)."""
        if len(signature) != len(self.signature):
            return None
        if any(signature[start:end] != self.signature[start:end] for start, end in self.fixed):
            return None
        start, end = self.digest
        if signature[start:end] != content_sha256:
            return None
        signing_time = None
        if self.time is not None:
            signing_time = utc_time(signature[self.time[0] : self.time[1]])
            if signing_time is None:
                return None
        # Signed over the signed attributes as an explicit SET OF (RFC 5652 5.4), as `_check_signature`.
        attrs_start, attrs_end = self.signed_attrs
        signed_attrs = b"\x31" + signature[attrs_start + 1 : attrs_end]
        try:
            self.public_key.verify(
                signature[self.value[0] : self.value[1]], signed_attrs, padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return None
        return self.certificate, signing_time


# Signed attributes whose values change with each signature (as does the signature value).
CHANGING_ATTRIBUTES = frozenset({"message_digest", "signing_time"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Layout:
    """A one-signer signerInfos' encoding, as parsed (not re-encoded): its bytes but the contents
    of its changing values (`fixed`: one piece before each such contents and one after the last),
    those contents (`changing`: what, length, tag) in order, and where its signed attributes sit."""

    fixed: tuple[bytes, ...]
    changing: tuple[tuple[str, int, int], ...]
    signed_attrs: tuple[int, int]  # offsets in the signerInfos' encoding

    @property
    def shape(self) -> tuple[bytes, ...]:
        """The fixed bytes with where the changing contents go (`DerPrefixes`' shapes)."""
        return self.fixed


def layout(signer_infos: cms.SignerInfos) -> Layout | None:
    """The layout of `signer_infos`; None when it is not the one-signer, distinct-attribute form
    with one value per changing attribute. asn1crypto may raise on malformed DER: callers catch."""
    if len(signer_infos) != 1:
        return None
    signer = signer_infos[0]
    attributes = signer["signed_attrs"]
    fixed: list[bytes] = []
    changing: list[tuple[str, int, int]] = []
    piece = [signer_infos._header, signer._header]
    piece += [signer[name].dump() for name in ("version", "sid", "digest_algorithm")]
    attrs_start = sum(map(len, piece))
    piece.append(attributes._header)

    def contents(name: str, value: core.Asn1Value) -> None:
        fixed.append(b"".join(piece))
        piece.clear()
        changing.append((name, len(value.contents), value.tag))

    types = set()
    for attribute in attributes:
        kind = attribute["type"].dump()
        types.add(kind)
        if attribute["type"].native not in CHANGING_ATTRIBUTES:
            piece.append(attribute.dump())
            continue
        values = attribute["values"]
        if len(values) != 1:
            return None
        value = values[0].chosen if isinstance(values[0], core.Choice) else values[0]  # Time: UTC or Generalized
        piece += [attribute._header, kind, values._header, value._header]
        contents(attribute["type"].native, value)
    if len(types) != len(attributes):
        return None
    attrs_end = sum(map(len, fixed)) + sum(length for _, length, _ in changing) + sum(map(len, piece))
    piece += [signer["signature_algorithm"].dump(), signer["signature"]._header]
    contents("signature", signer["signature"])
    piece.append(signer["unsigned_attrs"].dump())
    fixed.append(b"".join(piece))
    return Layout(fixed=tuple(fixed), changing=tuple(changing), signed_attrs=(attrs_start, attrs_end))


# A template keeps its whole signature, and is learned before the hub judges the signer's trust:
# only signatures of an office's usual size are learned (one certificate: ~1.5-3 KB), so the cache
# (`Templates`, 4096 at most) cannot be filled with big padded ones (64 KiB each would be 256 MiB).
LEARNED_BYTES = 8 * 1024


def learn(signature: bytes, info: cms.ContentInfo, certificate: x509.Certificate) -> Template | None:
    """The template of `signature`, which verified in full (parsed as `info`, signed by
    `certificate`); None when it is over LEARNED_BYTES or not of the one-signer,
    distinct-attribute form with a UTCTime signingTime (those are simply verified in full every
    time)."""
    if len(signature) > LEARNED_BYTES:
        return None
    try:
        return _learn(signature, info, certificate)
    except Exception:  # asn1crypto raises many kinds; learning is an optimisation only
        return None


def _learn(signature: bytes, info: cms.ContentInfo, certificate: x509.Certificate) -> Template | None:
    public_key = certificate.public_key()
    signer_infos = info["content"]["signer_infos"]
    tail = signer_infos.dump()
    found = layout(signer_infos)
    if found is None or not signature.endswith(tail) or not isinstance(public_key, rsa.RSAPublicKey):
        return None
    base = len(signature) - len(tail)
    fixed, ranges, pos = [], {}, base
    for piece, (name, length, tag) in zip(found.fixed, found.changing, strict=False):
        fixed.append((pos, pos + len(piece)))
        pos += len(piece)
        ranges[name] = (pos, pos + length)
        if name == "signing_time" and tag != _UTC_TIME_TAG:
            return None
        pos += length
    fixed.append((pos, pos + len(found.fixed[-1])))
    attrs_start, attrs_end = (base + offset for offset in found.signed_attrs)
    if fixed[-1][1] != len(signature) or signature[attrs_start:attrs_end] != signer_infos[0]["signed_attrs"].dump():
        return None  # the layout does not cover the encoding exactly: no template
    if "message_digest" not in ranges:
        return None
    return Template(
        signature=signature,
        fixed=((0, fixed[0][1]), *fixed[1:]),  # the head: everything before the first changing contents
        digest=ranges["message_digest"],
        time=ranges.get("signing_time"),
        value=ranges["signature"],
        signed_attrs=(attrs_start, attrs_end),
        certificate=certificate,
        public_key=public_key,
    )


class Templates:
    """Templates by length, then by the offset of their first changing contents, then by the
    bytes before it (`Template.head`). Bounded: forgets everything past `limit` templates."""

    def __init__(self, limit: int) -> None:
        self._by_length: dict[int, dict[int, dict[bytes, Template]]] = {}
        self._count = 0
        self._limit = limit

    def judge(self, signature: bytes, content_sha256: bytes) -> tuple[x509.Certificate, dt.datetime | None] | None:
        for cut, templates in self._by_length.get(len(signature), {}).items():
            template = templates.get(signature[:cut])
            if template is not None:
                return template.judge(signature, content_sha256)
        return None

    def add(self, template: Template) -> None:
        if self._count >= self._limit:
            self._by_length.clear()
            self._count = 0
        cut = template.fixed[0][1]
        by_head = self._by_length.setdefault(len(template.signature), {}).setdefault(cut, {})
        self._count += template.head not in by_head
        by_head[template.head] = template
