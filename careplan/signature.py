"""CMS SignedData over a manifest: the sender's electronic signature (R2.4).

Rules this module keeps:
1. Signatures are detached CMS SignedData (RFC 5652), SHA-256, RSA PKCS#1 v1.5, made in binary
   mode so the signed bytes are the manifest's bytes exactly; the signer's certificate travels
   inside the signature so the hub and the receiver can verify without a directory.
2. `cryptography` signs but has no public CMS verify, so verification parses with asn1crypto,
   checks the content-type and messageDigest attributes against the content, and verifies the
   signature over the DER of the signed attributes with the signer's public key.
   Who the signer is, and whether to trust it, is `careplan.certificates.judge_certificate`'s job.
3. Only detached SignedData in DER is accepted: a signature carrying the manifest inside it is
   SIGNATURE_NOT_DETACHED (what the hub verifies must be exactly the manifest part beside it), and
   any other encoding of the same structure (BER indefinite lengths, long-form lengths, unsorted
   SET OF) is SIGNATURE_NOT_DER — one signature has one encoding, so a re-encoded copy cannot pass
   for a new one. Every other failure is SIGNATURE_INVALID with the exact reason; nothing here
   raises anything else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from careplan.errors import CareplanError, Operation
from careplan.signature_template import Templates, layout, learn

_RSA_ALGORITHMS = frozenset({"rsassa_pkcs1v15", "sha256_rsa"})


def sign(content: bytes, certificate: x509.Certificate, key: rsa.RSAPrivateKey, *, capabilities: bool = True) -> bytes:
    """A detached CMS SignedData (DER) over `content`, carrying `certificate`. With
    `capabilities=False` the SMIMECapabilities attribute is left out: another valid signature over
    the same bytes (tests and scenarios re-sign a stored manifest with it)."""
    options = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]
    if not capabilities:
        options.append(pkcs7.PKCS7Options.NoCapabilities)
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(certificate, key, hashes.SHA256())
        .sign(Encoding.DER, options)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Signed:
    """What a verified signature proves: this certificate's key signed the content."""

    certificate: x509.Certificate
    signing_time: dt.datetime | None


def _invalid(detail: str, detail_en: str, operation: Operation) -> CareplanError:
    return CareplanError(
        "SIGNATURE_INVALID",
        operation=operation,
        detail=detail,
        fix="送るマニフェストのバイト列そのものに、事業所の証明書の鍵で、分離形式の CMS SignedData"
        "（SHA-256、バイナリ）として署名してください。",
        detail_en=detail_en,
        fix_en="Sign the manifest bytes exactly as sent, as detached CMS SignedData (SHA-256) with "
        "the office certificate's key, in binary mode.",
    )


class DerPrefixes:
    """Remembers signatures' DER-checked prefixes (all but the final signerInfos), so that the next
    signature of the same office — same certificate, same algorithms, new signerInfos — needs only
    its signerInfos re-encoded: re-encoding the certificate is most of the DER check's cost.

    Sound because signerInfos is the last field of SignedData, which is the last field of
    ContentInfo, and holds exactly one SignerInfo (so no SET OF order is at stake): the same prefix
    bytes with DER signerInfos of the same length (the lengths in the prefix's headers) is DER.
    Also remembers the shapes of DER-checked signerInfos (`_shape`): every byte but the contents
    of the values that change from one signature to the next (messageDigest, signingTime, the
    signature value). A later signerInfos of a known shape is DER once its signingTime is DER on
    its own: an OCTET STRING's contents are DER whatever they are, the lengths are those of the
    known shape, and the signed attributes keep their DER order (distinct types of the same lengths
    sort by their OIDs, before any value). Re-encoding the signerInfos (its issuer name, its
    SMIMECapabilities) was ~70% of a verify's CPU (py-spy, bench/load.py submit).

    And the signer's certificate found for the same certificates and signer id (their bytes as
    received): finding and loading it was ~2% of a submit's CPU, and it is a function of those bytes.

    And the templates of verified signatures (careplan.signature_template): a signature equal to
    one outside its changing values is judged on those values alone, without parsing; parsing was
    ~80% of a repeat signer's verify.

    Bounded: forgets everything past `limit` entries. The caller owns it (no module state here)."""

    def __init__(self, limit: int = 4096) -> None:
        self._known: set[bytes] = set()
        self._shapes: set[tuple[bytes, ...]] = set()
        self._signers: dict[tuple[bytes, bytes], x509.Certificate] = {}
        self._limit = limit
        self.templates = Templates(limit)

    def __contains__(self, prefix: bytes) -> bool:
        return prefix in self._known

    def add(self, prefix: bytes) -> None:
        if len(self._known) >= self._limit:
            self._known.clear()
        self._known.add(prefix)

    def knows_shape(self, shape: tuple[bytes, ...]) -> bool:
        return shape in self._shapes

    def add_shape(self, shape: tuple[bytes, ...]) -> None:
        if len(self._shapes) >= self._limit:
            self._shapes.clear()
        self._shapes.add(shape)

    def signer(self, signed_data: cms.SignedData, signer: cms.SignerInfo) -> x509.Certificate | None:
        """The certificate `_signer_certificate` found for these certificates and signer id."""
        return self._signers.get((signed_data["certificates"].dump(), signer["sid"].dump()))

    def add_signer(self, signed_data: cms.SignedData, signer: cms.SignerInfo, certificate: x509.Certificate) -> None:
        if len(self._signers) >= self._limit:
            self._signers.clear()
        self._signers[(signed_data["certificates"].dump(), signer["sid"].dump())] = certificate


