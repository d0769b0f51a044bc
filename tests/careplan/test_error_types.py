"""The catalogue in two languages and its exception tree (careplan/errors.py, issue 13)."""

from __future__ import annotations

import pickle
import re

import pytest

import careplan.errors as errors_module
from careplan.errors import (
    CATALOGUE,
    ERROR_CLASSES,
    CareplanError,
    Category,
    CertificateError,
    FormatError,
    Lang,
    PlatformError,
    SessionError,
    is_japanese,
    parse_lang,
)

CODES = sorted(CATALOGUE)


@pytest.mark.parametrize("code", CODES)
def test_every_entry_explains_and_fixes_in_japanese_and_english(code: str) -> None:
    spec = CATALOGUE[code]
    assert is_japanese(spec.explanation_ja), code
    assert is_japanese(spec.fix_ja), code
    assert spec.explanation_ja.endswith("。"), code
    assert spec.fix_ja.endswith("。"), code
    assert re.match(r"[A-Z]", spec.fix_en) and spec.fix_en.endswith("."), code
    assert spec.explanation_in(Lang.JA) == spec.explanation_ja
    assert spec.explanation_in(Lang.EN) == spec.explanation


@pytest.mark.parametrize("code", CODES)
def test_the_code_picks_its_category_class(code: str) -> None:
    error = CareplanError(code)
    cls = ERROR_CLASSES[CATALOGUE[code].category]
    assert type(error) is cls
    assert isinstance(error, CareplanError)
    assert cls(code).code == code  # the subclass may be called with its own codes
    assert cls.__name__ in errors_module.__doc__  # the tree is drawn in the module docstring
    assert error.fix_in(Lang.JA) and error.fix_in(Lang.EN)  # no refusal without a fix


def test_every_category_has_its_class_and_some_code() -> None:
    assert set(ERROR_CLASSES) == set(Category)
    assert {spec.category for spec in CATALOGUE.values()} == set(Category)


def test_callers_catch_categories_not_code_strings() -> None:
    with pytest.raises(CertificateError):
        raise CareplanError("CERT_REVOKED")
    with pytest.raises(SessionError):
        raise CareplanError("LOGIN_FAILED")
    assert isinstance(CareplanError("DATA_LOAD_FAILED"), FormatError)
    assert isinstance(CareplanError("HUB_UNREACHABLE"), PlatformError)


def test_a_subclass_refuses_a_code_of_another_category_and_unknown_codes_fail() -> None:
    with pytest.raises(TypeError, match="SessionError"):
        CertificateError("LOGIN_FAILED")
    with pytest.raises(KeyError):
        CareplanError("NO_SUCH_CODE")


def test_refusals_survive_pickling_with_their_class() -> None:
    error = CareplanError(
        "REPLAY", detail="送信ID abc", detail_en="transmission abc", fix="新しく送る", fix_en="resend"
    )
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert back.to_wire(Lang.EN) == error.to_wire(Lang.EN)


def test_japanese_by_default_and_english_on_request() -> None:
    error = CareplanError("LOGIN_FAILED", detail="ユーザ 'KJ1' は登録されていません", detail_en="user 'KJ1' is unknown")
    ja, en = error.to_wire(), error.to_wire("en")
    assert ja["lang"] == "ja" and en["lang"] == "en"
    assert ja["message"] == en["message"] == CATALOGUE["LOGIN_FAILED"].message()
    assert is_japanese(str(ja["explanation"])) and is_japanese(str(ja["detail"])) and is_japanese(str(ja["fix"]))
    assert en["explanation"] == CATALOGUE["LOGIN_FAILED"].explanation
    assert en["detail"] == "user 'KJ1' is unknown"
    assert en["fix"] == CATALOGUE["LOGIN_FAILED"].fix_en


def test_an_untranslated_raise_site_still_reads_right_in_both_languages() -> None:
    legacy = CareplanError("BAD_REQUEST", detail="field 'x' is required", fix="Send field x.")
    assert legacy.fix_in(Lang.EN) == "Send field x."
    assert legacy.fix_in(Lang.JA) == CATALOGUE["BAD_REQUEST"].fix_ja  # never English under Japanese
    assert legacy.detail_in(Lang.EN) == legacy.detail_in(Lang.JA) == "field 'x' is required"
    assert not is_japanese("Log in with the office's KJ user ID (事業所ユーザID) and its password.")
    japanese_only = CareplanError("BAD_REQUEST", fix="項目 x を送ってください。")
    assert japanese_only.fix_in(Lang.EN) == CATALOGUE["BAD_REQUEST"].fix_en


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        (None, Lang.JA),
        ("", Lang.JA),
        ("en", Lang.EN),
        ("en-US,en;q=0.9", Lang.EN),
        ("ja,en;q=0.5", Lang.JA),
        ("fr-FR, en;q=0.8, ja;q=0.9", Lang.JA),
        ("fr, de", Lang.JA),
        ("en;q=0", Lang.JA),
        ("EN-gb", Lang.EN),
        ("en;q=bogus, ja", Lang.JA),
    ],
)
def test_parse_lang_reads_accept_language_and_flags(header: str | None, lang: Lang) -> None:
    assert parse_lang(header) is lang
