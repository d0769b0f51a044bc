"""careplan.folding: the one rule by which every command folds its lines (Japanese at the width,
行頭禁則, ASCII words whole), on examples and on random mixed text (hypothesis)."""

from __future__ import annotations

import itertools

from hypothesis import example, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from careplan.folding import NO_LINE_END, NO_LINE_START, fold


def test_japanese_folds_at_the_width_and_a_closing_mark_stays_with_its_glyph() -> None:
    text = "ユーザIDが登録されていないか、パスワードが正しくありません。"
    pieces = fold(text, 58)  # 。 would be the 59th and 60th cells
    assert "".join(pieces) == text and pieces[1][0] not in NO_LINE_START and len(pieces) == 2, pieces


def test_an_english_word_or_an_id_is_never_cut_when_it_fits_a_line() -> None:
    note = "介護保険証明書, serial 34b99279ea1ea6288cf77d55e9d039f3c1dcdd42: trusted, valid, not revoked"
    assert fold(note, 60) == [
        "介護保険証明書, serial",
        "34b99279ea1ea6288cf77d55e9d039f3c1dcdd42: trusted, valid,",
        "not revoked",
    ]
    assert fold("CMS signature verifies; signer serial 27c6a849", 20) == [
        "CMS signature",
        "verifies; signer",
        "serial 27c6a849",
    ]


def test_a_number_before_japanese_stays_whole_and_japanese_fills_the_line() -> None:
    office = "1370100024 ひまわり訪問介護ステーション株式会社本店営業所サービス提供責任者室"
    first = fold(office, 62)[0]
    assert first.startswith("1370100024 ひまわり") and cell_len(first) >= 60


def test_what_fits_is_one_piece() -> None:
    assert fold("A.CSV", 20) == ["A.CSV"] and fold("", 20) == [""]


def test_a_word_longer_than_a_line_is_cut_at_the_width() -> None:
    assert fold("x" * 45, 20) == ["x" * 20, "x" * 20, "x" * 5]


def test_an_indented_line_breaks_after_its_first_word_not_in_its_indent() -> None:
    assert fold("    a-long-word another-long-word", 20) == ["    a-long-word", "another-long-word"]


_TEXT = st.text(
    alphabet=st.sampled_from([*"abc123 -_.:", *"あいうえお漢字訪問介護", *sorted(NO_LINE_START), *sorted(NO_LINE_END)]),
    max_size=120,
)


@settings(max_examples=1000)
@given(_TEXT, st.integers(min_value=2, max_value=40))
@example("aォ】字ャヶえゅ？ ．介bbbィ", 17)  # a mark after the space a break drops: it stays up too
@example("ュ；『 護ょぉッ〕ヵヶ", 11)  # a bracket before the space a break drops: it goes down too
def test_pieces_fit_keep_every_glyph_and_never_start_with_a_closing_mark(text: str, cells: int) -> None:
    pieces = fold(text, cells)
    assert all(cell_len(p) <= cells for p in pieces), pieces
    assert "".join("".join(p.split()) for p in pieces) == "".join(text.split())  # only spaces go
    for earlier, piece in itertools.pairwise(pieces):
        if piece and piece[0] in NO_LINE_START:  # only when what it closes could not come along
            assert all(ch in NO_LINE_START or ch.isspace() for ch in earlier[1:]), (earlier, piece)
    for piece in pieces[:-1]:
        if piece and piece[-1] in NO_LINE_END:  # only when nothing before it could stay up
            assert all(ch in NO_LINE_END or ch.isspace() for ch in piece[1:-1]), pieces


def test_an_ascii_word_after_japanese_starts_the_next_line_with_its_bracket() -> None:
    first = "careplan load: /nonexistent/careplan はハブのデータディレクトリではありません"
    then = "（ca/ca-key.pem と admin-token が必要）"
    assert fold(first + then, 80) == [first, then]


def test_a_closing_mark_that_moves_the_break_back_never_moves_it_into_a_word() -> None:
    """The break fell just after 'jpeg' before '・': keeping '・' up must not cut 'jpe' | 'g' (rule 4
    again after rule 3), as the fix of FILE_TYPE_NOT_ALLOWED was cut at 68 cells."""
    fix = "Word・Excelの文書はPDFに変換してから送信してください（pdf・csv・jpeg・jpg・png・gif・txt）。"
    assert fold(fix, 68) == [
        "Word・Excelの文書はPDFに変換してから送信してください（pdf・csv・",
        "jpeg・jpg・png・gif・txt）。",
    ]
    assert fold("あいう abc、def", 8) == ["あいう", "abc、def"]


@settings(max_examples=500)
@given(_TEXT, st.integers(min_value=8, max_value=40))
@example("1、1(あ、", 8)  # the break before "(": the bracket goes down with あ, the word "1" stays whole
@example("1111、1 1", 8)  # the break at the space, which goes: two words, none of them cut
def test_an_ascii_word_that_fits_a_line_is_never_cut(text: str, cells: int) -> None:
    """Unless it begins its line (only opening brackets before it): then it may be cut at the width."""
    pieces = fold(text, cells)
    for (earlier, piece), at_a_space in zip(itertools.pairwise(pieces), _breaks_at_a_space(text, pieces), strict=True):
        if earlier and piece and not at_a_space and _ascii_word_char(earlier[-1]) and _ascii_word_char(piece[0]):
            tail = len(earlier) - len(earlier.rstrip("abc123-_.:"))
            head = len(piece) - len(piece.lstrip("abc123-_.:"))
            before = earlier[:-tail] if tail else earlier
            assert tail + head > cells or all(ch in NO_LINE_END or ch.isspace() for ch in before), (text, pieces)


def _breaks_at_a_space(text: str, pieces: list[str]) -> list[bool]:
    """For each break between pieces, whether the text had a space there (which the break drops):
    the pieces are the text's runs in order, only spaces left out between them."""
    spaces = []
    end = text.index(pieces[0]) + len(pieces[0])
    for piece in pieces[1:]:
        start = text.index(piece, end)
        spaces.append(any(ch.isspace() for ch in text[end:start]))
        end = start + len(piece)
    return spaces


def _ascii_word_char(ch: str) -> bool:
    """Part of an ASCII word; an opening bracket is not: it goes down with what it opens (rule 3)."""
    return ch.isascii() and not ch.isspace() and ch not in NO_LINE_END
