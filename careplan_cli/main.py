"""The `careplan` command: hands each subcommand to its package's own `cli` module.

Two things hold for every subcommand, so they live here: `--lang ja|en` (anywhere on the line;
it becomes CAREPLAN_LANG, which each command reads) and a quiet exit when the reader of stdout
goes away (`careplan client --json sent | head`).
"""

from __future__ import annotations

import importlib
import os
import sys

from careplan.errors import LANG_ENV

SUBCOMMANDS = {
    "up": ("careplan_cli.up", "start a hub with a CA and demo offices (the quick start)"),
    "hub": ("hub.cli", "run the hub; its simulated clock, audit log and payload keys"),
    "client": ("client.cli", "the office client: login, send, bulk-send, inbox, download, sent, whoami"),
    "ca": ("ca.cli", "the test certificate authority: init, issue, reissue, revoke, crl, show, trust-help"),
    "validate": ("careplan_cli.validate", "check care plan CSV files against the V4.1 standard offline"),
    "fixtures": ("careplan_cli.fixtures", "seeded offices, users and spec-valid (or deliberately broken) CSV sets"),
    "scenarios": ("careplan_cli.scenarios", "run scenario files (YAML) against a fresh hub; JUnit, JSON, HTML reports"),
    "conformance": ("careplan_cli.conformance", "the vendor conformance kit: judge a client or a CSV export"),
    "demo": ("careplan_cli.demo", "the trainer's month, narrated step by step in Japanese"),
    "load": ("careplan_cli.load", "month-start load on a running hub: throughput, p50/p99, errors by code"),
    "errors": ("careplan_cli.errors", "the error catalogue: stable codes, HTTP statuses, exact messages"),
}
LANGS = ("ja", "en")


def _usage() -> str:
    lines = ["usage: careplan [--lang ja|en] COMMAND [ARGS…]", "", "commands:"]
    lines += [f"  {name:<10} {help_text}" for name, (_, help_text) in SUBCOMMANDS.items()]
    lines += [
        "",
        "options (every command):",
        "  --lang ja|en  language of explanations and fixes (default: $CAREPLAN_LANG or ja)",
        "",
        "`careplan COMMAND --help` for each command's options and an example.",
        "例 / example:  careplan up      then      careplan client --profile kyotaku sent",
    ]
    return "\n".join(lines)


def take_lang(args: list[str]) -> tuple[list[str], str | None]:
    """`args` without `--lang X` / `--lang=X`, and X (None when absent). Raises ValueError for
    a language other than ja/en."""
    rest: list[str] = []
    chosen: str | None = None
    items = iter(args)
    for arg in items:
        if arg == "--":
            rest += [arg, *items]
            break
        if arg == "--lang":
            chosen = next(items, "")
        elif arg.startswith("--lang="):
            chosen = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    if chosen is not None and chosen not in LANGS:
        raise ValueError(f"--lang {chosen!r}: choose ja or en")
    return rest, chosen


def _dispatch(args: list[str]) -> int:
    try:
        args, chosen = take_lang(args)
    except ValueError as exc:
        print(f"careplan: {exc}", file=sys.stderr)
        return 2
    if chosen:
        os.environ[LANG_ENV] = chosen
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if args else 2
    if args[0] not in SUBCOMMANDS:
        print(f"careplan: unknown command {args[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[args[0]][0])
    return int(module.main(args[1:]))


def main(argv: list[str] | None = None) -> int:
    try:
        status = _dispatch(sys.argv[1:] if argv is None else argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader left (`| head`): say nothing, and keep Python's exit flush from failing too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # what a shell reports for a process ended by SIGPIPE
    except KeyboardInterrupt:  # Ctrl-C where a command has no handler of its own (e.g. while preparing)
        print("\ncareplan: 中断しました / interrupted", file=sys.stderr)
        return 130  # what a shell reports for a process ended by SIGINT
    return status


if __name__ == "__main__":
    sys.exit(main())
