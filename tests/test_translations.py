"""Every refusal the hub, the client, the domain core, the scenario runner and the conformance kit raise
with the English beside it (issue 13): an office reads Japanese by default, `--lang en` /
Accept-Language: en gives the English."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from careplan.errors import is_japanese

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted(
    [
        *ROOT.glob("hub/*.py"),
        *ROOT.glob("hub/control/*.py"),
        *ROOT.glob("client/*.py"),
        *ROOT.glob("careplan/*.py"),
        *ROOT.glob("careplan/standard/*.py"),
        *ROOT.glob("scenarios/*.py"),
        *ROOT.glob("conformance/*.py"),
    ],
    key=lambda p: str(p),
)


def _literal_text(node: ast.expr) -> str:
    """The literal parts of a string expression ('' for a name or call: nothing to translate)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_literal_text(v) for v in node.values if isinstance(v, ast.Constant))
    if isinstance(node, ast.BinOp):
        return _literal_text(node.left) + _literal_text(node.right)
    if isinstance(node, ast.IfExp):  # "（ほか N件）" if more else "": the text it may add
        return _literal_text(node.body) + _literal_text(node.orelse)
    return ""


def _refusals(path: Path) -> list[tuple[int, dict[str, ast.expr]]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "CareplanError":
            found.append((node.lineno, {k.arg: k.value for k in node.keywords if k.arg}))
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_refusals_are_japanese_with_english_beside(path: Path) -> None:
    for line, keywords in _refusals(path):
        for name in ("detail", "fix"):
            text = _literal_text(keywords[name]) if name in keywords else ""
            if not any(c.isalpha() for c in text):
                continue  # a value passed through (error.fix, a variable): translated where it is made
            where = f"{path.relative_to(ROOT)}:{line} {name}"
            assert is_japanese(text), f"{where} is not Japanese: {text!r}"
            assert f"{name}_en" in keywords, f"{where} has no {name}_en"
