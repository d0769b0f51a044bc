"""The transmission manifest (careplan/manifest.py): canonical bytes, strict parsing, file checks."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careplan.errors import CareplanError, is_japanese
from careplan.manifest import MAX_MANIFEST_BYTES, Manifest, ManifestFile, file_name_problem
from careplan.office import with_check_digit

SENDER = with_check_digit("137010001")
RECIPIENT = "1171201369"
TID = "0123456789abcdef0123456789abcdef"
JST = dt.timezone(dt.timedelta(hours=9))
SIGNED_AT = dt.datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=JST)
FILES = [("UPPLAN1.CSV", b"a,b,c\r\n"), ("計画書.pdf", b"%PDF-1.7 \x00\xff"), ("empty.txt", b"")]


def build(**overrides: Any) -> Manifest:
    args: dict[str, Any] = {
        "transmission_id": TID,
        "sender": SENDER,
        "recipient": RECIPIENT,
        "signed_at": SIGNED_AT,
        "files": FILES,
    }
    return Manifest.build(**(args | overrides))


def doc() -> dict[str, Any]:
    return json.loads(build().to_bytes())


def encode(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def assert_invalid(data: bytes, *fragments: str) -> CareplanError:
    with pytest.raises(CareplanError) as caught:
        Manifest.from_bytes(data)
    error = caught.value
    assert error.code == "MANIFEST_INVALID"
    assert is_japanese(error.detail) and error.detail_en and is_japanese(error.fix), error.detail
    for fragment in fragments:  # the English beside the Japanese (the tests name the rule in English)
        assert fragment in error.detail_en, error.detail_en
    return error


# --- building and the canonical form ------------------------------------------------------------
def test_build_records_each_file_and_normalises_time() -> None:
    manifest = build()
    assert manifest.version == 1
    assert manifest.signed_at == dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)
    assert manifest.signed_at.utcoffset() == dt.timedelta(0)
    assert [(f.name, f.size, f.sha256) for f in manifest.files] == [
        (name, len(data), hashlib.sha256(data).hexdigest()) for name, data in FILES
    ]
    assert manifest.total_size == sum(len(data) for _, data in FILES)


def test_round_trip_through_bytes() -> None:
    manifest = build()
    data = manifest.to_bytes()
    again = Manifest.from_bytes(data)
    assert again == manifest
    assert again.to_bytes() == data


def test_bytes_are_canonical_json() -> None:
    data = build().to_bytes()
    text = data.decode("utf-8")
    assert "計画書.pdf" in text  # UTF-8, not \\u escapes
    assert " " not in text.replace("計画書.pdf", "")
    assert "\n" not in text
    parsed = json.loads(data)
    assert data == json.dumps(parsed, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    assert list(parsed) == sorted(parsed)
    assert all(list(f) == sorted(f) for f in parsed["files"])
    assert parsed["signed_at"] == "2026-11-24T01:00:00+00:00"


def test_same_content_same_bytes_whatever_the_key_order() -> None:
    document = doc()
    reordered = dict(reversed(list(document.items())))
    reordered["files"] = [dict(reversed(list(f.items()))) for f in document["files"]]
    assert Manifest.from_bytes(encode(reordered)).to_bytes() == build().to_bytes()


# --- malformed manifests: always MANIFEST_INVALID with a detail ---------------------------------
@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "not UTF-8 JSON"),
        (b"{", "not UTF-8 JSON"),
        (b"\xff\xfe{}", "not UTF-8 JSON"),
        (b"[]", "JSON object"),
        (b'"text"', "JSON object"),
        (b"42", "JSON object"),
        (b"null", "JSON object"),
    ],
)
def test_not_json_or_not_an_object(data: bytes, fragment: str) -> None:
    assert_invalid(data, fragment)


@pytest.mark.parametrize("key", ["version", "transmission_id", "sender", "recipient", "signed_at", "files"])
def test_missing_key(key: str) -> None:
    document = doc()
    del document[key]
    assert_invalid(encode(document), repr(key))


@pytest.mark.parametrize("key", ["name", "size", "sha256"])
def test_missing_file_key(key: str) -> None:
    document = doc()
    del document["files"][1][key]
    assert_invalid(encode(document), repr(key))


Mutation = Callable[[dict[str, Any]], None]


def _set(key: str, value: object) -> Mutation:
    return lambda d: d.__setitem__(key, value)


def _set_file(key: str, value: object) -> Mutation:
    return lambda d: d["files"][0].__setitem__(key, value)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (_set("version", "1"), "'version' must be int"),
        (_set("version", True), "'version' must be int, got bool"),
        (_set("version", 1.0), "'version' must be int"),
        (_set("version", 2), "version 2"),
        (_set("transmission_id", 123), "'transmission_id' must be str"),
        (_set("sender", 1171201369), "'sender' must be str"),
        (_set("recipient", None), "'recipient' must be str"),
        (_set("signed_at", 1764000000), "'signed_at' must be str"),
        (_set("files", "a.csv"), "files must be a list of objects"),
        (_set("files", {"name": "a.csv"}), "files must be a list of objects"),
        (_set("files", [["a.csv", 1, "00"]]), "files must be a list of objects"),
        (_set_file("name", 7), "'name' must be str"),
        (_set_file("size", "7"), "'size' must be int"),
        (_set_file("size", True), "'size' must be int, got bool"),
        (_set_file("size", 7.0), "'size' must be int"),
        (_set_file("size", -1), "size must be >= 0"),
        (_set_file("sha256", None), "'sha256' must be str"),
        (_set_file("sha256", "ab" * 31), "sha256 64 lower-case hex"),
        (_set_file("sha256", "AB" * 32), "sha256 64 lower-case hex"),
        (_set_file("sha256", "zz" * 32), "sha256 64 lower-case hex"),
    ],
)
def test_wrong_types_and_values(mutate: Mutation, fragment: str) -> None:
    document = doc()
    mutate(document)
    assert_invalid(encode(document), fragment)


@pytest.mark.parametrize(
    "transmission_id",
    [
        "",
        "0123",
        TID.upper(),
        TID + "0",
        TID[:-1],
        "g" * 32,
        "0123456789abcdef-0123456789abcdef"[:32],
        "01234567-89ab-cdef-0123-456789abcdef",
    ],
)
def test_bad_transmission_id(transmission_id: str) -> None:
    document = doc() | {"transmission_id": transmission_id}
    assert_invalid(encode(document), "transmission_id")


@pytest.mark.parametrize("role", ["sender", "recipient"])
@pytest.mark.parametrize("number", ["", "KJ1171201369", "117120136", "0071201369", "1121201369", "11712013690"])
def test_non_office_number_sender_or_recipient(role: str, number: str) -> None:
    document = doc() | {role: number}
    assert_invalid(encode(document), role, repr(number))


def test_sender_with_a_wrong_check_digit_is_still_an_office() -> None:
    # R1.1: never refuse a number on its check digit alone.
    document = doc() | {"sender": "1171201368"}
    assert Manifest.from_bytes(encode(document)).sender == "1171201368"


@pytest.mark.parametrize("signed_at", ["2026-11-24T01:00:00", "2026-11-24"])
def test_naive_signed_at(signed_at: str) -> None:
    assert_invalid(encode(doc() | {"signed_at": signed_at}), "time zone")


@pytest.mark.parametrize("signed_at", ["yesterday", "", "2026-13-01T00:00:00+00:00"])
def test_unreadable_signed_at(signed_at: str) -> None:
    assert_invalid(encode(doc() | {"signed_at": signed_at}), "ISO 8601")


def test_naive_signed_at_refused_by_build() -> None:
    with pytest.raises(CareplanError, match="MANIFEST_INVALID"):
        build(signed_at=dt.datetime(2026, 11, 24, 10, 0))


def test_naive_signed_at_refused_by_the_constructor() -> None:
    with pytest.raises(CareplanError) as caught:
        Manifest(
            transmission_id=TID,
            sender=SENDER,
            recipient=RECIPIENT,
            signed_at=dt.datetime(2026, 11, 24),
            files=(ManifestFile.of("a.csv", b"x"),),
        )
    assert caught.value.code == "MANIFEST_INVALID"
    assert "time zone" in caught.value.detail_en and "タイムゾーン" in caught.value.detail


def test_empty_files() -> None:
    assert_invalid(encode(doc() | {"files": []}), "at least one file")
    with pytest.raises(CareplanError, match="MANIFEST_INVALID"):
        build(files=[])


def test_duplicate_names() -> None:
    document = doc()
    document["files"].append(dict(document["files"][0]))
    assert_invalid(encode(document), "unique")
    with pytest.raises(CareplanError, match="MANIFEST_INVALID"):
        build(files=[("a.csv", b"1"), ("a.csv", b"2")])


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "a/b",
        "/etc/passwd",
        "a\\b",
        "..\\x",
        ".",
        "..",
        "",
        "a\x00b",
        "a\nb",
        "tab\there",
        "del\x7f",
        "bidi\u202egpj.exe",
        "zw\u200bsp",
        "line\u2028sep",
        "para\u2029sep",
        "x" * 256,
        "a\ud800.csv",
        "private\ue000.csv",
        "unassigned\U0010fffe.csv",
        'q"uote.csv',
        "a<b.csv",
        "a>b.csv",
        "c:plan.csv",
        "a|b.csv",
        "why?.csv",
        "star*.csv",
    ],
)
def test_unsafe_file_names(name: str) -> None:
    assert file_name_problem(name) is not None
    document = doc()
    document["files"][0]["name"] = name
    assert_invalid(json.dumps(document).encode(), "file name")  # \u escapes carry lone surrogates
    with pytest.raises(CareplanError) as caught:
        build(files=[(name, b"data")])
    assert caught.value.code == "MANIFEST_INVALID"


@pytest.mark.parametrize(
    "name", ["x" * 255, "計" * 255, "a.b.c", ".hidden", "名前 with space.csv", "CONSOLE.txt", "xCON.txt", "COM10.txt"]
)
def test_plain_file_names_are_accepted(name: str) -> None:
    assert file_name_problem(name) is None
    assert build(files=[(name, b"data")]).files[0].name == name


def test_over_64_kib() -> None:
    document = doc()
    document["padding"] = "x" * MAX_MANIFEST_BYTES
    assert_invalid(encode(document), "at most 65536")
    assert_invalid(b" " * (MAX_MANIFEST_BYTES + 1), str(MAX_MANIFEST_BYTES + 1))


def test_unknown_keys_are_ignored_below_the_limit() -> None:
    document = doc() | {"comment": "x"}
    assert Manifest.from_bytes(encode(document)) == build()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_careplan_error(data: bytes) -> None:
    try:
        Manifest.from_bytes(data)
    except CareplanError as error:
        assert error.code == "MANIFEST_INVALID"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(
        ["version", "transmission_id", "sender", "recipient", "signed_at", "files", "name", "size", "sha256"]
    ),
    JSON_VALUES,
)
def test_any_json_value_in_any_field_raises_only_careplan_error(key: str, value: object) -> None:
    document = doc()
    if key in ("name", "size", "sha256"):
        document["files"][0][key] = value
    else:
        document[key] = value
    try:
        manifest = Manifest.from_bytes(json.dumps(document).encode())
    except CareplanError as error:
        # A file name a Windows receiver could not save (" ", "CON", "a.") has its own code.
        names = ("FILE_NAME_RESERVED", "FILE_NAME_TRAILING_DOT", "FILE_NAME_DUPLICATE") if key == "name" else ()
        assert error.code in ("MANIFEST_INVALID", *names)
        assert error.detail
    else:
        assert isinstance(manifest, Manifest)


def test_huge_integer_is_manifest_invalid() -> None:
    data = build().to_bytes().replace(b'"version":1', b'"version":' + b"1" * 5000)
    assert b"1" * 5000 in data
    assert_invalid(data, "not UTF-8 JSON")


def test_deeply_nested_json_is_manifest_invalid() -> None:
    assert_invalid(b"[" * 60000, "nested too deeply")
    assert_invalid(b'{"a":' * 10000 + b"1" + b"}" * 10000, "nested too deeply")


def test_transmission_id_with_trailing_newline_is_refused() -> None:
    assert_invalid(encode(doc() | {"transmission_id": TID + "\n"}), "transmission_id")


def test_sha256_with_trailing_newline_is_refused() -> None:
    document = doc()
    document["files"][0]["sha256"] += "\n"
    assert_invalid(encode(document), "sha256")


def test_file_name_with_lone_surrogate_is_refused() -> None:
    document = doc()
    document["files"][0]["name"] = "a\ud800.csv"
    assert_invalid(json.dumps(document).encode(), "file name")


# --- checking the files against the manifest -----------------------------------------------------
def assert_tampered(files: list[tuple[str, bytes]], *fragments: str) -> None:
    with pytest.raises(CareplanError) as caught:
        build().check_files(files)
    assert caught.value.code == "FILE_TAMPERED"
    assert is_japanese(caught.value.detail) and is_japanese(caught.value.fix), caught.value.detail
    for fragment in fragments:
        assert fragment in caught.value.detail_en, caught.value.detail_en


def test_exact_files_pass_in_any_order() -> None:
    build().check_files(FILES)
    build().check_files(list(reversed(FILES)))


def test_changed_bytes() -> None:
    files = [FILES[0], ("計画書.pdf", b"%PDF-1.7 \x00\xfe"), FILES[2]]
    assert_tampered(files, "計画書.pdf")


def test_changed_size() -> None:
    assert_tampered([FILES[0], FILES[1], ("empty.txt", b"x")], "empty.txt", "1 bytes")


def test_missing_file() -> None:
    assert_tampered(FILES[:2], "empty.txt")


def test_extra_file() -> None:
    assert_tampered([*FILES, ("extra.csv", b"")], "extra.csv")


def test_renamed_file() -> None:
    assert_tampered([FILES[0], ("plan.pdf", FILES[1][1]), FILES[2]], "plan.pdf")


def test_duplicated_file_in_the_upload() -> None:
    assert_tampered([*FILES, FILES[0]])


def test_two_files_swapped_between_names() -> None:
    (a, da), (b, db) = FILES[0], FILES[1]
    assert_tampered([(a, db), (b, da), FILES[2]])


def test_digest_is_of_the_bytes_parsed_taken_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """`digest`/`sha256` hash the bytes as sent (signed), not their canonical form, and only once."""
    sent = json.dumps(doc(), indent=2).encode()  # not canonical: the signature covers these bytes
    manifest = Manifest.from_bytes(sent)
    hashed: list[bytes] = []
    real = hashlib.sha256

    def counting(data: bytes = b"") -> Any:
        hashed.append(bytes(data))
        return real(data)

    monkeypatch.setattr(hashlib, "sha256", counting)
    assert manifest.digest == real(sent).digest() != real(manifest.to_bytes()).digest()
    assert manifest.sha256 == real(sent).hexdigest() and manifest.digest == manifest.digest
    assert hashed == [sent], "hashed once, when first asked"
    assert manifest == build() and hash(manifest) == hash(build()), "the digest is no part of the value"
    assert build().sha256 == real(build().to_bytes()).hexdigest(), "built in memory: its canonical bytes"


# --- the signing time -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("off", "ja", "en"),
    [
        (dt.timedelta(days=2, hours=15), "より 2日15時間 進んでいます（許容は ±10分）", "2 days 15 hours ahead of"),
        (-dt.timedelta(minutes=14, seconds=59.5), "より 14分59秒 遅れています", "14 minutes 59 seconds behind"),
        (dt.timedelta(hours=1, seconds=1), "より 1時間1秒 進んで", "1 hour 1 second ahead of"),
    ],
)
def test_a_signing_time_off_the_hub_clock_says_by_how_much_in_words(off: dt.timedelta, ja: str, en: str) -> None:
    """The detail said Python's timedelta: 'より 2 days, 15:00:00 進んでいます（許容は ±0:10:00）'."""
    manifest = build()  # signed_at in whole seconds
    with pytest.raises(CareplanError) as caught:
        manifest.judge_signing_time(manifest.signed_at - off)
    error = caught.value
    assert error.code == "SIGNING_TIME_INVALID"
    assert ja in error.detail and en in error.detail_en, (error.detail, error.detail_en)
    assert "day," not in error.detail and ":00:" not in error.detail.split("より")[1]
    assert error.detail.startswith(
        f"署名時刻 {manifest.signed_at.astimezone(JST).isoformat()} がハブの時刻 "
    )  # as certificates say


def test_a_signing_time_within_ten_minutes_is_accepted() -> None:
    manifest = build()
    manifest.judge_signing_time(manifest.signed_at + dt.timedelta(minutes=9, seconds=59))
