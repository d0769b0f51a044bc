"""Reading request bodies: every way a body can be malformed becomes a catalogue refusal (issue 9 §4).

Rules this module keeps:
1. An exception raised while aiohttp reads or parses a request body (its multipart reader, form and
   JSON decoding, transfer and content decoding) is the client's fault: 400 MULTIPART_MALFORMED or
   BAD_REQUEST, 413 BODY_TOO_LARGE, never INTERNAL, never a traceback in the log.
2. "While reading the body" is decided by the exception's traceback: a frame in one of aiohttp's
   body-reading modules, or in `json` under `request.json()`. The same exception types raised by the
   hub's own code stay INTERNAL: a bug must not pass for a client error.
3. The detail names the kind of fault in Japanese (with English beside it) and quotes at most
   DETAIL_CHARS characters of aiohttp's own text, printable, so a huge or binary header cannot
   blow up the answer or the audit.
"""

from __future__ import annotations

import json
import os
import zlib
from types import TracebackType

import aiohttp
from aiohttp import multipart, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from careplan.errors import CareplanError

DETAIL_CHARS = 160
_AIOHTTP_DIR = os.path.dirname(aiohttp.__file__)
# aiohttp modules that read or decode a request body (not its dispatch layers).
_BODY_MODULES = frozenset(
    {"multipart.py", "streams.py", "web_request.py", "http_parser.py", "helpers.py", "compression_utils.py"}
)
# What a malformed body raises inside them: parser errors, decoding errors, multipart asserts, the
# multipart module's RuntimeErrors ("unknown content transfer encoding") and warnings-as-errors.
_READ_ERRORS = (
    HttpProcessingError,
    RequestPayloadError,
    ValueError,
    LookupError,
    AssertionError,
    RuntimeError,
    EOFError,
    zlib.error,
    multipart.BadContentDispositionHeader,
    multipart.BadContentDispositionParam,
)


def _raised_reading_body(tb: TracebackType | None) -> bool:
    while tb is not None:
        path = tb.tb_frame.f_code.co_filename
        if os.path.dirname(path) == _AIOHTTP_DIR and os.path.basename(path) in _BODY_MODULES:
            return True
        tb = tb.tb_next
    return False


def _printable(text: str) -> str:
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:DETAIL_CHARS])
    return shown + ("…" if len(text) > DETAIL_CHARS else "")


def describe(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, HttpProcessingError) and exc.message else str(exc)
    cause = exc.__cause__ or exc.__context__
    if not text and cause is not None:
        text = str(cause)
    return f"{type(exc).__name__}: {_printable(text)}" if text else type(exc).__name__


def check_web_form(request: web.Request) -> None:
    """The website's forms are application/x-www-form-urlencoded. A multipart body there is refused
    before aiohttp's `request.post()` would spool its file parts to temporary files."""
    api = request.path.startswith(("/api/", "/admin/"))
    if request.method == "POST" and not api and request.content_type.startswith("multipart/"):
        raise CareplanError(
            "BAD_REQUEST",
            detail="Web 画面のフォームは application/x-www-form-urlencoded で送ってください"
            "（multipart は受け付けません）。",
            detail_en="the website's forms take application/x-www-form-urlencoded, not multipart",
            fix="ブラウザの画面から送信するか、Content-Type: application/x-www-form-urlencoded で送ってください。",
            fix_en="Submit the form from the page, or send Content-Type: application/x-www-form-urlencoded.",
        )


def too_large(limit: int) -> CareplanError:
    return CareplanError(
        "BODY_TOO_LARGE",
        detail=f"要求の本文が上限の {limit} バイトを超えています。",
        detail_en=f"the request body is larger than {limit} bytes",
        fix="本文を小さくしてください。ファイルの送信は POST /api/v1/transmissions を使ってください。",
        fix_en="Send a smaller body; files go to POST /api/v1/transmissions.",
    )


def malformed(request: web.Request, exc: BaseException) -> CareplanError:
    """The refusal for an exception raised while reading `request`'s body."""
    described = describe(exc)
    if request.content_type.startswith("multipart/"):
        return CareplanError(
            "MULTIPART_MALFORMED",
            detail=f"multipart/form-data の本文を解析できません（{described}）。",
            detail_en=f"the multipart/form-data body cannot be parsed ({described})",
            fix="Content-Type の boundary と同じ境界で各パートを区切り、各パートのヘッダを CRLF で終え、"
            "終端（--boundary--）まで送ってください。",
            fix_en="Separate the parts with the boundary of Content-Type, end each part's headers with CRLF, "
            "and send the closing --boundary--.",
        )
    return CareplanError(
        "BAD_REQUEST",
        detail=f"要求の本文を読み取れません（{described}）。",
        detail_en=f"the request body cannot be read ({described})",
        fix="本文を Content-Type（と charset）のとおりに、Content-Length または chunked で"
        "正しく区切って送ってください。",
        fix_en="Send the body as its Content-Type (and charset) says, framed by Content-Length or valid chunks.",
    )


def refusal_for(request: web.Request, exc: BaseException) -> CareplanError | None:
    """The catalogue refusal when `exc` came from reading the request body, else None (a fault of
    the hub, which stays INTERNAL)."""
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return too_large(request.client_max_size)
    if isinstance(exc, HttpProcessingError | RequestPayloadError):
        return malformed(request, exc)
    if isinstance(exc, _READ_ERRORS) and _raised_reading_body(exc.__traceback__):
        return malformed(request, exc)
    return None


def unparsable_head(exc: BaseException | None, message: str | None) -> CareplanError:
    """aiohttp's HTTP parser refused the request line or headers (too long, too many, not HTTP)."""
    described = describe(exc) if exc is not None else _printable(message or "")
    return CareplanError(
        "BAD_REQUEST",
        detail=f"要求行またはヘッダを解析できません（{described}）。",
        detail_en=f"the request line or headers cannot be parsed ({described})",
        fix="HTTP/1.1 の要求行とヘッダ（各行 8 KiB まで、128 個まで、CRLF 区切り）を送ってください。",
        fix_en="Send an HTTP/1.1 request line and headers (lines up to 8 KiB, at most 128 headers, CRLF-separated).",
    )


async def json_object(request: web.Request) -> dict[str, object]:
    """The body as a JSON object, or BAD_REQUEST / BODY_TOO_LARGE saying what is wrong with it."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, LookupError, RecursionError) as exc:
        raise CareplanError(
            "BAD_REQUEST",
            detail=f"本文が JSON ではありません（{describe(exc)}）。",
            detail_en=f"the body is not JSON ({describe(exc)})",
            fix="UTF-8 の JSON オブジェクトを送ってください（Content-Type: application/json）。",
            fix_en="Send a JSON object in UTF-8 (Content-Type: application/json).",
        ) from None
    except Exception as exc:
        refusal = refusal_for(request, exc)
        if refusal is None:
            raise
        raise refusal from None
    if not isinstance(body, dict):
        raise CareplanError(
            "BAD_REQUEST",
            detail="本文は JSON オブジェクト（{…}）でなければなりません。",
            detail_en="the body must be a JSON object",
            fix='項目を {"名前": 値} の形の JSON オブジェクトで送ってください。',
            fix_en='Send the fields as a JSON object {"name": value}.',
        )
    return body
