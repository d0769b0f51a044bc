"""The transmission manifest: what the sender signs, and what the hub and the receiver check.

Rules this module keeps:
1. A manifest names the transmission id, the sending and receiving offices, the signing time and,
   for each file, its name, size and SHA-256 (R2.4: the platform and the receiver can prove who sent
   what). It travels as canonical JSON (UTF-8, sorted keys, no spaces) so its bytes are signed as is.
2. File names are plain names: no path separators (nor look-alikes such as ／ ∕ ⁄ ＼, judged after
   NFKC folding), no control, surrogate or unassigned characters,
   none of "<>:|?* (Windows refuses them, and the multipart header carries the name raw), no "." or
   "..", at most 255 characters, unique within the manifest.
   Names a Windows receiver could not save as sent have their own codes: a device name (CON, PRN,
   AUX, NUL, COM0-9, LPT0-9 with any extension, any case) is FILE_NAME_RESERVED, a trailing dot or
   space FILE_NAME_TRAILING_DOT, and two names equal after case folding and NFC (a.txt / A.txt,
   composed / decomposed kana) FILE_NAME_DUPLICATE. The client pre-checks with these same rules
   (it builds its manifest here), so an office learns of them before uploading.
3. Parsing never trusts the input: anything off is MANIFEST_INVALID saying exactly what.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TypeVar

from careplan.errors import CareplanError
from careplan.jst import for_json, span
from careplan.office import is_office_number

MANIFEST_VERSION = 1
MAX_MANIFEST_BYTES = 64 * 1024
# How far a manifest's signing time may stand from the hub's clock: a stale or post-dated signature
# is refused. The CMS signingTime attribute is not used for this: signing libraries take it from the
# terminal's real clock, which a simulation moves away from (the hub's clock is the world's clock).
SIGNING_TOLERANCE = dt.timedelta(minutes=10)
TRANSMISSION_ID = re.compile(r"[0-9a-f]{32}")  # 32 lowercase hex digits (uuid4().hex)
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
T = TypeVar("T")
_FORBIDDEN = '"<>:|?*'
# Path separators and what looks like one once a file system or a person reads it.
_SEPARATORS = "/\\\u2215\u2044\u29f8\u29f9\u2216"
_FORBIDDEN_SET = frozenset(_FORBIDDEN)
_NO_ZONE = ("signed_at にはタイムゾーンが必要です", "signed_at must carry a time zone")
_SEPARATOR_SET = frozenset(_SEPARATORS)


def _invalid(detail: str, detail_en: str) -> CareplanError:
    return CareplanError(
        "MANIFEST_INVALID",
        detail=detail,
        fix="マニフェストはクライアントライブラリで作成してください（形式は /api の Manifest のとおり）。",
        detail_en=detail_en,
        fix_en="Build the manifest with the client library (or follow docs/openapi: Manifest).",
    )


# Windows device names (Naming Files, Paths, and Namespaces, learn.microsoft.com): reserved with any
# extension ("CON.txt", "con.tar.gz") and in any case; the superscript digits fold to 1-3 under NFKC.
_DEVICE_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {f"{kind}{n}" for kind in ("COM", "LPT") for n in range(10)}
)


def _windows_refusal(name: str) -> CareplanError | None:
    """FILE_NAME_RESERVED or FILE_NAME_TRAILING_DOT if a Windows receiver could not save `name` as is."""
    stem = unicodedata.normalize("NFKC", name).split(".")[0].rstrip(" ").upper()
    if stem in _DEVICE_NAMES:
        return CareplanError(
            "FILE_NAME_RESERVED",
            detail=f"ファイル名 {name!r} はWindowsのデバイス名 {stem} です",
            fix="ファイル名を変更してください（例: CON.txt → CON_memo.txt）。",
            detail_en=f"file name {name!r} is the Windows device name {stem}",
            fix_en="Rename the file (e.g. CON.txt -> CON_memo.txt).",
        )
    if name.endswith((".", " ")):
        return CareplanError(
            "FILE_NAME_TRAILING_DOT",
            detail=f"ファイル名 {name!r} がピリオドまたは空白で終わっています",
            fix="末尾のピリオドと空白を取り除いたファイル名にしてください。",
            detail_en=f"file name {name!r} ends in a dot or a space",
            fix_en="Remove the trailing dots and spaces from the file name.",
        )
    return None


def name_key(name: str) -> str:
    """What a case-insensitive, normalising file system (Windows, macOS) sees of `name`."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def _twin_refusal(names: Sequence[str]) -> CareplanError | None:
    """FILE_NAME_DUPLICATE if two different names of one transmission are one name on Windows/macOS."""
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(name_key(name), name)
        if other != name:
            return CareplanError(
                "FILE_NAME_DUPLICATE",
                detail=f"ファイル名 {other!r} と {name!r} は大文字・小文字・文字の合成を区別しないと同じ名前です",
                fix="どちらかのファイル名を変更するか、別々に送信してください。",
                detail_en=f"file names {other!r} and {name!r} are one name without case and composition",
                fix_en="Rename one of the files, or send them separately.",
            )
    return None


