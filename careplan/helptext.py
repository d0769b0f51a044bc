"""Examples in `--help`: every command of the `careplan` tool shows one (issue 13); and the one
argparse type of a bounded number (`number_in`) every command's options share.

Each CLI module keeps a table {subcommand path: example text} next to its parser and passes the
finished parser through `with_examples`, which sets the epilog of the parser and of every
subparser below it and keeps the examples' line breaks. A missing example is an error here, so a
new subcommand cannot ship without one (tests/test_cli_help.py walks every parser).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator, Mapping
from typing import Any


def subparsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """`parser` and every parser below it (a subparser without a description gets its help line)."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                child.description = child.description or helps.get(name)
                yield from subparsers(child)


def with_examples(parser: argparse.ArgumentParser, examples: Mapping[str, str]) -> argparse.ArgumentParser:
    """Set each parser's epilog from `examples`, keyed by the words after the root's prog
    ("" for the root, "clock set" for `careplan hub clock set`). Raises KeyError for a parser
    without an example."""
    root = parser.prog
    for each in subparsers(parser):
        key = each.prog.removeprefix(root).strip()
        each.epilog = examples[key]
        each.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def number_in(low: float, high: float | None = None, *, kind: type = int) -> Any:
    """An argparse `type=` for a number in [low, high] (`kind` int or float): anything else is a
    usage error in both languages (exit status 2), before anything reaches a hub."""
    words = "整数" if kind is int else "数"
    english = "a whole number" if kind is int else "a number"
    if high is None:
        ja, en = f"{low:g}以上の{words}", f"{english} of at least {low:g}"
    else:
        ja, en = f"{low:g}〜{high:g}の{words}", f"{english} from {low:g} to {high:g}"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if (
            value is None or not math.isfinite(value) or value < low or (high is not None and value > high)
        ):  # NaN, inf: no bound
            # two lines, each within 80 columns after argparse's "prog: error: argument --opt: "
            raise argparse.ArgumentTypeError(f"{text!r} は{ja}ではありません\n{text!r} is not {en}")
        return value

    parse.__name__ = words  # argparse names the type in its own messages
    return parse
