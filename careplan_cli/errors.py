"""`careplan errors`: the error catalogue — every stable code, its HTTP status and its messages."""

from __future__ import annotations

import argparse

from careplan.errors import CATALOGUE
from client import render


def catalogue_json() -> list[dict[str, object]]:
    return [
        {
            "code": spec.code,
            "status": spec.status,
            "messages": {str(op): text for op, text in spec.messages.items()},
            "explanation": spec.explanation,
            "real_system_text": spec.real,
        }
        for spec in CATALOGUE.values()
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="careplan errors", description="List the error catalogue.")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("code", nargs="?", help="show one code")
    args = parser.parse_args(argv)
    entries = [e for e in catalogue_json() if args.code in (None, e["code"])]
    if not entries:
        render.err.print(f"unknown code {args.code!r}")
        return 2
    if args.json:
        render.print_json(entries)
        return 0
    rows = [
        (
            str(e["code"]),
            str(e["status"]),
            "\n".join(f"[{op}] {text}" for op, text in e["messages"].items()),  # type: ignore[attr-defined]
            str(e["explanation"]) + ("" if e["real_system_text"] else "\n(message text: the simulator's own)"),
        )
        for e in entries
    ]
    render.table("エラーコード一覧 / error catalogue", ["code", "HTTP", "メッセージ / message", "explanation"], rows)
    return 0