def _shape(signer_infos: cms.SignerInfos) -> tuple[bytes, ...] | None:
    """The bytes of `signer_infos` (as parsed, not re-encoded) but the contents of its changing
    values, in order (`careplan.signature_template.layout`); None when it is not the one-signer,
    distinct-attribute form this applies to, or does not parse (then the full check finds why,
    as it always did)."""
    try:
        found = layout(signer_infos)
    except Exception:  # asn1crypto raises many kinds on malformed DER
        return None
    return found.shape if found is not None else None


def _changing_values_der(signer_infos: cms.SignerInfos) -> bool:
    """The signingTime value is DER on its own (the other changing values are OCTET STRINGs);
    False also when it does not parse (the full check then says why, as it always did)."""
    try:
        for attribute in signer_infos[0]["signed_attrs"]:
            if attribute["type"].native == "signing_time":
                value = attribute["values"][0]
                if value.copy().dump(force=True) != value.dump():
                    return False
    except Exception:  # asn1crypto raises many kinds on malformed DER
        return False
    return True


def verify(
    signature: bytes,
    content: bytes,
    *,
    operation: Operation = Operation.SEND,
    der_prefixes: DerPrefixes | None = None,
    content_sha256: bytes | None = None,
) -> Signed:
    """Check that `signature` is a valid detached CMS signature over `content`. `der_prefixes`
    (optional) makes repeated DER checks of the same office's signatures cheap, and judges a
    signature matching the template of one verified before on its changing values alone.
    `content_sha256`: `content`'s SHA-256 digest when the caller has it already (the hub's parsed
    Manifest), so a submission's manifest is hashed once; it must be exactly that digest."""
    digest = hashlib.sha256(content).digest() if content_sha256 is None else content_sha256
    if der_prefixes is not None:
        known = der_prefixes.templates.judge(signature, digest)
        if known is not None:
            return Signed(certificate=known[0], signing_time=known[1])
    try:
        return _verify(signature, digest, operation, der_prefixes)
    except CareplanError:
        raise
    except Exception as exc:  # asn1crypto raises many kinds on malformed DER
        raise _invalid(
            f"署名を CMS SignedData として読めません: {exc}",
            f"the signature is not a readable CMS SignedData: {exc}",
            operation,
        ) from None


def _refuse(code: str, operation: Operation, detail: tuple[str, str], fix: tuple[str, str]) -> CareplanError:
    return CareplanError(code, operation=operation, detail=detail[0], fix=fix[0], detail_en=detail[1], fix_en=fix[1])


def _check_detached_der(
    info: cms.ContentInfo, signature: bytes, operation: Operation, der_prefixes: DerPrefixes | None
) -> bool:
    """SIGNATURE_NOT_DETACHED or SIGNATURE_NOT_DER, or whether the signature was found DER by the
    known prefix and shape of an earlier one (DerPrefixes)."""
    if info["content"]["encap_content_info"]["content"].native is not None:
        raise _refuse(
            "SIGNATURE_NOT_DETACHED",
            operation,
            ("署名の中にマニフェストが含まれています（アタッチ署名）", "the SignedData carries its content (attached)"),
            (
                "マニフェストを含めないデタッチ署名で署名し直してください（openssl cms -sign -binary）。",
                "Sign again as a detached signature (openssl cms -sign -binary, without -nodetach).",
            ),
        )
    # asn1crypto keeps the bytes it parsed; force=True re-encodes every value in DER.
    signer_infos = info["content"]["signer_infos"]
    tail = signer_infos.dump()
    prefix = signature[: -len(tail)] if len(signer_infos) == 1 and signature.endswith(tail) else None
    shape = _shape(signer_infos) if der_prefixes is not None and prefix is not None else None
    if der_prefixes is not None and prefix is not None and prefix in der_prefixes:
        if shape is not None and der_prefixes.knows_shape(shape) and _changing_values_der(signer_infos):
            return True  # DER: a known shape with a DER signing time
        encoded = prefix + signer_infos.copy().dump(force=True)
    else:
        encoded = info.copy().dump(force=True)
        if der_prefixes is not None and prefix is not None and encoded == signature:
            der_prefixes.add(prefix)
    if der_prefixes is not None and shape is not None and encoded == signature:
        der_prefixes.add_shape(shape)
    if encoded != signature:
        raise _refuse(
            "SIGNATURE_NOT_DER",
            operation,
            ("署名がDER形式ではありません（BERの不定長形式、冗長な長さ表現など）", "the signature is not DER-encoded"),
            ("署名をDER形式で出力してください（openssl cms -outform DER）。", "Output the signature in DER."),
        )
    return False


