"""What a file is, judged by its name and its first bytes (R4.2, R4.6; decision D12).

Rules this module keeps:
1. A zip archive is recognised by its magic bytes whatever its name (R4.6 → DATA_LOAD_FAILED).
   An office document is a zip container too (.xlsx, .docx, .ods…): under a name of its own
   type it is a type to convert (R4.2); under another name it keeps R4.6's code, and what we say
   names the document (`zip_document`) instead of asking to unpack it.
2. A name with a standard prefix is a standard file; anything else is an attachment (a document
   outside the standard) whose extension must be pdf, csv, jpeg, jpg, png, gif or txt and whose
   content must match the extension (magic bytes; text must not be binary).
3. A standard file that turns out to be a document (PDF, Excel…) is told so by one set of texts
   (`not_text`), whether the validator finds it (csv.not_text) or the zip check (transmission.zip).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

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
# Office documents in a zip container, by the folder of their parts (Office Open XML) or by the
# `mimetype` member an OpenDocument file begins with.
ZIP_PARTS: tuple[tuple[bytes, str], ...] = ((b"xl/", "xlsx"), (b"word/", "docx"), (b"ppt/", "pptx"))
OPENDOCUMENT_TYPES: tuple[tuple[bytes, str], ...] = (
    (b"application/vnd.oasis.opendocument.spreadsheet", "ods"),
    (b"application/vnd.oasis.opendocument.text", "odt"),
    (b"application/vnd.oasis.opendocument.presentation", "odp"),
)
# What a Japanese message calls each of them (a standard file that is one of these: `not_text`).
DOCUMENT_NAMES_JA: Mapping[str, str] = MappingProxyType(
    {
        "pdf": "PDF",
        "png": "PNG 画像",
        "gif": "GIF 画像",
        "jpeg": "JPEG 画像",
        "ole2 (old Word/Excel)": "Word/Excel（.doc/.xls）",
        "exe": "実行ファイル",
        "rar": "RAR 圧縮ファイル",
        "7z": "7z 圧縮ファイル",
        "gzip": "gzip 圧縮ファイル",
        "xlsx": "Excel ブック（.xlsx）",
        "docx": "Word 文書（.docx）",
        "pptx": "PowerPoint プレゼンテーション（.pptx）",
        "ods": "OpenDocument スプレッドシート（.ods）",
        "odt": "OpenDocument テキスト（.odt）",
        "odp": "OpenDocument プレゼンテーション（.odp）",
    }
)
SPREADSHEETS = frozenset({"xlsx", "ods"})  # saved as CSV by the program that made them
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


def zip_document(data: bytes) -> str | None:
    """The office document (xlsx, docx, pptx, ods, odt, odp) a zip container is, judged by the
    names of the members whose local headers lie in `data` (a file's first bytes: Excel writes
    its xl/ parts within the first few hundred); None for a zip archive of other files. Each local
    header is found by its signature, so a member whose sizes follow its data (a workbook written
    as a stream) does not stop the search. Only the first SNIFF bytes are read, as much as the hub
    keeps of a streamed file's head (source.HEAD), so that `careplan validate` on the whole file
    answers as the hub does, and a file of repeated signatures costs no more than its head."""
    data = data[:SNIFF]
    at = data.find(ZIP_MAGICS[0])
    while at != -1 and at + 30 <= len(data):
        name_end = at + 30 + int.from_bytes(data[at + 26 : at + 28], "little")
        member = data[at + 30 : name_end]
        for folder, kind in ZIP_PARTS:
            if member.startswith(folder):
                return kind
        if member == b"mimetype":  # stored, not compressed: its text follows the header
            text = data[name_end + int.from_bytes(data[at + 28 : at + 30], "little") :][:80]
            for mime, kind in OPENDOCUMENT_TYPES:
                if text.startswith(mime):
                    return kind
        at = data.find(ZIP_MAGICS[0], at + 4)
    return None


def document_kind(data: bytes) -> str | None:
    """What a file that should be CSV text is instead, by its first bytes: a binary format
    (`sniff`) or an office document in a zip container (`zip_document`); None otherwise (text,
    or a zip archive of files)."""
    return sniff(data) or (zip_document(data) if is_zip(data) else None)


# The validator's rule for a standard file that is a document; the zip check's is transmission.zip.
NOT_TEXT_RULE = "csv.not_text"
# How a standard file that is a document is mended: (Japanese, English).
EXPORT_AGAIN = (
    "介護ソフトから標準仕様の CSV を出力し、そのファイルを送ってください（標準仕様外の文書は別に送ります）。",
    "Export the standard's CSV from the care software and send that file (documents travel on their own).",
)
SAVE_AS_CSV = (
    "表計算ソフト（Excel など）の「名前を付けて保存」で「CSV（コンマ区切り）」を選び、Shift_JIS (MS932) で"
    "保存し直してください（「CSV UTF-8」は不可）。被保険者番号などの先頭の 0 が消えていないかも確かめてください。",
    "Save it again from the spreadsheet program (Excel: Save As) as 'CSV (Comma delimited)' in Shift_JIS "
    "(MS932), not 'CSV UTF-8', and check that leading zeros (被保険者番号) are still there.",
)
TO_PDF = (
    "Word・Excel などの文書は PDF に変換し、拡張子を .pdf にして送信してください（R4.2）。",
    "Convert Word, Excel and other documents to PDF and send them as .pdf (R4.2).",
)


def _spaced(named: str) -> str:
    """`named` and the space a Japanese sentence leaves after a Latin word (PDF です), none after a
    closing bracket (Excel ブック（.xlsx）です)."""
    return named if named.endswith("）") else named + " "


def not_text(document: str, *, rule: str, file: str, section: str, ext: str | None = None) -> Finding:
    """The finding of a file that is `document` (a key of DOCUMENT_NAMES_JA) where the standard's
    CSV was expected, or, with `ext`, where an attachment's extension promised its content:
    Japanese first with its English. A spreadsheet is told to be saved as CSV in Shift_JIS (MS932);
    another document under a standard name, to be exported again from the care software; under an
    attachment's name, to become a PDF (R4.2)."""
    named = DOCUMENT_NAMES_JA[document]
    if ext is not None:
        message = f"ファイルの中身が拡張子 .{ext} ではなく {_spaced(named)}です。"
        message_en = f"the content is {document} (an office document in a zip container), not .{ext}"
        expected, expected_ja = f"the content of a .{ext} file", f".{ext} の中身"
        fix, fix_en = TO_PDF
    else:
        message = f"ファイルの中身が CSV ではなく {_spaced(named)}です。"
        message_en = f"the file is not CSV text but {document}"
        expected, expected_ja = "CSV text in MS932 (Shift_JIS)", "MS932 (Shift_JIS) の CSV テキスト"
        fix, fix_en = SAVE_AS_CSV if document in SPREADSHEETS else EXPORT_AGAIN
    return Finding(
        rule=rule,
        file=file,
        section=section,
        message=message,
        message_en=message_en,
        value=document,
        expected=expected,
        expected_ja=expected_ja,
        fix=fix,
        fix_en=fix_en,
    )


