"""The `careplan` command: hands each subcommand to its package's own `cli` module."""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS = {
    "up": ("careplan_cli.up", "start a hub with a CA and demo offices (the quick start)"),
    "hub": ("hub.cli", "run the hub; its simulated clock, audit log and payload keys"),
    "client": ("client.cli", "the office client: login, send, bulk-send, inbox, download, sent, whoami"),
    "ca": ("ca.cli", "the test certificate authority: init, issue, reissue, revoke, crl, show"),
    "validate": ("careplan_cli.validate", "check care plan CSV files against the V4.1 standard offline"),
    "fixtures": ("careplan_cli.fixtures", "seeded offices, users and spec-valid (or deliberately broken) CSV sets"),
    "scenarios": ("careplan_cli.scenarios", "run scenario files (YAML) against a fresh hub; JUnit, JSON, HTML reports"),
    "conformance": ("careplan_cli.conformance", "the vendor conformance kit: judge a client or a CSV export"),
    "demo": ("careplan_cli.demo", "the trainer's month, narrated step by step in Japanese"),
    "load": ("careplan_cli.load", "month-start load on a running hub: throughput, p50/p99, errors by code"),
    "errors": ("careplan_cli.errors", "the error catalogue: stable codes, HTTP statuses, exact messages"),
}


def _usage() -> str:
    lines = ["usage: careplan COMMAND [ARGS…]", "", "commands:"]
    lines += [f"  {name:<10} {help_text}" for name, (_, help_text) in SUBCOMMANDS.items()]
    lines += ["", "`careplan COMMAND --help` for each command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if args else 2
    if args[0] not in SUBCOMMANDS:
        print(f"careplan: unknown command {args[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[args[0]][0])
    return int(module.main(args[1:]))


if __name__ == "__main__":
    sys.exit(main())
