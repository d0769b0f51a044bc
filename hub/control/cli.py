"""`careplan hub reset | snapshot | journal | faults | transmissions | sessions | corrections`: the
control plane from a shell, through the running hub's admin API (hub.cli adds these parsers)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

from careplan.errors import LANG_ENV, parse_lang
from careplan.helptext import input_file, instant, json_value, number_in
from hub.control import render, snapshots
from hub.control.faults import KINDS
from hub.listing import PAGE_MAX

Call = Callable[[str, str, object | None], Awaitable[object]]


EXAMPLES = {
    "reset": "例: careplan hub reset\n    careplan hub reset --empty",
    "snapshot": "例: careplan hub snapshot save 月初\n    careplan hub snapshot restore 月初",
    "snapshot save": "例: careplan hub snapshot save 月初",
    "snapshot restore": "例: careplan hub snapshot restore 月初",
    "snapshot delete": "例: careplan hub snapshot delete 月初",
    "snapshot list": "例: careplan hub snapshot list",
    "journal": "例: careplan hub journal --follow\n    careplan hub journal --transmission ID --json",
    "faults": "例: careplan hub faults add --kind http_error --status 503 --count 1\n    careplan hub faults clear",
    "faults add": '例: careplan hub faults add \'{"kind": "lose_answer", "count": 1}\'',
    "faults list": "例: careplan hub faults list",
    "faults clear": "例: careplan hub faults clear",
    "transmissions": "例: careplan hub transmissions --office 1370100016\n    careplan hub transmissions --all --json",
    "sessions": "例: careplan hub sessions",
    "corrections": "例: careplan hub corrections\n    careplan hub corrections --set 3 対応中",
}


page_size = number_in(1, PAGE_MAX)  # --limit: the admin API's page maximum (both lists allow PAGE_MAX)


def with_json(parser: argparse.ArgumentParser, what: str = "the admin API's answer as JSON") -> argparse.ArgumentParser:
    parser.add_argument("--json", action="store_true", help=f"{what} (for scripts); default: lines for people")
    return parser


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    reset = with_json(sub.add_parser("reset", help="back to the state `careplan up` seeded (or --empty: nothing)"))
    reset.add_argument("--empty", action="store_true", help="no offices at all")
    snapshot = sub.add_parser("snapshot", help="save, list, restore or delete a snapshot of the whole hub")
    snap = snapshot.add_subparsers(dest="snapshot_command", required=True, metavar="COMMAND")
    actions = (("save", "save the hub as it is now"), ("restore", "go back to a snapshot"), ("delete", "delete one"))
    for name, what in actions:
        with_json(snap.add_parser(name, help=what)).add_argument("name", help="the snapshot's name, e.g. 月初")
    with_json(snap.add_parser("list", help="the stored snapshots"))
    journal = sub.add_parser("journal", help="every request and each submission's decision chain")
    journal.add_argument("--follow", "-f", action="store_true", help="keep printing new entries (Ctrl-C stops)")
    journal.add_argument("--office", help="only requests of this 事業所番号")
    journal.add_argument("--transmission", help="only requests about this transmission id")
    journal.add_argument("--code", help="only refusals with this catalogue code, e.g. REPLAY")
    journal.add_argument("--since", type=_since, help="hub time, ISO 8601")
    journal.add_argument(
        "--limit", type=page_size, default=50, help=f"entries per page, 1–{PAGE_MAX} (default %(default)s)"
    )
    with_json(journal, "one JSON object per line")
    faults = sub.add_parser("faults", help="make the hub slow, fail or cut connections (seeded, reproducible)")
    fault = faults.add_subparsers(dest="faults_command", required=True, metavar="COMMAND")
    add = with_json(fault.add_parser("add", help='a rule as flags, or as JSON: \'{"kind": "http_error", "count": 1}\''))
    add.add_argument("rule", nargs="?", type=json_value, help="the rule (or {seed, rules}) as JSON")
    add.add_argument("--kind", choices=KINDS, metavar="KIND", help=f"what the fault does: {', '.join(KINDS)}")
    add.add_argument("--route", help="'METHOD /path', e.g. 'POST /api/v1/transmissions'")
    add.add_argument("--office", help="only requests of this 事業所番号")
    operations = ("login", "send", "list", "download", "acknowledge")
    add.add_argument("--operation", choices=operations, metavar="OP", help=f"only this: {', '.join(operations)}")
    add.add_argument("--count", type=int, help="the next N matching requests (default: until cleared)")
    add.add_argument("--probability", type=float, help="0–1: each matching request, drawn from --seed")
    add.add_argument("--seed", type=int, help="seed of the draws (the same seed replays the same faults)")
    add.add_argument("--latency-ms", type=int, help="latency: added milliseconds")
    add.add_argument("--status", type=int, help="http_error: the HTTP status, e.g. 503")
    add.add_argument("--code", help="http_error: the catalogue code of the answer")
    add.add_argument("--retry-after", type=int, help="http_error: Retry-After seconds")
    add.add_argument("--transmission", help="only this transmission's requests (its 送信ID)")
    add.add_argument("--signature-file", type=input_file,
                     help="substitute_signature: a detached CMS signature (DER) to serve instead")  # fmt: skip
    add.add_argument("--after-bytes", type=int, help="cut_upload/cut_download: cut after this many bytes")
    with_json(fault.add_parser("list", help="the rules in force"))
    with_json(fault.add_parser("clear", help="remove every rule"))
    listing = with_json(sub.add_parser("transmissions", help="every office's transmissions, newest first"))
    listing.add_argument("--office", help="only this 事業所番号 (as sender or recipient)")
    listing.add_argument(
        "--limit", type=page_size, default=50, help=f"rows per page, 1–{PAGE_MAX} (default %(default)s)"
    )
    listing.add_argument("--cursor", help="the next_cursor of the previous page")
    listing.add_argument("--all", action="store_true", help="every page, from --cursor or the first, to the end")
    with_json(sub.add_parser("sessions", help="open client and website sessions"))
    corrections = with_json(sub.add_parser("corrections", help="directory correction requests; --set ID STATUS"))
    corrections.add_argument("--set", nargs=2, metavar=("ID", "STATUS"), help="STATUS: 受付済 対応中 反映済 却下")


async def _reset(call: Call, args: argparse.Namespace) -> object:
    return await call("POST", "/admin/v1/reset", {"to": "empty" if args.empty else "seed"})


async def _snapshot(call: Call, args: argparse.Namespace) -> object:
    command = args.snapshot_command
    if command == "list":
        return await call("GET", "/admin/v1/snapshots", None)
    if not snapshots.NAME.fullmatch(args.name):  # the hub would refuse it with a fix for API callers
        return _bad_snapshot_name(args.name, command)
    if command == "save":
        return await call("POST", "/admin/v1/snapshots", {"name": args.name})
    path = f"/admin/v1/snapshots/{quote(args.name, safe='')}"
    return await call(
        "POST" if command == "restore" else "DELETE", path + ("/restore" if command == "restore" else ""), None
    )


def _bad_snapshot_name(name: str, command: str) -> dict[str, object]:
    """The hub's refusal of `name`, with its fix said as the command to type (Japanese first, as
    --lang / CAREPLAN_LANG asks of the admin API)."""
    if command == "save":
        fix = "careplan hub snapshot save 月初 のように名前を付けてください。"
        fix_en = "e.g. careplan hub snapshot save before-month-end"
    else:
        fix = "careplan hub snapshot list で保存済みの名前を確認してください。"
        fix_en = "List the snapshots (careplan hub snapshot list)."
    return snapshots.bad_name(name, fix, fix_en).to_wire(parse_lang(os.environ.get(LANG_ENV)))


def _since(text: str) -> str:
    """--since as typed, once it reads as ISO 8601 (the hub would match nothing and say 0 entries)."""
    instant(text)
    return text


def _rule(args: argparse.Namespace) -> dict[str, Any]:
    if args.rule is not None:  # parsed by json_value: a typo is a usage error, not a traceback
        return args.rule if isinstance(args.rule, dict) else {"rules": args.rule}
    names = ("kind", "route", "office", "operation", "count", "probability", "latency_ms", "status", "code",
             "retry_after", "after_bytes", "transmission")  # fmt: skip
    rule = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    if args.signature_file is not None:
        rule["signature"] = base64.b64encode(args.signature_file.read_bytes()).decode()
    return {"seed": args.seed, "rules": [rule]} if args.seed is not None else rule


async def _faults(call: Call, args: argparse.Namespace) -> object:
    command = args.faults_command
    if command == "add":
        return await call("POST", "/admin/v1/faults", _rule(args))
    return await call("GET" if command == "list" else "DELETE", "/admin/v1/faults", None)


async def _transmissions(call: Call, args: argparse.Namespace) -> object:
    """One page; with --all every page after it, as one answer of the same shape (its next_cursor is
    null at the end). Bounded: the walk stops at the last page or at a cursor it has seen before."""
    query = {"limit": args.limit, **{k: v for k, v in (("office", args.office), ("cursor", args.cursor)) if v}}
    rows: list[object] = []
    seen: set[str] = set()
    while True:
        page = await call("GET", "/admin/v1/inspector/transmissions?" + urlencode(query), None)
        if not isinstance(page, dict) or "transmissions" not in page or not args.all:
            return page
        rows += page["transmissions"]
        cursor = page["next_cursor"]
        if not cursor or cursor in seen:
            return {"transmissions": rows, "next_cursor": cursor}
        seen.add(cursor)
        query["cursor"] = cursor


async def _sessions(call: Call, args: argparse.Namespace) -> object:
    return await call("GET", "/admin/v1/sessions", None)


async def _corrections(call: Call, args: argparse.Namespace) -> object:
    if args.set:
        return await call("POST", f"/admin/v1/corrections/{args.set[0]}", {"status": args.set[1]})
    return await call("GET", "/admin/v1/corrections", None)


def show(answer: object, args: argparse.Namespace, lines: render.Render) -> int:
    """Print `answer`: as JSON with --json (exactly the admin API's, times in JST), else `lines` of it
    for people; a refusal goes to stderr in people's form. The exit status: 1 for a refusal."""
    if getattr(args, "json", False):
        render.print_json(answer)
        return 1 if render.is_refusal(answer) else 0
    if not isinstance(answer, dict):
        render.print_json(answer)
        return 1
    if render.is_refusal(answer):
        print("\n".join(render.refusal(answer, render.width())), file=sys.stderr)
        return 1
    print("\n".join(lines(answer, render.width())))
    return 0


async def _journal(call: Call, args: argparse.Namespace) -> int:
    query: dict[str, Any] = {"limit": args.limit}
    for name in ("office", "transmission", "code", "since"):
        if getattr(args, name):
            query[name] = getattr(args, name)
    day: str | None = None  # the date line above the entries is printed again when the day changes
    while True:
        page = await call("GET", "/admin/v1/journal?" + urlencode(query), None)
        if not isinstance(page, dict) or "entries" not in page:
            return show(page, args, render.refusal) or 1
        for entry in page["entries"]:
            if args.json:
                print(json.dumps(entry, ensure_ascii=False), flush=True)
                continue
            print("\n".join(render.journal_entry(entry, render.width(), day=day)), flush=True)
            day = render.journal_day(entry)
        if not args.json and not args.follow and not page["entries"]:
            print("（0件）該当なし / no entries")
        if not args.follow:
            return 0
        query["cursor"] = page["next_cursor"]
        await asyncio.sleep(0.5)


COMMANDS: dict[str, Callable[[Call, argparse.Namespace], Awaitable[object]]] = {
    "reset": _reset,
    "snapshot": _snapshot,
    "faults": _faults,
    "transmissions": _transmissions,
    "sessions": _sessions,
    "corrections": _corrections,
}


NAMES = frozenset({*COMMANDS, "journal"})


def lines_of(command: str, args: argparse.Namespace) -> render.Render:
    """How the answer of `command` (with its subcommand) reads for people."""
    if command == "snapshot":
        return {"list": render.snapshot_list, "save": render.snapshot_saved, "restore": render.snapshot_restored,
                "delete": render.snapshot_deleted}[args.snapshot_command]  # fmt: skip
    if command == "faults":
        return {"list": render.faults, "add": render.faults_added, "clear": render.faults_cleared}[args.faults_command]
    if command == "corrections" and args.set:
        return render.correction_set
    by_command: dict[str, render.Render] = {
        "reset": render.reset,
        "transmissions": render.transmissions,
        "sessions": render.sessions,
        "corrections": render.corrections,
    }
    return by_command[command]


def run(command: str, call: Call, args: argparse.Namespace) -> int:
    """Run one control command against the running hub and print its answer (`show`)."""
    if command == "journal":
        try:
            return asyncio.run(_journal(call, args))
        except KeyboardInterrupt:
            return 0
    return show(asyncio.run(COMMANDS[command](call, args)), args, lines_of(command, args))
