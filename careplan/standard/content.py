"""What a file is, judged by its name and its first bytes (R4.2, R4.6; decision D12).

Rules this module keeps:
1. A zip archive is recognised by its magic bytes whatever its name (R4.6 → DATA_LOAD_FAILED).
2. A name with a standard prefix is a standard file; anything else is an attachment (a document
   outside the standard) whose extension must be pdf, csv, jpeg, jpg, png, gif or txt and whose
   content must match the extension (magic bytes; text must not be binary).
"""

from __future__ import annotations

from enum import StrEnum

from careplan.errors import Finding
from careplan.standard.filename import misspelled, split_prefix
from careplan.standard.layout import standard

ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
# Signatures of binary formats that must not pass as csv/txt (and that name the real type).
BINARY_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole2 (old Word/Excel)"),
    (b"MZ", "exe"),
    (b"Rar!\x1a\x07", "rar"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"\x1f\x8b", "gzip"),
)
# What a Japanese message calls each of them (a standard file that is one of these: csv.not_text).
BINARY_NAMES_JA: dict[str, str] = {
    "pdf": "PDF",
    "png": "PNG 画像",
    "gif": "GIF 画像",
    "jpeg": "JPEG 画像",
    "ole2 (old Word/Excel)": "Word/Excel（.doc/.xls）",
    "exe": "実行ファイル",
    "rar": "RAR 圧縮ファイル",
    "7z": "7z 圧縮ファイル",
    "gzip": "gzip 圧縮ファイル",
}
EXPECTED_MAGIC: dict[str, tuple[bytes, ...]] = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "gif": (b"GIF87a", b"GIF89a"),
    "jpeg": (b"\xff\xd8\xff",),
    "jpg": (b"\xff\xd8\xff",),
}
SNIFF = 8192  # bytes looked at for NUL in text files


class Kind(StrEnum):
    STANDARD = "standard"
    ATTACHMENT = "attachment"
    ZIP = "zip"
    REFUSED = "refused"


def is_zip(data: bytes) -> bool:
    return data.startswith(ZIP_MAGICS)


def sniff(data: bytes) -> str | None:
    """The binary type `data` starts with, if any."""
    for magic, kind in BINARY_MAGICS:
        if data.startswith(magic):
            return kind
    return None


def _zip(name: str) -> Finding:
    return Finding(
        rule="transmission.zip",
        file=name,
        message="a zip archive cannot be sent as is",
        value="PK",
        expected="the unpacked files",
        expected_ja="展開した中のファイル",
        section="R4.6",
        fix="Unpack the archive and send its files (at most 7 per transmission).",
    )


def _type(name: str, rule: str, message: str, value: str) -> Finding:
    allowed = ", ".join(sorted(standard().attachment_extensions))
    return Finding(
        rule=rule,
        file=name,
        message=message,
        value=value,
        expected=allowed,
        expected_ja=f"拡張子 {allowed} のいずれか",
        section="R4.2",
        fix="Convert the document to PDF (Word/Excel) or another allowed type, and give it the matching extension.",
    )


def _content_problem(ext: str, data: bytes) -> str | None:
    if ext in EXPECTED_MAGIC:
        return None if data.startswith(EXPECTED_MAGIC[ext]) else sniff(data) or "unknown"
    found = sniff(data)
    if found is not None:
        return found
    return "binary" if b"\x00" in data[:SNIFF] else None


# Office documents are zip containers too: they need "convert to PDF" (R4.2), not "unpack" (R4.6).
OFFICE_DOCUMENTS = frozenset({"docx", "xlsx", "pptx", "docm", "xlsm", "odt", "ods", "odp"})


def classify(name: str, data: bytes) -> tuple[Kind, list[Finding]]:
    """What `name`/`data` is, and the findings that refuse it (zip, type, content, name)."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if is_zip(data) and ext in OFFICE_DOCUMENTS:
        return Kind.REFUSED, [
            _type(name, "transmission.file_type", f"file type .{ext} (Word/Excel) cannot be sent: convert to PDF", ext)
        ]
    if is_zip(data):
        return Kind.ZIP, [_zip(name)]
    if not name or any(c in name for c in "/\\\x00") or name in (".", ".."):
        return Kind.REFUSED, [
            _type(name, "transmission.file_name", "a file name must be a plain name without folders", name)
        ]
    if split_prefix(name) is not None:
        return Kind.STANDARD, []
    typo = misspelled(name)
    if typo is not None:  # a standard file with a typo in its prefix, not an attachment (D22)
        return Kind.REFUSED, [typo[0]]
    if ext not in standard().attachment_extensions:
        return Kind.REFUSED, [
            _type(name, "transmission.file_type", f"file type .{ext} cannot be sent", ext or "(none)")
        ]
    problem = _content_problem(ext, data)
    if problem is not None:
        return Kind.REFUSED, [
            _type(name, "transmission.file_content", f"the content is {problem}, not .{ext}", problem)
        ]
    return Kind.ATTACHMENT, []