def _verify(signature: bytes, content_sha256: bytes, operation: Operation, der_prefixes: DerPrefixes | None) -> Signed:
    info = cms.ContentInfo.load(signature, strict=True)
    if info["content_type"].native != "signed_data":
        kind = info["content_type"].native
        raise _invalid(
            f"content type が {kind} です（signed_data ではありません）",
            f"content type is {kind}, not signed_data",
            operation,
        )
    known = _check_detached_der(info, signature, operation, der_prefixes)
    signed_data = info["content"]
    signer_infos = signed_data["signer_infos"]
    if len(signer_infos) != 1:
        count = len(signer_infos)
        raise _invalid(
            f"署名者が {count} 人です（1人だけです）", f"{count} signers; exactly one is expected", operation
        )
    signer = signer_infos[0]
    # Remembered only for a signature whose bytes but the changing values are known DER (`known`):
    # its certificates and signer id are then those of a signature verified before, so reading
    # them first cannot change which refusal a malformed one gets.
    certificate = der_prefixes.signer(signed_data, signer) if der_prefixes is not None and known else None
    if certificate is None:
        certificate = _signer_certificate(signed_data, signer, operation)
        if der_prefixes is not None and known:
            der_prefixes.add_signer(signed_data, signer, certificate)
    attributes = {attr["type"].native: attr["values"][0] for attr in signer["signed_attrs"]}
    if signer["digest_algorithm"]["algorithm"].native != "sha256":
        raise _invalid("ダイジェストアルゴリズムは SHA-256 です", "the digest algorithm must be SHA-256", operation)
    if attributes.get("content_type") is None or attributes["content_type"].native != "data":
        raise _invalid(
            "署名された content-type 属性は id-data です",
            "the signed content-type attribute must be id-data",
            operation,
        )
    digest = attributes.get("message_digest")
    if digest is None or digest.native != content_sha256:
        raise _invalid(
            "マニフェストの SHA-256 が、署名された messageDigest と違います（署名の後でマニフェストが変わりました）",
            "the manifest's SHA-256 differs from the signed messageDigest",
            operation,
        )
    _check_signature(signer, certificate, operation)
    if der_prefixes is not None:
        template = learn(signature, info, certificate)
        if template is not None:
            der_prefixes.templates.add(template)
    signing_time = attributes.get("signing_time")
    return Signed(
        certificate=certificate,
        signing_time=signing_time.native if signing_time is not None else None,
    )


def _signer_certificate(signed_data: cms.SignedData, signer: cms.SignerInfo, operation: Operation) -> x509.Certificate:
    sid = signer["sid"]
    if sid.name != "issuer_and_serial_number":
        raise _invalid(
            "署名者は発行者とシリアル番号で示してください",
            "the signer must be named by issuer and serial number",
            operation,
        )
    serial = sid.chosen["serial_number"].native
    # Names compared by their DER bytes: asn1crypto's Name.__eq__ runs LDAP string preparation on
    # every attribute (a large share of a submit's CPU); the signer's issuer is copied from its
    # certificate, so the same name has the same bytes.
    issuer = sid.chosen["issuer"].dump()
    for choice in signed_data["certificates"] or []:
        candidate = choice.chosen
        if candidate.serial_number == serial and candidate.issuer.dump() == issuer:
            return x509.load_der_x509_certificate(candidate.dump())
    raise _invalid(
        "署名に署名者の証明書が含まれていません", "the signer's certificate is not included in the signature", operation
    )


def _check_signature(signer: cms.SignerInfo, certificate: x509.Certificate, operation: Operation) -> None:
    if signer["signature_algorithm"]["algorithm"].native not in _RSA_ALGORITHMS:
        raise _invalid(
            "署名アルゴリズムは RSA PKCS#1 v1.5 です", "the signature algorithm must be RSA PKCS#1 v1.5", operation
        )
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise _invalid("署名者の鍵は RSA です", "the signer's key must be RSA", operation)
    # The signature covers the signed attributes re-encoded as an explicit SET OF (RFC 5652 5.4).
    signed_attrs = b"\x31" + signer["signed_attrs"].dump()[1:]
    try:
        public_key.verify(signer["signature"].native, signed_attrs, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise _invalid(
            "RSA 署名が署名者の鍵で検証できません",
            "the RSA signature does not verify with the signer's key",
            operation,
        ) from None