def file_name_problem(name: str) -> str | None:
    """Why `name` is not a safe plain file name, or None."""
    refusal = _file_name_refusal(name)
    return refusal.detail_en or refusal.detail if refusal is not None else None


def _file_name_refusal(name: str) -> CareplanError | None:
    problem = _unsafe_name(name)
    return _invalid(*problem) if problem else _windows_refusal(name)


def _unsafe_name(name: str) -> tuple[str, str] | None:
    """Why `name` is no plain file name, in Japanese and English; None when it is one."""
    if not name or len(name) > 255:
        return "ファイル名は1〜255文字です", "a file name must have 1 to 255 characters"
    folded = unicodedata.normalize("NFKC", name)  # ／ → /, ＼ → \, ‥ → ..
    if folded in (".", "..") or not _SEPARATOR_SET.isdisjoint(folded):
        return (
            f"ファイル名 {name!r} にパス（または区切り文字に見える文字）は使えません",
            f"file name {name!r} must not contain a path (or a character that looks like a separator)",
        )
    if not _FORBIDDEN_SET.isdisjoint(name):
        return (
            f"ファイル名 {name!r} に {_FORBIDDEN!r} のいずれか（Windowsのファイル名に使えない文字）があります",
            f"file name {name!r} contains one of {_FORBIDDEN!r} (not allowed in file names on Windows)",
        )
    if name.isascii() and name.isprintable():  # every standard file name: none of the categories below
        return None
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for ch in name):
        return (
            f"ファイル名 {name!r} に制御文字・書式文字・サロゲート・未割り当ての文字があります",
            f"file name {name!r} contains control, format, surrogate or unassigned characters",
        )
    return None


def _is_office_number(number: str) -> bool:
    """`is_office_number`, remembered for 10-character strings (the only ones it accepts): the
    same offices send again and again, and its check was a third of a manifest's parse."""
    if isinstance(number, str) and len(number) == 10:
        return _remembered_office_number(number)
    return is_office_number(number)


