"""`careplan errors`: the error catalogue — every stable code, its HTTP status, its exception
class, its messages, and what it means and how to mend it (Japanese, or English with --lang en)."""

from __future__ import annotations

import argparse

from careplan.errors import CATALOGUE, ERROR_CLASSES, Lang
from careplan.helptext import with_examples
from client import render


def catalogue_json(lang: Lang = Lang.JA) -> list[dict[str, object]]:
    return [
        {
            "code": spec.code,
            "status": spec.status,
            "category": str(spec.category),
            "exception": ERROR_CLASSES[spec.category].__name__,
            "exit_status": spec.exit_status,
            "messages": {str(op): text for op, text in spec.messages.items()},
            "explanation": spec.explanation_in(lang),
            "fix": spec.fix_in(lang),
            "real_system_text": spec.real,
        }
        for spec in CATALOGUE.values()
    ]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="careplan errors", description="List the error catalogue.")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    render.add_lang_option(parser)
    parser.add_argument("code", nargs="?", help="show one code, e.g. FORMAT_INVALID")
    return with_examples(parser, {"": "例: careplan errors FORMAT_INVALID\n    careplan errors --json --lang en"})


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    lang = Lang(args.lang)
    entries = [e for e in catalogue_json(lang) if args.code in (None, e["code"])]
    if not entries:
        render.err.print(  # the code is what was typed: data, never markup
            f"careplan errors: {args.code!r} というコードはありません / unknown code {args.code!r}",
            markup=False,
        )
        return 2
    if args.json:
        render.print_json(entries)
        return 0
    own = "\n（文言はシミュレータ独自）" if lang is Lang.JA else "\n(message text: the simulator's own)"
    rows = [
        (
            f"{e['code']}\n{e['exception']}",
            str(e["status"]),
            "\n".join(f"[{op}] {text}" for op, text in e["messages"].items()),  # type: ignore[attr-defined]
            f"{e['explanation']}\n→ {e['fix']}" + ("" if e["real_system_text"] else own),
        )
        for e in entries
    ]
    heading = ["code", "HTTP", "メッセージ / message", "説明と対処" if lang is Lang.JA else "explanation and fix"]
    render.table("エラーコード一覧 / error catalogue", heading, rows)
    return 0
