"""Text folded to a width as Japan reads it on a terminal: the one rule for every command's lines
(client lists and reports, `careplan load`, the control plane's `careplan hub …`).

Rules this module keeps:
1. Widths are display cells (a CJK glyph takes 2), as rich's tables measure them.
2. Japanese has no spaces to break at: it folds at the width, anywhere.
3. 行頭禁則: a closing mark or a small kana (。、）ーっ…) never begins a line; it stays with
   the glyph it follows. 行末禁則: an opening bracket (（「…) never ends one; it goes with what
   it opens.
4. A word of ASCII (an English word, a number, an ID, a file name) is not cut: the line breaks
   where the word begins (after a space, or after the Japanese before it). Only a word longer than
   a whole line is folded inside.
Pure functions: text in, lines out.
"""

from __future__ import annotations

from rich.cells import cell_len, chop_cells

NO_LINE_START = frozenset("。、，．・：；？！）」』】〕〉》ーぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ")  # rule 3
NO_LINE_END = frozenset("（「『【〔〈《［｛(")  # rule 3


def _in_a_word(line: str, cut: int) -> bool:
    """Whether cutting `line` before index `cut` splits a word of ASCII (rule 4)."""
    before, after = line[cut - 1], line[cut]
    return before.isascii() and after.isascii() and not before.isspace() and not after.isspace()


def _word_start(line: str, cut: int) -> int:
    """Where the ASCII word cut at `cut` begins, before an opening bracket that leads it in."""
    start = cut
    while start > 0 and line[start - 1].isascii() and not line[start - 1].isspace():
        start -= 1
    while start > 0 and line[start - 1] in NO_LINE_END:
        start -= 1
    return start


def _whole_words(line: str, cut: int) -> int:
    """`cut`, or the start of the ASCII word it would split when something comes before it (rule 4)."""
    start = _word_start(line, cut) if _in_a_word(line, cut) else cut
    return start if start < cut and line[:start].strip() else cut


def fold(line: str, cells: int) -> list[str]:
    """`line` in pieces of at most `cells` cells (rules 2–4; `cells` ≥ 2, the widest glyph), one
    piece if it fits; the spaces where it breaks are dropped."""
    pieces: list[str] = []
    while cell_len(line) > cells:
        cut = _whole_words(line, max(1, len(chop_cells(line, cells)[0])))
        while cut > 1 and line[cut:].lstrip()[:1] in NO_LINE_START:
            # rule 3: the mark stays with what it closes (across a space the break drops); rule 4
            # again, or 'jpeg・' at the width would break as 'jpe' | 'g・'
            cut = _whole_words(line, cut - 1)
        while cut > 1 and line[:cut].rstrip()[-1:] in NO_LINE_END and line[: cut - 1].strip():
            cut -= 1  # rule 3: the bracket goes with what it opens (also across a space)
        pieces.append(line[:cut].rstrip())
        line = line[cut:].lstrip()
    return [*pieces, line]


def hanging(lead: str, text: str, width: int, *, least: int = 20) -> list[str]:
    """`lead` then `text` within `width` cells: each line of `text` folded (rules 2–4), the lines
    after the first under where the text began (a hanging indent as wide as `lead`); at least
    `least` cells of text a line on a narrow terminal, which then wraps them itself."""
    indent = cell_len(lead)
    room = max(least, width - indent)
    pieces = [piece for line in text.split("\n") for piece in fold(line, room)]
    return [(lead if number == 0 else " " * indent) + piece for number, piece in enumerate(pieces)]


def continued(words: list[str], width: int, lead: str = "  ", indent: str = "      ") -> list[str]:
    """Shell words as one command in lines of at most `width` cells joined by ` \\`, the first after
    `lead`, the others after `indent`, broken only between words: pasted into a shell it is still
    one command. A word wider than a line stays whole (the terminal folds it; breaking it would
    change the command)."""
    lines, line = [], lead + words[0]
    for word in words[1:]:
        if cell_len(line) + 1 + cell_len(word) + 2 <= width:
            line += f" {word}"
        else:
            lines.append(f"{line} \\")
            line = indent + word
    return [*lines, line]
