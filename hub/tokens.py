"""Secrets a request shows (bearer tokens, cookies, passcodes, CSRF tokens), compared and hashed.

A request's text may hold anything a client sends: aiohttp decodes header bytes that are not UTF-8
as lone surrogates (surrogateescape) and JSON may spell them (`"\\ud800"`). `hmac.compare_digest`
refuses a non-ASCII str and `str.encode()` refuses a surrogate, each with an exception that would
turn a wrong secret into a 500. Here every text is first made bytes (UTF-8, surrogates passed
through), so such a secret is only what it is: wrong.
"""

from __future__ import annotations

import hashlib
import hmac


def as_bytes(text: str) -> bytes:
    """`text` as UTF-8; never raises (a lone surrogate becomes its three bytes)."""
    return text.encode("utf-8", "surrogatepass")


def digest(secret: str) -> str:
    """The SHA-256 (hex) a session or website token is stored and looked up by."""
    return hashlib.sha256(as_bytes(secret)).hexdigest()


def same(given: str, expected: str) -> bool:
    """`given == expected` in constant time, for any text a request holds."""
    return hmac.compare_digest(as_bytes(given), as_bytes(expected))
