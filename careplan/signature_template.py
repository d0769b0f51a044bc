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
import hashlib
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

    def judge(self, signature: bytes, content: bytes) -> tuple[x509.Certificate, dt.datetime | None] | None:
        """The signer and signing time when `signature` matches and verifies over `content`;
        None for anything else (the full verification then says what)."""
        if len(signature) != len(self.signature):
            return None
        if any(signature[start:end] != self.signature[start:end] for start, end in self.fixed):
            return None
        start, end = self.digest
        if signature[start:end] != hashlib.sha256(content).digest():
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


def learn(signature: bytes, info: cms.ContentInfo, certificate: x509.Certificate) -> Template | None:
    """The template of `signature`, which verified in full (parsed as `info`, signed by
    `certificate`); None when it is not of the one-signer, distinct-attribute form with a
    UTCTime signingTime (those are simply verified in full every time)."""
    try:
        return _learn(signature, info, certificate)
    except Exception:  # asn1crypto raises many kinds; learning is an optimisation only
        return None


def _learn(signature: bytes, info: cms.ContentInfo, certificate: x509.Certificate) -> Template | None:
    public_key = certificate.public_key()
    signer_infos = info["content"]["signer_infos"]
    tail = signer_infos.dump()
    if len(signer_infos) != 1 or not signature.endswith(tail) or not isinstance(public_key, rsa.RSAPublicKey):
        return None
    signer = signer_infos[0]
    # Walk the signerInfos' encoding in order, adding up the lengths of its parts.
    pos = len(signature) - len(tail) + len(signer_infos._header) + len(signer._header)
    pos += sum(len(signer[name].dump()) for name in ("version", "sid", "digest_algorithm"))
    attributes = signer["signed_attrs"]
    attrs_start = pos
    pos += len(attributes._header)
    changing: dict[str, tuple[int, int]] = {}
    tags: dict[str, int] = {}
    types = set()
    for attribute in attributes:
        name = attribute["type"].native
        types.add(attribute["type"].dump())
        if name not in ("message_digest", "signing_time"):
            pos += len(attribute.dump())
            continue
        values = attribute["values"]
        if len(values) != 1:
            return None
        value = values[0].chosen if isinstance(values[0], core.Choice) else values[0]
        pos += len(attribute._header) + len(attribute["type"].dump()) + len(values._header) + len(value._header)
        changing[name] = (pos, pos + len(value.contents))
        tags[name] = value.tag
        pos += len(value.contents)
    if len(types) != len(attributes) or "message_digest" not in changing:
        return None
    if "signing_time" in changing and tags["signing_time"] != _UTC_TIME_TAG:
        return None
    attrs_end = pos
    pos += len(signer["signature_algorithm"].dump()) + len(signer["signature"]._header)
    value_range = (pos, pos + len(signer["signature"].contents))
    pos = value_range[1] + len(signer["unsigned_attrs"].dump())
    ranges = sorted([*changing.values(), value_range])
    if pos != len(signature) or signature[attrs_start:attrs_end] != attributes.dump():
        return None  # the walk did not cover the encoding exactly: no template
    bounds = [0] + [edge for start, end in ranges for edge in (start, end)] + [len(signature)]
    return Template(
        signature=signature,
        fixed=tuple((bounds[i], bounds[i + 1]) for i in range(0, len(bounds), 2)),
        digest=changing["message_digest"],
        time=changing.get("signing_time"),
        value=value_range,
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

    def judge(self, signature: bytes, content: bytes) -> tuple[x509.Certificate, dt.datetime | None] | None:
        for cut, templates in self._by_length.get(len(signature), {}).items():
            template = templates.get(signature[:cut])
            if template is not None:
                return template.judge(signature, content)
        return None

    def add(self, template: Template) -> None:
        if self._count >= self._limit:
            self._by_length.clear()
            self._count = 0
        cut = template.fixed[0][1]
        by_head = self._by_length.setdefault(len(template.signature), {}).setdefault(cut, {})
        self._count += template.head not in by_head
        by_head[template.head] = template
