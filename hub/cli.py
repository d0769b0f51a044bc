"""`careplan hub …`: run the hub and move its simulated clock."""

from __future__ import annotations

import argparse
import asyncio
import errno
import functools
import os
import socket
import ssl
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from careplan.errors import LANG_ENV, CareplanError, Operation, parse_lang
from careplan.helptext import also_after_the_command, instant, number_in, with_examples
from hub.config import HubConfig
from hub.control import cli as control_cli
from hub.control import render
from hub.control.cli import with_json
from hub.datadir import (
    CA_LOST_EN,
    CA_LOST_JA,
    DataDirProblem,
    UnreadableAnnouncement,
    admin_token,
    announced_url,
    presented_admin_token,
    problem,
)
from hub.dburl import is_postgres_url, refusal_line
from hub.logformat import FORMATS, JsonFormatter, configure_logging, node_name
from hub.server import RunningHub, missing_files, serve_forever

DEFAULT_DATA = Path(".careplan-sim")


EXAMPLES = {
    "": "例: careplan hub serve --port 8443\n    careplan hub clock advance --days 31",
    "serve": "例: careplan hub --data .careplan-sim serve --host 127.0.0.1 --port 8443\n"
    "    careplan hub serve --workers 2 \\\n"
    "        --database postgresql://careplan@127.0.0.1:5432/careplan",
    "clock": "例: careplan hub clock show",
    "clock show": "例: careplan hub clock show",
    "clock set": "例: careplan hub clock set 2027-04-16T09:00:00+09:00 --frozen",
    "clock advance": "例: careplan hub clock advance --days 31",
    "clock reset": "例: careplan hub clock reset",
    "keys": "例: careplan hub keys rotate --retire-old",
    "keys rotate": "例: careplan hub keys rotate --retire-old",
    "audit": "例: careplan hub audit --json",
    "crl-status": "例: careplan hub crl-status --json",
    **control_cli.EXAMPLES,
}


PORT = number_in(0, 65535)  # `careplan up` and `hub serve`: 99999 was an OverflowError at bind
MAX_WORKERS = 64  # each is a process: a typo of 100000 would fork until the machine stops


def not_hub_data(command: str, data: Path, *, needs: Sequence[str] = ()) -> str | None:
    """Why `data` is not a hub's data directory, in both languages; None when it is one. Every
    command that reaches a running hub through it reads the CA there (ca/ca.pem, and ca/ca-key.pem
    to issue test certificates); `needs` names the other files a command reads (careplan load: the
    admin-token), so that one message names all that is missing."""
    missing = [name for name in ("ca/ca.pem", *needs) if not (data / name).is_file()]
    if missing:
        return missing_text(
            command,
            ("ハブのデータディレクトリではありません", "not a hub's data directory"),
            data,
            missing,
            (
                "careplan up の --data に渡したフォルダを指定してください。",
                "Give the folder that careplan up was given with --data.",
            ),
        )
    for name, load in (("ca.pem", _certificate), ("ca-key.pem", _private_key)):
        try:  # these commands issue test certificates with the CA: a corrupt one was exit 70
            load((data / "ca" / name).read_bytes())
        except (OSError, ValueError, TypeError) as exc:
            return problem(data / "ca" / name, exc, CA_LOST_JA, CA_LOST_EN).lines(command)
    return None


def missing_text(command: str, what: tuple[str, str], path: Path, missing: Sequence[str], fix: tuple[str, str]) -> str:
    """A command that cannot begin for files it does not find, in both languages: what is wrong,
    the path whole on its own line (it is copied, and the rest fits 80 columns), the files
    missing, and the fix; `what` and `fix` as (Japanese, English)."""
    return "\n".join(
        [
            f"{command}: {what[0]}",
            f"  {what[1]}",
            f"  {path}",
            f"  見つからないファイル / missing: {', '.join(missing)}",
            f"  {fix[0]}",
            f"  {fix[1]}",
        ]
    )


def _certificate(pem: bytes) -> object:
    return x509.load_pem_x509_certificate(pem)


def _private_key(pem: bytes) -> object:
    return serialization.load_pem_private_key(pem, password=None)


