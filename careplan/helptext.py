"""Examples in `--help`: every command of the `careplan` tool shows one (issue 13).

Each CLI module keeps a table {subcommand path: example text} next to its parser and passes the
finished parser through `with_examples`, which sets the epilog of the parser and of every
subparser below it and keeps the examples' line breaks. A missing example is an error here, so a
new subcommand cannot ship without one (tests/test_cli_help.py walks every parser).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping


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
