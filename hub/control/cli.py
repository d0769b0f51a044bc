"""`careplan hub reset | snapshot | journal | faults | transmissions | sessions | corrections`: the
control plane from a shell, through the running hub's admin API (hub.cli adds these parsers)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from hub.control.faults import KINDS
from hub.offices import JST

Call = Callable[[str, str, object | None], Awaitable[object]]
Printer = Callable[[object], int]


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
    "transmissions": "例: careplan hub transmissions --office 1370100016",
    "sessions": "例: careplan hub sessions",
    "corrections": "例: careplan hub corrections\n    careplan hub corrections --set 3 対応中",
}


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    reset = sub.add_parser("reset", help="back to the state `careplan up` seeded (or --empty: nothing)")
    reset.add_argument("--empty", action="store_true", help="no offices at all")
    snapshot = sub.add_parser("snapshot", help="save, list, restore or delete a snapshot of the whole hub")
    snap = snapshot.add_subparsers(dest="snapshot_command", required=True, metavar="COMMAND")
    actions = (("save", "save the hub as it is now"), ("restore", "go back to a snapshot"), ("delete", "delete one"))
    for name, what in actions:
        snap.add_parser(name, help=what).add_argument("name", help="the snapshot's name, e.g. 月初")
    snap.add_parser("list", help="the stored snapshots")
    journal = sub.add_parser("journal", help="every request and each submission's decision chain")
    journal.add_argument("--follow", "-f", action="store_true", help="keep printing new entries (Ctrl-C stops)")
    journal.add_argument("--office", help="only requests of this 事業所番号")
    journal.add_argument("--transmission", help="only requests about this transmission id")
    journal.add_argument("--code", help="only refusals with this catalogue code, e.g. REPLAY")
    journal.add_argument("--since", help="hub time, ISO 8601")
    journal.add_argument("--limit", type=int, default=50, help="entries per page (default %(default)s)")
    journal.add_argument("--json", action="store_true", help="one JSON object per line")
    faults = sub.add_parser("faults", help="make the hub slow, fail or cut connections (seeded, reproducible)")
    fault = faults.add_subparsers(dest="faults_command", required=True, metavar="COMMAND")
    add = fault.add_parser("add", help='a rule as flags, or as JSON: \'{"kind": "http_error", "count": 1}\'')
    add.add_argument("rule", nargs="?", help="the rule (or {seed, rules}) as JSON")
    add.add_argument("--kind", choices=KINDS, help="what the fault does")
    add.add_argument("--route", help="'METHOD /path', e.g. 'POST /api/v1/transmissions'")
    add.add_argument("--office", help="only requests of this 事業所番号")
    add.add_argument("--operation", choices=("login", "send", "list", "download", "acknowledge"), help="only this")
    add.add_argument("--count", type=int, help="the next N matching requests (default: until cleared)")
    add.add_argument("--probability", type=float, help="0–1: each matching request, drawn from --seed")
    add.add_argument("--seed", type=int, help="seed of the draws (the same seed replays the same faults)")
    add.add_argument("--latency-ms", type=int, help="latency: added milliseconds")
    add.add_argument("--status", type=int, help="http_error: the HTTP status, e.g. 503")
    add.add_argument("--code", help="http_error: the catalogue code of the answer")
    add.add_argument("--retry-after", type=int, help="http_error: Retry-After seconds")
    add.add_argument("--transmission", help="only this transmission's requests (its 送信ID)")
    add.add_argument("--signature-file", type=Path,
                     help="substitute_signature: a detached CMS signature (DER) to serve instead")  # fmt: skip
    add.add_argument("--after-bytes", type=int, help="cut_upload/cut_download: cut after this many bytes")
    fault.add_parser("list", help="the rules in force")
    fault.add_parser("clear", help="remove every rule")
    listing = sub.add_parser("transmissions", help="every office's transmissions, newest first")
    listing.add_argument("--office", help="only this 事業所番号 (as sender or recipient)")
    listing.add_argument("--limit", type=int, default=50, help="rows per page (default %(default)s)")
    listing.add_argument("--cursor", help="the next_cursor of the previous page")
    sub.add_parser("sessions", help="open client and website sessions")
    corrections = sub.add_parser("corrections", help="directory correction requests; --set ID STATUS")
    corrections.add_argument("--set", nargs=2, metavar=("ID", "STATUS"), help="STATUS: 受付済 対応中 反映済 却下")


async def _reset(call: Call, args: argparse.Namespace) -> object:
    return await call("POST", "/admin/v1/reset", {"to": "empty" if args.empty else "seed"})


async def _snapshot(call: Call, args: argparse.Namespace) -> object:
    command = args.snapshot_command
    if command == "list":
        return await call("GET", "/admin/v1/snapshots", None)
    if command == "save":
        return await call("POST", "/admin/v1/snapshots", {"name": args.name})
    path = f"/admin/v1/snapshots/{quote(args.name, safe='')}"
    return await call(
        "POST" if command == "restore" else "DELETE", path + ("/restore" if command == "restore" else ""), None
    )


def _rule(args: argparse.Namespace) -> dict[str, Any]:
    if args.rule:
        loaded = json.loads(args.rule)
        return loaded if isinstance(loaded, dict) else {"rules": loaded}
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
    query = {k: v for k, v in (("office", args.office), ("limit", args.limit), ("cursor", args.cursor)) if v}
    return await call("GET", "/admin/v1/inspector/transmissions?" + urlencode(query), None)


async def _sessions(call: Call, args: argparse.Namespace) -> object:
    return await call("GET", "/admin/v1/sessions", None)


async def _corrections(call: Call, args: argparse.Namespace) -> object:
    if args.set:
        return await call("POST", f"/admin/v1/corrections/{args.set[0]}", {"status": args.set[1]})
    return await call("GET", "/admin/v1/corrections", None)


def journal_line(e: dict[str, Any]) -> str:
    """One entry for people: hub time in JST, status, route, who, code, transmission, fault, duration;
    a submission's checks indented below it."""
    who = " ".join(x for x in (e.get("office"), e.get("user_id")) if x)
    fault = f"  ⚡{e['fault']['kind']}" if e.get("fault") else ""
    tid = f"  {e['transmission']}" if e.get("transmission") else ""
    at = dt.datetime.fromisoformat(e["at"]).astimezone(JST).strftime("%m-%d %H:%M:%S")
    line = f"{at}  {e['status']}  {e['method']:<6} {e['route']:<48} {who:<28} {e.get('code') or '':<22}"
    line = line.rstrip() + tid + fault + f"  {e['duration_ms']:.0f} ms"
    for d in e.get("decisions") or []:
        line += f"\n      {d['step']:<13} {d['outcome']:<28} {d['note']}".rstrip()
    return line


async def _journal(call: Call, args: argparse.Namespace) -> int:
    query: dict[str, Any] = {"limit": args.limit}
    for name in ("office", "transmission", "code", "since"):
        if getattr(args, name):
            query[name] = getattr(args, name)
    while True:
        page = await call("GET", "/admin/v1/journal?" + urlencode(query), None)
        if not isinstance(page, dict) or "entries" not in page:
            print(json.dumps(page, ensure_ascii=False, indent=2))
            return 1
        for entry in page["entries"]:
            print(json.dumps(entry, ensure_ascii=False) if args.json else journal_line(entry), flush=True)
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


def run(command: str, call: Call, args: argparse.Namespace, show: Printer) -> int:
    """Run one control command against the running hub; `show` prints an answer, gives the status."""
    if command == "journal":
        try:
            return asyncio.run(_journal(call, args))
        except KeyboardInterrupt:
            return 0
    return show(asyncio.run(COMMANDS[command](call, args)))