def database_problem(command: str, config: HubConfig) -> str | None:
    """A database URL (--database or CAREPLAN_HUB_DATABASE) that is not PostgreSQL's: the hub would
    quietly use SQLite while its banner named the URL."""
    if not config.database_url or is_postgres_url(config.database_url):
        return None
    return (
        f"{command}: データベースの URL は postgresql://user:password@host:port/db の形です\n"
        f"{command}: the database URL must be postgresql://user:password@host:port/db "
        "(--database or CAREPLAN_HUB_DATABASE; none: SQLite in the data directory)"
    )


def cannot_listen(command: str, config: HubConfig, exc: OSError) -> str:
    """Why the hub cannot listen: an address this machine does not have, else (usually) a port taken
    by a hub started earlier (its ready file says)."""
    where = f"{config.host}:{config.port}"
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return "\n".join(
            [
                f"{command}: {config.host} はこのマシンで待ち受けできるアドレスではありません",
                f"  {config.host} is not an address this machine can listen on ({exc.strerror or exc})",
                "  例 / e.g.: --host 127.0.0.1",
            ]
        )
    reason = os.strerror(exc.errno) if exc.errno else str(exc)  # asyncio's text repeats the address: too long
    return "\n".join(
        [
            f"{command}: {where} で待ち受けできません / cannot listen there",
            f"  ({reason})",
            "  別のハブ（またはほかのプログラム）がこのポートを使っています。",
            "  そのハブを使うか、止めてください。",
            "  another hub (or another program) uses the port: use that hub, or stop it",
            f"  別のポートで起動するには / another port: {command} --port 8444",
        ]
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="careplan hub", description="The ケアプランデータ連携 platform simulator.")
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="data directory (default: %(default)s; also after the command)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the hub (mutual TLS) until Ctrl-C")
    serve.add_argument("--host", default=None, help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=PORT, default=None, help="0 picks a free port; see data/hub.json")
    serve.add_argument("--log-format", choices=FORMATS, default="text", help="json: one object per line")
    serve.add_argument(
        "--workers",
        type=number_in(1, MAX_WORKERS),
        default=1,
        help=f"processes sharing the port, 1–{MAX_WORKERS} (default %(default)s; e.g. one per CPU)",
    )
    serve.add_argument(
        "--database",
        default=None,
        metavar="URL",
        help="postgresql://user:password@host:port/db (default: SQLite in the data directory; "
        "env CAREPLAN_HUB_DATABASE)",
    )
    clock = sub.add_parser("clock", help="show or move the running hub's simulated clock")
    clock_sub = clock.add_subparsers(dest="clock_command", required=True, metavar="COMMAND")
    with_json(clock_sub.add_parser("show", help="the hub's time and mode"))
    clock_set = with_json(clock_sub.add_parser("set", help="set the simulated time"))
    clock_set.add_argument("time", type=_time, help="ISO 8601 with a zone, e.g. 2025-04-16T09:00:00+09:00")
    clock_set.add_argument("--frozen", action="store_true", help="stop the clock at that time")
    advance = with_json(clock_sub.add_parser("advance", help="move the simulated time forward"))
    advance.add_argument("--days", type=float, default=0, help="days to add")
    advance.add_argument("--hours", type=float, default=0, help="hours to add")
    advance.add_argument("--seconds", type=float, default=0, help="seconds to add")
    advance.set_defaults(usage=advance)  # a move of nothing is a usage error (`main`)
    with_json(clock_sub.add_parser("reset", help="back to real time"))
    keys = sub.add_parser("keys", help="rotate the key that encrypts payloads at rest")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")
    rotate = with_json(keys_sub.add_parser("rotate", help="start encrypting with a new key"))
    rotate.add_argument("--retire-old", action="store_true", help="re-encrypt every payload and drop old keys")
    with_json(sub.add_parser("audit", help="the latest refusals: who, what, why"))
    crl_help = "the CRL in force and any refused publication (corrupt, forged, older)"
    with_json(sub.add_parser("crl-status", help=crl_help))
    control_cli.add_parsers(sub)  # reset, snapshot, journal, faults, transmissions, sessions, corrections
    return with_examples(also_after_the_command(parser, "--data"), EXAMPLES)


class HubGone(Exception):
    """The data directory names a running hub (hub.json) that does not answer: killed, crashed,
    or its file left behind. Carries the HUB_UNREACHABLE refusal to print (exit status 3)."""

    def __init__(self, refusal: CareplanError) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal


