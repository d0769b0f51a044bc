"""The manifest's cheaper checks give what the plain ones give (careplan/manifest.py)."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from careplan.manifest import _FORBIDDEN, _SEPARATORS, _is_office_number, _unsafe_name
from careplan.office import is_office_number

_OFFICE_CHARACTERS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZa "
_OFFICE_LIKE = st.text(alphabet=_OFFICE_CHARACTERS, min_size=9, max_size=11)


@given(st.one_of(_OFFICE_LIKE, st.text(max_size=12), st.sampled_from(["1171201369", "1312300013", "4800000000"])))
@settings(max_examples=1000, deadline=None)
def test_remembered_office_numbers_are_is_office_number(text: str) -> None:
    assert _is_office_number(text) == is_office_number(text)
    assert _is_office_number(text) == is_office_number(text)  # remembered the second time


def _plain_unsafe_name(name: str) -> str | None:
    """`_unsafe_name` as it was written before: one `in` test per character."""
    if not name or len(name) > 255:
        return "a file name must have 1 to 255 characters"
    folded = unicodedata.normalize("NFKC", name)
    if folded in (".", "..") or any(ch in folded for ch in _SEPARATORS):
        return f"file name {name!r} must not contain a path (or a character that looks like a separator)"
    if any(ch in _FORBIDDEN for ch in name):
        return f"file name {name!r} contains one of {_FORBIDDEN!r} (not allowed in file names on Windows)"
    if name.isascii() and name.isprintable():
        return None
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for ch in name):
        return f"file name {name!r} contains control, format, surrogate or unassigned characters"
    return None


_NAME_CHARACTERS = st.sampled_from([*_FORBIDDEN, *_SEPARATORS, "a", ".", "／", "＼", "：", "＊", " ", "é", "\u3000"])


@given(st.one_of(st.text(_NAME_CHARACTERS, min_size=1, max_size=8), st.text(min_size=1, max_size=12)))
@settings(max_examples=1000, deadline=None)
def test_unsafe_name_says_what_the_plain_tests_said(name: str) -> None:
    said = _unsafe_name(name)  # (Japanese, English): the English is what the plain tests said
    assert (said[1] if said else None) == _plain_unsafe_name(name)