@lru_cache(maxsize=4096)  # bounded; keys of 10 characters
def _remembered_office_number(number: str) -> bool:
    return is_office_number(number)


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestFile:
    name: str
    size: int
    sha256: str

    def __post_init__(self) -> None:
        refusal = _file_name_refusal(self.name)
        if refusal is not None:
            raise refusal
        if self.size < 0 or not _SHA256_RE.fullmatch(self.sha256):
            raise _invalid(
                f"ファイル {self.name!r}: size は0以上、sha256 は小文字の16進64文字です",
                f"file {self.name!r}: size must be >= 0 and sha256 64 lower-case hex",
            )

    @classmethod
    def of(cls, name: str, data: bytes) -> ManifestFile:
        return cls(name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest())


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    transmission_id: str
    sender: str
    recipient: str
    signed_at: dt.datetime
    files: tuple[ManifestFile, ...]
    version: int = MANIFEST_VERSION
    # The bytes parsed (`from_bytes`) and their SHA-256, taken once when first asked (`digest`): the
    # hub's signature check, replay lookup and stored row all need it for one submission. Not part
    # of the value (compare=False); a manifest built in memory hashes `to_bytes()` instead.
    _source: bytes | None = field(default=None, init=False, repr=False, compare=False)
    _digest: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.version != MANIFEST_VERSION:
            raise _invalid(
                f"マニフェストの version {self.version} は {MANIFEST_VERSION} ではありません",
                f"manifest version {self.version} is not {MANIFEST_VERSION}",
            )
        if not TRANSMISSION_ID.fullmatch(self.transmission_id):
            raise _invalid(
                "transmission_id は小文字の16進32文字（UUID）です",
                "transmission_id must be 32 lower-case hex characters (a UUID)",
            )
        for role, number in (("sender", self.sender), ("recipient", self.recipient)):
            if not _is_office_number(number):
                raise _invalid(
                    f"{role} {number!r} は事業所番号ではありません", f"{role} {number!r} is not a 事業所番号"
                )
        if self.signed_at.tzinfo is None:
            raise _invalid(*_NO_ZONE)
        if not self.files:
            raise _invalid("送信には1つ以上のファイルが必要です", "a transmission carries at least one file")
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise _invalid("1回の送信のファイル名は重複できません", "file names must be unique within a transmission")
        twins = _twin_refusal(names)
        if twins is not None:
            raise twins

    @classmethod
    def build(
        cls,
        *,
        transmission_id: str,
        sender: str,
        recipient: str,
        signed_at: dt.datetime,
        files: Sequence[tuple[str, bytes]],
    ) -> Manifest:
        if signed_at.tzinfo is None:
            raise _invalid(*_NO_ZONE)
        return cls(
            transmission_id=transmission_id,
            sender=sender,
            recipient=recipient,
            signed_at=signed_at.astimezone(dt.UTC).replace(microsecond=0),
            files=tuple(ManifestFile.of(name, data) for name, data in files),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "transmission_id": self.transmission_id,
            "sender": self.sender,
            "recipient": self.recipient,
            "signed_at": self.signed_at.isoformat(),
            "files": [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in self.files],
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def digest(self) -> bytes:
        """SHA-256 of the bytes this manifest was parsed from (`from_bytes`: the signed bytes, as
        sent, canonical or not), else of `to_bytes()`; computed once."""
        digest = self._digest
        if digest is None:
            digest = hashlib.sha256(self.to_bytes() if self._source is None else self._source).digest()
            object.__setattr__(self, "_digest", digest)  # a cache on a frozen value (as cached_property)
        return digest

    @property
    def sha256(self) -> str:
        """`digest` in lower-case hex, as the hub stores it (transmissions.manifest_sha256)."""
        return self.digest.hex()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse a manifest; MANIFEST_INVALID (with what exactly) on anything malformed."""
        if len(data) > MAX_MANIFEST_BYTES:
            raise _invalid(
                f"マニフェストが {len(data)} バイトあります（上限 {MAX_MANIFEST_BYTES} バイト）",
                f"manifest is {len(data)} bytes, at most {MAX_MANIFEST_BYTES}",
            )
        try:
            doc = json.loads(data.decode("utf-8"))
        except RecursionError:
            raise _invalid("マニフェストの JSON の入れ子が深すぎます", "manifest JSON is nested too deeply") from None
        except ValueError as exc:  # UnicodeDecodeError, JSONDecodeError, over-long integers
            raise _invalid(
                f"マニフェストが UTF-8 の JSON ではありません: {exc}", f"manifest is not UTF-8 JSON: {exc}"
            ) from None
        if not isinstance(doc, Mapping):
            raise _invalid("マニフェストは JSON オブジェクトです", "manifest must be a JSON object")
        manifest = cls._from_mapping(doc)
        object.__setattr__(manifest, "_source", data)  # hashed only if asked (`digest`)
        return manifest

    @classmethod
    def _from_mapping(cls, doc: Mapping[str, object]) -> Manifest:
        try:
            files = doc["files"]
            if not isinstance(files, list) or not all(isinstance(f, Mapping) for f in files):
                raise _invalid("files はオブジェクトのリストです", "files must be a list of objects")
            return cls(
                version=_typed(doc, "version", int),
                transmission_id=_typed(doc, "transmission_id", str),
                sender=_typed(doc, "sender", str),
                recipient=_typed(doc, "recipient", str),
                signed_at=dt.datetime.fromisoformat(_typed(doc, "signed_at", str)),
                files=tuple(
                    ManifestFile(
                        name=_typed(f, "name", str),
                        size=_typed(f, "size", int),
                        sha256=_typed(f, "sha256", str),
                    )
                    for f in files
                ),
            )
        except KeyError as exc:
            raise _invalid(f"マニフェストに {exc.args[0]!r} がありません", f"manifest lacks {exc.args[0]!r}") from None
        except ValueError as exc:
            if isinstance(exc, CareplanError):
                raise
            raise _invalid(
                f"signed_at が ISO 8601 の時刻ではありません: {exc}", f"signed_at is not an ISO 8601 time: {exc}"
            ) from None

    def judge_signing_time(self, now: dt.datetime, *, tolerance: dt.timedelta = SIGNING_TOLERANCE) -> None:
        """SIGNING_TIME_INVALID unless `signed_at` is within `tolerance` of `now` (the hub's clock)."""
        drift = self.signed_at - now
        if abs(drift) > tolerance:
            ahead = drift > dt.timedelta(0)
            (off_ja, off_en), (allowed_ja, allowed_en) = span(drift), span(tolerance)
            raise CareplanError(
                "SIGNING_TIME_INVALID",
                detail=f"署名時刻 {for_json(self.signed_at.isoformat())} がハブの時刻 {for_json(now.isoformat())} "
                f"より {off_ja} {'進んで' if ahead else '遅れて'}います（許容は ±{allowed_ja}）",
                fix="端末の時計を合わせ、送信の直前に署名してください（当社クライアントは GET /healthz で"
                "ハブの時刻を読みます）。署名済みのマニフェストを取っておいて後で送ることはできません。",
                detail_en=f"signed at {self.signed_at.isoformat()}, {off_en} {'ahead of' if ahead else 'behind'} "
                f"the hub's time {now.isoformat()}; the tolerance is ±{allowed_en}",
                fix_en="Sign just before sending, with the terminal's clock right (our client reads the hub's "
                "clock from GET /healthz); a signed manifest cannot be kept and sent later.",
            )

    def check_files(self, files: Sequence[tuple[str, bytes]]) -> None:
        """FILE_TAMPERED unless `files` are exactly the manifest's files, byte for byte."""
        self.check_received([(name, len(data), hashlib.sha256(data).hexdigest()) for name, data in files])

    def check_received(self, files: Sequence[tuple[str, int, str]]) -> None:
        """`check_files` on each file's (name, size, SHA-256), as measured while it streamed in."""
        received = {name: (size, sha256) for name, size, sha256 in files}
        expected = {f.name: f for f in self.files}
        if len(received) != len(files) or received.keys() != expected.keys():
            raise CareplanError(
                "FILE_TAMPERED",
                detail=f"送られたファイル {sorted(received)} が、署名されたマニフェストのファイル "
                f"{sorted(expected)} と違います",
                fix="署名したマニフェストに書かれたファイルだけを、そのまま送ってください。",
                detail_en=f"files sent {sorted(received)} differ from the signed manifest's {sorted(expected)}",
                fix_en="Send exactly the files named in the signed manifest.",
            )
        for name, (size, sha256) in received.items():
            if (size, sha256) != (expected[name].size, expected[name].sha256):
                raise CareplanError(
                    "FILE_TAMPERED",
                    detail=f"{name}: {size} バイト sha256 {sha256[:16]}… ですが、署名されたマニフェストでは "
                    f"{expected[name].size} バイト sha256 {expected[name].sha256[:16]}… です",
                    fix="署名の後でファイルが変わりました。署名し直して送ってください。",
                    detail_en=f"{name}: {size} bytes sha256 {sha256[:16]}… but the "
                    f"manifest signed {expected[name].size} bytes sha256 "
                    f"{expected[name].sha256[:16]}…",
                    fix_en="The file changed after signing: sign and send it again.",
                )


def _typed(doc: Mapping[str, object], key: str, kind: type[T]) -> T:
    value = doc[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _invalid(
            f"{key!r} は {kind.__name__} でなければなりません（{type(value).__name__} でした）",
            f"{key!r} must be {kind.__name__}, got {type(value).__name__}",
        )
    return value