def zip_finding(name: str, data: bytes) -> Finding:
    """The finding of a zip container sent as is (R4.6): an archive to unpack, or the office
    document it is, named (`not_text`)."""
    document = zip_document(data)
    if document is not None:  # R4.6's code stays (a zip container), the texts name the document
        standard_name = split_prefix(name) is not None or misspelled(name) is not None
        ext = None if standard_name else (name.rsplit(".", 1)[-1] if "." in name else "")
        return not_text(document, rule="transmission.zip", file=name, section="R4.6", ext=ext)
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
        return Kind.ZIP, [zip_finding(name, data)]
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
    if not data and ext in EXPECTED_MAGIC:  # not a document of another type: nothing at all
        return Kind.REFUSED, [_empty(name, ext)]
    problem = _content_problem(ext, data)
    if problem is not None:
        return Kind.REFUSED, [
            _type(name, "transmission.file_content", f"the content is {problem}, not .{ext}", problem)
        ]
    return Kind.ATTACHMENT, []


def _empty(name: str, ext: str) -> Finding:
    """An image or a PDF of 0 bytes (a failed save or copy): said so, not called another type."""
    return Finding(
        rule="transmission.file_content",
        file=name,
        message=f"ファイルが空です（0バイト）。.{ext} の中身がありません。",
        message_en=f"the file is empty (0 bytes): there is no .{ext} content",
        value="0",
        expected=f"the content of a .{ext} file",
        expected_ja=f".{ext} ファイルの中身",
        section="R4.2",
        fix="元の文書から保存し直し、中身のあるファイルを送ってください（コピーや保存の途中で失敗した可能性があります）。",
        fix_en="Save the document again and send the file with its content (a copy or save may have failed).",
    )
