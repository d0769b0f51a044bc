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
import re
import zlib
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import multipart, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from multidict import MultiDictProxy

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


# Text no storage takes: NUL (PostgreSQL refuses it in text) and unpaired surrogates (no UTF-8
# encodes them; JSON may spell them as "\ud800"). Found in a request, they are the client's fault.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def check_text(text: str, where_ja: str, where_en: str) -> None:
    """BAD_REQUEST when `text` holds a character no storage takes, naming where and at which
    character (never the text itself: it may be personal data)."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return
    char, at = f"U+{ord(found.group()):04X}", found.start() + 1
    space = " " if where_ja[-1].isascii() else ""  # 「本文の user_id の 3 文字目」「パスの 3 文字目」
    raise CareplanError(
        "BAD_REQUEST",
        detail=f"{where_ja}{space}の {at} 文字目に使えない文字（{char}）があります。",
        detail_en=f"{where_en} holds a character that cannot be used ({char}) at position {at}",
        fix="NUL（U+0000）や対になっていないサロゲート（U+D800〜U+DFFF）を含まない UTF-8 の文字列を送ってください。",
        fix_en="Send UTF-8 text without NUL (U+0000) or unpaired surrogates (U+D800 to U+DFFF).",
    )


def _check_fields(fields: MultiDictProxy[Any], kind_ja: str, kind_en: str) -> None:
    for name, value in fields.items():
        check_text(name, f"{kind_ja}の項目名", f"a field name of the {kind_en}")
        if isinstance(value, str):
            check_text(value, f"{kind_ja}の {_printable(name)}", f"the {kind_en}'s {_printable(name)}")


def check_url_text(request: web.Request) -> None:
    """The path (with its parameters) and the query, before any handler reads them."""
    check_text(request.path, "パス", "the path")
    if request.query_string:
        _check_fields(request.query, "クエリ", "query")


def _check_json(value: object) -> None:
    """Every key and string of a parsed JSON body (iteratively: depth is the parser's business)."""
    stack: list[tuple[str, object]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            check_text(item, f"本文の {_printable(path)}", f"the body's {_printable(path)}")
        elif isinstance(item, dict):
            for key, inner in item.items():
                check_text(key, "本文の項目名", "a field name of the body")
                stack.append((f"{path}.{key}" if path else key, inner))
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", inner) for index, inner in enumerate(item))


async def form_fields(request: web.Request) -> MultiDictProxy[str | bytes | web.FileField]:
    """The website's form (`request.post()`), every name and text field checked by `check_text`."""
    form = await request.post()
    _check_fields(form, "フォーム", "form")
    return form


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
    _check_json(body)
    return body
