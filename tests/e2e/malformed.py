"""Malformed request bodies for the fuzz test: every multipart shape the issue names (truncated, no
terminator, wrong boundary, huge or CRLF-less part headers, thousands of parts, NUL in names), broken
forms and JSON, broken transfer and content encodings. Deterministic for a seed, so a failing case
can be replayed by its index.

Every body here is malformed or meaningless for every route: none may be accepted, none may store
anything, none may be answered with a status of 500 or more.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    shape: str
    content_type: str | None
    body: bytes
    extra_headers: tuple[tuple[str, str], ...] = ()

    @property
    def headers(self) -> dict[str, str]:
        headers = dict(self.extra_headers)
        if self.content_type is not None:
            headers["Content-Type"] = self.content_type
        return headers


def _boundary(rng: random.Random) -> str:
    return "b" + "".join(rng.choice("0123456789abcdefXYZ'()+_,-./:=?") for _ in range(rng.randint(1, 60)))


def _part(boundary: str, headers: list[str], data: bytes, eol: bytes = b"\r\n") -> bytes:
    head = eol.join(h.encode("utf-8", "surrogateescape") for h in headers)
    return b"--" + boundary.encode() + eol + head + eol + eol + data + eol


def _upload_parts(boundary: str, rng: random.Random) -> bytes:
    """Something shaped like a real upload (manifest, signature, a file), before it is broken."""
    return (
        _part(boundary, ['Content-Disposition: form-data; name="manifest"'], b'{"version": 1}')
        + _part(boundary, ['Content-Disposition: form-data; name="signature"'], rng.randbytes(64))
        + _part(
            boundary,
            ['Content-Disposition: form-data; name="file"; filename="UPPLAN.CSV"', "Content-Type: text/csv"],
            "1,2,3\r\n利用者生年月日\r\n".encode("cp932"),
        )
    )


def _close(boundary: str) -> bytes:
    return b"--" + boundary.encode() + b"--\r\n"


Shape = Callable[[random.Random], tuple[str | None, bytes]]


def _mp(boundary: str) -> str:
    return f'multipart/form-data; boundary="{boundary}"'


def truncated(rng: random.Random) -> tuple[str | None, bytes]:
    b = _boundary(rng)
    body = _upload_parts(b, rng) + _close(b)
    return _mp(b), body[: rng.randint(0, len(body) - 1)]


def no_terminator(rng: random.Random) -> tuple[str | None, bytes]:
    b = _boundary(rng)
    return _mp(b), _upload_parts(b, rng)


def wrong_boundary(rng: random.Random) -> tuple[str | None, bytes]:
    b = _boundary(rng)
    return _mp(b + "x"), _upload_parts(b, rng) + _close(b)


def no_boundary_parameter(rng: random.Random) -> tuple[str | None, bytes]:
    b = _boundary(rng)
    kind = rng.choice(["multipart/form-data", "multipart/form-data; boundary=", "multipart/mixed; charset=x"])
    return kind, _upload_parts(b, rng) + _close(b)


def odd_boundary_parameter(rng: random.Random) -> tuple[str | None, bytes]:
    b = rng.choice(["a" * 200, '"unbalanced', "sp ace", "", "\\", ";;", "x" * 5000, "é"])
    return f"multipart/form-data; boundary={b}", _upload_parts("x", rng) + _close("x")


def huge_part_headers(rng: random.Random) -> tuple[str | None, bytes]:
    b = _boundary(rng)
    header = "X-Filler: " + "a" * rng.choice([9000, 70000, 300000])
    return _mp(b), _part(b, ['Content-Disposition: form-data; name="manifest"', header], b"{}") + _close(b)


def many_part_headers(rng: random.Random) -> tuple[str | None, bytes]:
    b = _boundary(rng)
    headers = ['Content-Disposition: form-data; name="manifest"'] + [f"X-H{i}: v" for i in range(5000)]
    return _mp(b), _part(b, headers, b"{}") + _close(b)


def crlf_less_part_headers(rng: random.Random) -> tuple[str | None, bytes]:
    b = _boundary(rng)
    if rng.random() < 0.5:  # bare LF everywhere
        body = _part(b, ['Content-Disposition: form-data; name="manifest"'], b"{}", eol=b"\n") + _close(b)
    else:  # headers that never end
        body = b"--" + b.encode() + b'\r\nContent-Disposition: form-data; name="manifest"' + b"x" * 100 + b"\r\n"
    return _mp(b), body


def thousands_of_parts(rng: random.Random) -> tuple[str | None, bytes]:
    b = _boundary(rng)
    name = rng.choice(["manifest", "file", "x", "signature"])
    filename = '; filename="a.txt"' if name == "file" else ""
    part = _part(b, [f'Content-Disposition: form-data; name="{name}"{filename}'], b"z")
    return _mp(b), part * rng.randint(1000, 4000) + _close(b)


def bad_names(rng: random.Random) -> tuple[str | None, bytes]:
    b = _boundary(rng)
    disposition = rng.choice(
        [
            'form-data; name="file"; filename="a\x00b.CSV"',
            'form-data; name="man\x00ifest"',
            "form-data; name=\"file\"; filename*=UTF-8''%ff%fe%00.csv",
            "form-data; name=\"file\"; filename*=x-unknown''abc.csv",
            'form-data; name="file"; filename="\udcff.csv"',
            "form-data; name=",
            "form-data; name",
            'form-data; name="file"; filename=',
            "attachment; filename=a.csv",
            "; ; ;",
            "form-data; name=\"a\"; name*=UTF-8''b",
            'form-data; name="file"; filename="' + "n" * 20000 + '"',
            "",
        ]
    )
    headers = [f"Content-Disposition: {disposition}"] if disposition else ["Content-Type: text/plain"]
    return _mp(b), _part(b, headers, b"data") + _close(b)


def odd_part_encodings(rng: random.Random) -> tuple[str | None, bytes]:
    b = _boundary(rng)
    header = rng.choice(
        [
            "Content-Transfer-Encoding: base64",
            "Content-Transfer-Encoding: quoted-printable",
            "Content-Transfer-Encoding: x-unknown",
            "Content-Encoding: gzip",
            "Content-Encoding: deflate",
            "Content-Encoding: br",
            "Content-Type: text/plain; charset=x-unknown",
            "Content-Type: multipart/mixed; boundary=inner",
            "Content-Length: -5",
            "Content-Length: 99999999999",
        ]
    )
    headers = ['Content-Disposition: form-data; name="manifest"', header]
    return _mp(b), _part(b, headers, b"==not base64 \xff\xfe=ZZ") + _close(b)


def nested_multipart(rng: random.Random) -> tuple[str | None, bytes]:
    outer, inner = _boundary(rng), "inner" + str(rng.randint(0, 999))
    nested = _upload_parts(inner, rng) + _close(inner)
    headers = ['Content-Disposition: form-data; name="manifest"', f"Content-Type: multipart/mixed; boundary={inner}"]
    return _mp(outer), _part(outer, headers, nested) + _close(outer)


def random_bytes(rng: random.Random) -> tuple[str | None, bytes]:
    kind = rng.choice(
        [
            _mp(_boundary(rng)),
            "application/x-www-form-urlencoded",
            "application/json",
            "text/plain",
            "application/octet-stream",
            None,
        ]
    )
    return kind, rng.randbytes(rng.randint(0, 4096))


def broken_forms(rng: random.Random) -> tuple[str | None, bytes]:
    body = rng.choice(
        [
            b"csrf=%zz&user_id=%",
            b"user_id=\xff\xfe\xfd&password=x",
            b"&&&&====&&&",
            b"a=" + b"x" * 2_000_000,
            b"&".join(b"k%d=v" % i for i in range(20000)),
            b"csrf=\x00&user_id=\x00",
            "user_id=利用者&password=パス".encode("cp932"),
        ]
    )
    kind = rng.choice(
        [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=x-unknown",
            "application/x-www-form-urlencoded; charset=utf-16",
            "application/x-www-form-urlencoded; charset=cp932",
        ]
    )
    return kind, body


def broken_json(rng: random.Random) -> tuple[str | None, bytes]:
    body = rng.choice(
        [
            b"{not json",
            b"[1, 2, 3]",
            b'"a string"',
            b"null",
            b"[" * 100_000 + b"]" * 100_000,
            b'{"a": ' * 50_000 + b"1" + b"}" * 50_000,
            b"\xef\xbb\xbf{broken",
            '{"user_id": "利用者"}'.encode("utf-16"),
            b"\xff\xfe\x00\x00",
            b"",
            b"1e99999",
            b'{"a": NaN',
        ]
    )
    kind = rng.choice(["application/json", "application/json; charset=x-unknown", "application/json; charset=utf-32"])
    return kind, body


SHAPES: tuple[Shape, ...] = (
    truncated,
    no_terminator,
    wrong_boundary,
    no_boundary_parameter,
    odd_boundary_parameter,
    huge_part_headers,
    many_part_headers,
    crlf_less_part_headers,
    thousands_of_parts,
    bad_names,
    odd_part_encodings,
    nested_multipart,
    random_bytes,
    broken_forms,
    broken_json,
)


def _request_encoding(rng: random.Random, body: bytes) -> tuple[bytes, tuple[tuple[str, str], ...]]:
    """Sometimes a Content-Encoding over the whole request: valid gzip, or a lie."""
    roll = rng.random()
    if roll < 0.05:
        return gzip.compress(body), (("Content-Encoding", "gzip"),)
    if roll < 0.10:
        return body, (("Content-Encoding", rng.choice(["gzip", "deflate", "br", "x-unknown"])),)
    return body, ()


def cases(count: int, *, seed: int = 9) -> list[Case]:
    rng = random.Random(seed)
    built = []
    for index in range(count):
        shape = SHAPES[index % len(SHAPES)]
        content_type, body = shape(rng)
        body, extra = _request_encoding(rng, body)
        built.append(Case(shape=shape.__name__, content_type=content_type, body=body, extra_headers=extra))
    return built


# Raw HTTP/1.1 requests for what a well-behaved client library will not send: broken chunked
# framing, a Content-Length that lies, bytes that are not HTTP. Each is sent on its own connection.
def raw_requests(path: str, host: str) -> list[bytes]:
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\n".encode()
    mp = b"Content-Type: multipart/form-data; boundary=x\r\n"
    return [
        head + mp + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        head + mp + b"Transfer-Encoding: chunked\r\n\r\n5\r\nab\r\n0\r\n\r\n",
        head + mp + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        head + mp + b"Content-Length: -1\r\n\r\n",
        head + mp + b"Content-Length: abc\r\n\r\n",
        head + b"Content-Type: \xff\xfe multipart\r\nContent-Length: 2\r\n\r\nab",
        head + b"X-Long: " + b"a" * 100_000 + b"\r\n\r\n",
        head + b"".join(b"X-H%d: v\r\n" % i for i in range(500)) + b"\r\n",
        head + b"Bad Header Line\r\n\r\n",
        head + b"Content-Length: 0\nX-LF-only: 1\n\n",
        b"POST " + path.encode() + b"?\x00 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"\x16\x03\x01 not http at all\r\n\r\n",
        b"POST " + b"/" * 20_000 + b" HTTP/1.1\r\n\r\n",
        head + b"Content-Encoding: gzip\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\n\x1f\x8b\x08\x00",
        head + b"Expect: 100-continue-please\r\nContent-Length: 2\r\n\r\n{}",
        head + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    ]
