"""`careplan hub …`: run the hub and move its simulated clock."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import ssl
import sys
from pathlib import Path

import aiohttp

from hub.config import HubConfig
from hub.server import admin_token, missing_files, serve_forever

DEFAULT_DATA = Path(".careplan-sim")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="careplan hub", description="The ケアプランデータ連携 platform simulator.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data directory (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the hub (mutual TLS) until Ctrl-C")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None, help="0 picks a free port; see data/hub.json")
    clock = sub.add_parser("clock", help="show or move the running hub's simulated clock")
    clock_sub = clock.add_subparsers(dest="clock_command", required=True)
    clock_sub.add_parser("show")
    clock_set = clock_sub.add_parser("set")
    clock_set.add_argument("time", help="ISO 8601 with a zone, e.g. 2025-04-16T09:00:00+09:00")
    clock_set.add_argument("--frozen", action="store_true", help="stop the clock at that time")
    advance = clock_sub.add_parser("advance")
    advance.add_argument("--days", type=float, default=0)
    advance.add_argument("--hours", type=float, default=0)
    advance.add_argument("--seconds", type=float, default=0)
    clock_sub.add_parser("reset", help="back to real time")
    return parser


async def _admin(config: HubConfig, method: str, path: str, body: object | None = None) -> object:
    ready = json.loads(config.ready_file.read_text())
    context = ssl.create_default_context(cafile=str(config.trusted_ca_file))
    headers = {"Authorization": f"Bearer {admin_token(config)}"}
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session,
        session.request(method, ready["url"] + path, json=body, headers=headers) as response,
    ):
        return await response.json()


def _clock(config: HubConfig, args: argparse.Namespace) -> int:
    if not config.ready_file.exists():
        print(f"no running hub for {config.data_dir} (start one with `careplan up`)", file=sys.stderr)
        return 3
    body: dict[str, object] | None = None
    if args.clock_command == "set":
        body = {"set": args.time, "frozen": args.frozen}
    elif args.clock_command == "advance":
        body = {"advance_seconds": args.days * 86400 + args.hours * 3600 + args.seconds}
    elif args.clock_command == "reset":
        body = {"reset": True}
    result = asyncio.run(_admin(config, "POST" if body else "GET", "/admin/v1/clock", body))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 1 if isinstance(result, dict) and "code" in result else 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = HubConfig.from_env(args.data, host=getattr(args, "host", None), port=getattr(args, "port", None))
    if args.command == "clock":
        return _clock(config, args)
    missing = missing_files(config)
    if missing:
        print(
            "missing: " + ", ".join(map(str, missing)) + "\nrun `careplan up` once to create the CA, "
            "the hub's TLS certificate and demo offices",
            file=sys.stderr,
        )
        return 2
    asyncio.run(serve_forever(config))
    return 0