async def _admin(config: HubConfig, method: str, path: str, body: object | None = None) -> object:
    try:
        url = announced_url(config.ready_file)
    except UnreadableAnnouncement as exc:  # a damaged hub.json: where the hub listens is unknown (exit 3)
        raise HubGone(
            CareplanError(
                "HUB_UNREACHABLE",
                operation=Operation.ADMIN,
                detail=exc.ja,
                fix="ハブを止めて起動し直してください（careplan up、または careplan hub serve）。",
                detail_en=exc.en,
                fix_en="Stop the hub and start it again (careplan up, or careplan hub serve).",
            )
        ) from None
    context = ssl.create_default_context(cafile=str(config.trusted_ca_file))
    # --lang (CAREPLAN_LANG): the admin API's details and fixes in that language, as for the client
    lang = parse_lang(os.environ.get(LANG_ENV))
    token = config.admin_token or presented_admin_token(config.data_dir)  # never made: see _no_token
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": lang.value}
    try:
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session,
            session.request(method, url + path, json=body, headers=headers) as response,
        ):
            return await response.json()
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:  # not the OSError of a path: exit 3
        reason = str(exc) or type(exc).__name__
        raise HubGone(
            CareplanError(
                "HUB_UNREACHABLE",
                operation=Operation.ADMIN,
                detail=f"{config.ready_file} のハブ {url} に接続できません（{reason}）",
                fix="ハブが止まっています。careplan up（または careplan hub serve）で起動してください。",
                detail_en=f"the hub of {config.ready_file}, {url}, does not answer ({reason})",
                fix_en="The hub has stopped: start it with careplan up (or careplan hub serve).",
            )
        ) from None


def _gone(error: CareplanError, args: argparse.Namespace) -> int:
    """A hub that does not answer: the refusal on stderr, and with --json as JSON on stdout too
    (a script reads JSON whatever happened); exit status 3, as for every command."""
    _refused_here(error, None, args)
    return 3


def _time(text: str) -> str:
    """`clock set` TIME as typed, once it reads as ISO 8601 (else a usage error before any hub)."""
    instant(text)
    return text


def _no_hub(config: HubConfig, args: argparse.Namespace) -> bool:
    if config.ready_file.exists():
        return False
    error = CareplanError(
        "HUB_UNREACHABLE",
        operation=Operation.ADMIN,
        detail=f"{config.data_dir} のハブは動いていません",
        fix="careplan up で起動してください。",
        detail_en=f"no running hub for {config.data_dir}",
        fix_en="Start one with careplan up.",
    )
    text = (  # the path whole on a line of its own: it is copied, and the rest fits 80 columns
        f"ハブは動いていません（careplan up で起動してください） / no running hub for\n  {config.data_dir}\n"
        "(start one with `careplan up`)"
    )
    _refused_here(error, text, args)
    return True


def _no_token(config: HubConfig, args: argparse.Namespace) -> bool:
    """No admin token to present (no CAREPLAN_ADMIN_TOKEN, no data/admin-token: a hub started with
    the variable makes no file): said as the other commands say it, exit 2. One made here would be
    refused by the running hub as a wrong token (ADMIN_FORBIDDEN, which --json still gives)."""
    if config.admin_token or (config.data_dir / "admin-token").is_file():
        return False
    error = CareplanError(
        "ADMIN_FORBIDDEN",
        operation=Operation.ADMIN,
        detail=f"{config.data_dir / 'admin-token'} がなく、CAREPLAN_ADMIN_TOKEN もありません",
        detail_en=f"no {config.data_dir / 'admin-token'} and no CAREPLAN_ADMIN_TOKEN",
    )
    _refused_here(error, not_hub_data("careplan hub", config.data_dir, needs=("admin-token",)) or "", args)
    return True


def _refused_here(error: CareplanError, text: str | None, args: argparse.Namespace) -> None:
    """A hub command that cannot begin (for a reason found here, or a hub that does not answer):
    `text` on stderr (None: the refusal as render.refusal words it), and with --json `error` on
    stdout too (a script reads JSON whatever happened)."""
    answer = error.to_wire(parse_lang(os.environ.get(LANG_ENV)))
    if getattr(args, "json", False):
        render.print_json(answer)
    print("\n".join(render.refusal(answer, render.width())) if text is None else text, file=sys.stderr)


