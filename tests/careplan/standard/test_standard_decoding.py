"""The fast check for characters BAD_CHARS finds agrees with it on every MS932 character."""

from __future__ import annotations

from careplan.standard.decoding import BAD_CHARS, ENCODING, clean_text, has_bad_chars


def _characters() -> list[bytes]:
    """Every byte sequence of one or two bytes that decodes (all characters of the table)."""
    found = []
    for first in range(256):
        for raw in [bytes([first]), *(bytes([first, second]) for second in range(256))]:
            try:
                raw.decode(ENCODING)
            except UnicodeDecodeError:
                continue
            found.append(raw)
    return found


def test_has_bad_chars_agrees_with_the_regex_on_every_character() -> None:
    differing = [
        raw for raw in _characters() if has_bad_chars(raw, text := raw.decode(ENCODING)) != bool(BAD_CHARS.search(text))
    ]
    assert differing == []


def test_clean_text_refuses_blocks_with_a_problem() -> None:
    assert clean_text("あ,1\r\n".encode(ENCODING)) == "あ,1\r\n"
    assert clean_text(b"a,\xf0\x40\r\n") is None  # 外字
    assert clean_text(b"a,\x01\r\n") is None  # control character
    assert clean_text(b"a,\x80\r\n") is None  # U+0080
    assert clean_text(b"a,\x81\x7f\r\n") is None  # not MS932