def _keys(config: HubConfig, args: argparse.Namespace) -> int:
    answer = asyncio.run(_admin(config, "POST", "/admin/v1/keys/rotate", {"retire_old": args.retire_old}))
    return control_cli.show(answer, args, render.keys)


def _audit(config: HubConfig, args: argparse.Namespace) -> int:
    return control_cli.show(asyncio.run(_admin(config, "GET", "/admin/v1/audit")), args, render.audit)


def _crl_status(config: HubConfig, args: argparse.Namespace) -> int:
    """The CRL in force; exit status 1 while the published file is one the hub refused."""
    answer = asyncio.run(_admin(config, "GET", "/admin/v1/crl"))
    shown = control_cli.show(answer, args, render.crl)
    return 1 if shown == 0 and isinstance(answer, dict) and answer.get("refused") is not None else shown


def _clock(config: HubConfig, args: argparse.Namespace) -> int:
    body: dict[str, object] | None = None
    if args.clock_command == "set":
        body = {"set": args.time, "frozen": args.frozen}
    elif args.clock_command == "advance":
        body = {"advance_seconds": args.days * 86400 + args.hours * 3600 + args.seconds}
    elif args.clock_command == "reset":
        body = {"reset": True}
    answer = asyncio.run(_admin(config, "POST" if body else "GET", "/admin/v1/clock", body))
    return control_cli.show(answer, args, render.clock)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.command == "clock" and args.clock_command == "advance" and not (args.days or args.hours or args.seconds):
        args.usage.error(
            "--days、--hours、--seconds のどれかに 0 でない値を指定してください"
            " / give --days, --hours or --seconds a value other than 0"
        )
    json_logs = configure_logging(
        getattr(args, "log_format", "text"), text="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = HubConfig.from_env(
        args.data,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        database_url=getattr(args, "database", None),
    )
    admin = {"clock": _clock, "keys": _keys, "audit": _audit, "crl-status": _crl_status}
    try:
        if args.command in admin or args.command in control_cli.NAMES:
            if _no_hub(config, args):
                return 3
            if _no_token(config, args):
                return 2
        if args.command in admin:
            return admin[args.command](config, args)
        if args.command in control_cli.NAMES:
            return control_cli.run(args.command, functools.partial(_admin, config), args)
    except HubGone as gone:
        return _gone(gone.refusal, args)
    missing = missing_files(config)
    if missing:
        print(  # one path a line, whole: a long data directory keeps each within reach of 80 columns
            "ハブの起動に必要なファイルがありません / missing:\n"
            + "".join(f"  {path}\n" for path in missing)
            + "`careplan up` を一度実行すると、CA・ハブのTLS証明書・デモ事業所が作られます\n"
            "run `careplan up` once to create the CA, the hub's TLS certificate and demo offices",
            file=sys.stderr,
        )
        return 2
    problem = database_problem("careplan hub serve", config)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    return starting("careplan hub serve", config, lambda: _serve(config, args, json_logs))


def starting(program: str, config: HubConfig, run: Callable[[], int]) -> int:
    """`run` a hub (its whole life: `careplan hub serve`, `careplan up`); what stops it at start is
    one message and exit status 2, no traceback: a file of the data directory it cannot use, an
    address it cannot listen on, a database it cannot reach."""
    try:
        return run()
    except DataDirProblem as unusable:
        message = unusable.lines(program)
    except OSError as exc:
        message = cannot_listen(program, config, exc)
    except CareplanError as error:
        line = refusal_line(program, error)
        if line is None:
            raise
        message = line
    print(message, file=sys.stderr)
    return 2


def _serve(config: HubConfig, args: argparse.Namespace, json_logs: JsonFormatter | None) -> int:
    from hub import heap
    from hub.supervisor import exec_supervisor
    from hub.workers import prepare_storage

    if args.workers > 1:  # prepared here, in a process the supervisor replaces (hub.supervisor rule 1)
        asyncio.run(prepare_storage(config))
        admin_token(config)  # made once, before any worker reads it
        exec_supervisor(config, args.workers, args.log_format)  # never returns
    heap.tune()

    async def on_start(hub: RunningHub) -> None:
        if json_logs is not None:
            json_logs.node = node_name(hub.port)

    asyncio.run(serve_forever(config, on_start=on_start))
    return 0
