"""`careplan up`: the quick start. Creates what is missing (CA, hub TLS certificate, demo offices
with certificates and passwords, sample CSV files), starts the hub and prints how to use it."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import shlex
import shutil
import sys
from pathlib import Path

from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ca.authority import CertificateAuthority
from ca.cli import write_server_cert
from careplan.folding import continued
from careplan.helptext import with_examples
from client import render
from fixtures.demo import DEMO_OFFICES, DemoOffice
from hub.banner import WIDTH, pair
from hub.cli import PORT, database_problem, starting
from hub.config import HubConfig
from hub.control.dashboard import trainer_passcode
from hub.control.plane import set_seeder
from hub.datadir import CA_LOST_EN, CA_LOST_JA, CANNOT_OPEN_EN, CANNOT_OPEN_JA, problem, using
from hub.dburl import without_password
from hub.keys import SERVICE
from hub.logformat import FORMATS, configure_logging, node_name
from hub.passwords import new_password, verify_password
from hub.payloads import write_atomic
from hub.processes import runs
from hub.server import RunningHub, serve_forever
from hub.service import HubService


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="careplan up", description="Start a local hub with demo offices.")
    parser.add_argument(
        "--data", type=Path, default=Path(".careplan-sim"), help="data directory (default: %(default)s)"
    )
    parser.add_argument("--host", default=None, help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=PORT, default=None, help="port (default 8443; 0 picks a free one)")
    parser.add_argument(
        "--log-format", choices=FORMATS, default="text", help="ログの形式（json: 1行に1つのJSON） / log format"
    )
    parser.add_argument(
        "--database",
        default=None,
        metavar="URL",
        help="postgresql://user:password@host:port/db（省略時: データディレクトリの SQLite） / the hub's database",
    )
    return with_examples(
        parser,
        {
            "": "例: careplan up\n    careplan up --port 8444 --data /tmp/training\n"
            "    careplan up --database postgresql://careplan@127.0.0.1:5432/careplan"
        },
    )


def prepare(config: HubConfig) -> CertificateAuthority:
    """The CA and the hub's TLS certificate, created once."""
    now = dt.datetime.now(dt.UTC)
    authority = CertificateAuthority.open_or_create(config.ca_dir, now=now)
    if not (config.tls_dir / "hub.pem").exists():
        issued = authority.issue_server(now=now)
        write_server_cert(issued.cert_pem(), issued.key_pem(), config.tls_dir)
    return authority


def _prepared(config: HubConfig) -> CertificateAuthority:
    """`prepare`, with a ca/ that holds no CA (PEM, JSON) or a file it cannot open said as the
    DataDirProblem it is (`hub.cli.starting` prints it), not as a port that cannot be listened on."""
    try:
        return prepare(config)
    except ValueError as exc:
        raise problem(config.ca_dir, exc, CA_LOST_JA, CA_LOST_EN) from exc
    except OSError as exc:
        where = Path(exc.filename) if exc.filename else config.data_dir
        raise problem(where, exc, CANNOT_OPEN_JA, CANNOT_OPEN_EN) from exc


def _issue_terminal(authority: CertificateAuthority, office: DemoOffice, demo_dir: Path) -> dict[str, str]:
    password = new_password()
    issued = authority.issue_office(
        office_number=office.office_number,
        office_user_id=office.office_user_id,
        office_name=office.name,
        now=dt.datetime.now(dt.UTC),
    )
    p12 = demo_dir / f"{office.profile}.p12"
    p12.write_bytes(issued.to_p12(password, name=office.name, ca=authority.certificate))
    p12.chmod(0o600)
    return {"p12": str(p12), "p12_password": password}


RECORD_LOST_JA = (
    "このファイルは careplan up が配ったデモ事業所のパスワードと .p12 の控えです。消して起動し直すと新しく作り、"
    "起動後に careplan hub reset でデモ事業所をそれに合わせます（送受信の記録は消えます）。"
)
RECORD_LOST_EN = (
    "It records the demo offices' passwords and .p12 files careplan up handed out: remove it and start"
    " again to make new ones, then careplan hub reset so the demo offices take them (transmissions go)."
)


def _saved_credentials(record: Path) -> dict[str, dict[str, str]]:
    """The demo credentials handed out before (demo/offices.json), {} when none were; a file that
    is not such a record is a DataDirProblem (the start says which, why and what to do)."""
    # A few hundred bytes read once at start-up, before any office connects.
    record.parent.mkdir(parents=True, exist_ok=True)
    if not record.exists():
        return {}
    with using(record, RECORD_LOST_JA, RECORD_LOST_EN):
        saved = json.loads(record.read_text("utf-8"))
        if not (isinstance(saved, dict) and all(isinstance(entry, dict) for entry in saved.values())):
            raise ValueError("not an object of one object per demo office")
    return saved


async def seed_demo(service: HubService, authority: CertificateAuthority, demo_dir: Path) -> dict[str, dict[str, str]]:
    """Register the demo offices (once) and return their credentials, kept in demo/offices.json."""
    record = demo_dir / "offices.json"
    saved = _saved_credentials(record)
    registered = {o["office_number"] for o in await service.offices()}
    for office in DEMO_OFFICES:
        if office.profile in saved and office.office_number in registered:
            continue
        entry = saved.get(office.profile)  # a reset re-registers the offices with what was handed out
        if entry is None:
            entry = {
                "office_number": office.office_number,
                "name": office.name,
                "service": office.service_label,
                "user": office.office_user_id,
                "password": new_password(),
                "personal_user": office.personal_user_id,
                "personal_password": new_password(),
            }
            entry |= _issue_terminal(authority, office, demo_dir)
        if office.office_number not in registered:
            await service.register_office(
                office_number=office.office_number,
                name=office.name,
                service_kind=office.service_kind,
                office_user_id=office.office_user_id,
                password=entry["password"],
                licence=office.licence,
                password_state=office.password_state,
                address=office.address,
                personal_users=[(entry["personal_user"], entry["personal_password"])],
            )
        saved[office.profile] = entry
    write_atomic(record, json.dumps(saved, ensure_ascii=False, indent=1).encode("utf-8"))  # never cut short
    return saved


def write_samples(demo_dir: Path, offices: dict[str, dict[str, str]]) -> Path:
    from fixtures.samples import sample_plan_set

    folder = demo_dir / "samples"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    kyotaku, houmon = offices["kyotaku"], offices["houmon"]
    for name, data in sample_plan_set(sender=kyotaku["office_number"], recipient=houmon["office_number"]).items():
        (folder / name).write_bytes(data)
    return folder


def _command() -> list[str]:
    """How to run this same `careplan` again from the shell it was started in: `careplan` when that
    is the script on PATH, the script's path otherwise, and `python -m careplan_cli.main` with this
    interpreter when it was started as a module (`python -m`: argv[0] is then main.py, which a shell
    cannot run)."""
    found = shutil.which("careplan")
    here = Path(sys.argv[0])
    if found and Path(found).resolve() == here.resolve():
        return ["careplan"]
    if here.suffix == ".py":
        return [_near(Path(sys.executable)), "-m", "careplan_cli.main"]
    return [_near(here)]


def _near(path: Path) -> str:
    """`path` relative to the working directory when it is below it (shorter to read), else whole.
    Not resolved: a virtualenv's python is a symlink, and resolving it would leave the venv."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def login_args(hub_url: str, ca_file: Path, office: dict[str, str]) -> list[str]:
    """`careplan client … login` arguments for a demo office (its entry in demo/offices.json)."""
    return [
        "login", "--hub", hub_url, "--ca", str(ca_file), "--p12", office["p12"],
        "--p12-password", office["p12_password"], "--user", office["user"], "--password", office["password"],
    ]  # fmt: skip


async def current_state(service: HubService, offices: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Each demo office as the hub has it now (not as first seeded): licence state and expiry, and
    whether the saved passwords still open it (an office may have changed them on the website)."""
    state: dict[str, dict[str, str]] = {}
    for profile, office in offices.items():
        licence = dict((await service.office(office["office_number"]))["licence"])  # type: ignore[call-overload]
        row = await service.db.fetch_one(
            "SELECT password_hash, password_state FROM users WHERE user_id = ?", (office["user"],)
        )
        valid = row is not None and await asyncio.to_thread(verify_password, office["password"], row["password_hash"])
        password = office["password"] if valid else "（変更済み / changed）"
        if valid and row is not None and row["password_state"] != "ok":
            password += "\n（要変更 / must change）"  # a line of its own in the table
        state[profile] = {
            "licence": f"{licence.get('state', '-')}\n期限 {licence.get('expires', '-')}",
            "password": password,
            "login_password": office["password"] if valid else "<変更後のパスワード>",
        }
    return state


_CONTINUED = " " * 6  # the indent of a command's continuation lines


def _console() -> Console:
    """The summary's console: the terminal's width (or $COLUMNS, or 80 when piped), at most WIDTH."""
    return render.capped(WIDTH)


def _shell(args: list[str], width: int, tail: str = "") -> list[str]:
    """`args` as a shell command (quoted; `tail` added unquoted to the last word: a glob, a comment)
    in lines of at most `width` cells joined by ` \\`, each option beside its value where the two
    fit a line: pasted into a shell it is still one command. A word wider than a line stays whole
    (the terminal folds it; breaking it would change it)."""
    words = [shlex.quote(arg) for arg in args]
    words[-1] += tail
    groups: list[str] = []
    for word in words:
        pair = f"{groups[-1]} {word}" if groups and groups[-1].startswith("--") and not word.startswith("-") else ""
        if pair and " " not in groups[-1] and len(_CONTINUED) + cell_len(pair) + 2 <= width:
            groups[-1] = pair  # an option and its value
        else:
            groups.append(word)
    return continued(groups, width, "  ", _CONTINUED)


def _offices_tables(
    offices: dict[str, dict[str, str]], state: dict[str, dict[str, str]], demo_dir: Path
) -> tuple[Table, Table]:
    """The demo offices, then their credentials (.p12 files by name: their folder is the title's)."""
    offices_table = Table(
        title="デモ事業所（ハブの現在の状態） / demo offices, as the hub has them now", title_justify="left"
    )
    for column in ("profile", "事業所番号"):
        offices_table.add_column(column, no_wrap=True)  # 9 and 10 cells: kept whole, to be copied
    for column in ("事業所名（サービス）", "利用状況 / licence"):
        offices_table.add_column(column, overflow="fold")
    credentials = Table(title=f"ログイン情報 / credentials（.p12: {demo_dir}{os.sep}）", title_justify="left")
    for column in ("profile", "user / password", ".p12 / password"):
        credentials.add_column(column, overflow="fold")
    for profile, office in offices.items():  # cells are data, never markup: Text
        name = f"{office['name']}\n（{office['service']}）"
        offices_table.add_row(*map(Text, (profile, office["office_number"], name, state[profile]["licence"])))
        user = f"{office['user']} / {state[profile]['password']}"
        p12 = f"{Path(office['p12']).name} / {office['p12_password']}"
        credentials.add_row(Text(profile), Text(user), Text(p12))
    return offices_table, credentials


def _announce(
    hub: RunningHub,
    config: HubConfig,
    offices: dict[str, dict[str, str]],
    samples: Path,
    state: dict[str, dict[str, str]],
) -> None:
    """How to use the hub, every line at most WIDTH cells (tests/client/test_up_summary.py)."""
    console = _console()
    width = console.width
    cmd, ca, url = _command(), config.trusted_ca_file, hub.url

    def say(lines: list[str]) -> None:
        for line in lines:  # laid out here already: rich must not wrap (nor fold) them again
            console.print(line, markup=False, soft_wrap=True)

    places = [("データ / data directory", str(config.data_dir))]
    if config.database_url:
        places.append(("データベース / database", without_password(config.database_url)))
    places += [
        ("はじめに / start here", f"{url}/"),
        ("利用状況Webサイト / usage website", f"{url}/web/"),
        ("利用事業所検索 / directory", f"{url}/directory"),
        ("API説明 / API description", f"{url}/api"),
        ("OpenAPI", f"{url}/openapi.yaml"),
        ("稼働確認 / health", f"{url}/healthz"),
        ("証明書の警告 / trust the test CA", f"{url}/trust"),
        ("CA証明書 / CA certificate", str(ca)),
    ]
    console.print()
    console.print(f"[bold]ケアプランデータ連携 hub simulator[/] {escape(url)}/", soft_wrap=True)
    say([line for label, value in places for line in pair(label, value, width)])
    console.print()
    for table in _offices_tables(offices, state, config.data_dir / "demo"):
        console.print(table)
    k, h = offices["kyotaku"], offices["houmon"]

    def login(profile: str, o: dict[str, str]) -> list[str]:
        current = o | {"password": state[profile]["login_password"]}
        return [*cmd, "client", "--profile", profile, *login_args(url, ca, current)]

    say(["", "別のシェルで試すには、次を貼り付けてください:", "Try it from another shell (copy and paste):"])
    for args, tail in (
        (login("kyotaku", k), ""),
        ([*cmd, "client", "--profile", "kyotaku", "send", "--to", h["office_number"], str(samples)], "/*.CSV"),
        (login("houmon", h), ""),
        ([*cmd, "client", "--profile", "houmon", "inbox"], ""),
        ([*cmd, "client", "--profile", "houmon", "download", "--all", "--out", "received"], ""),
        ([*cmd, "client", "--profile", "kyotaku", "sent"], "  # shows ダウンロード済"),
    ):
        say(_shell(args, width, tail))
    passcode = trainer_passcode(config)
    say(["", *pair("資格情報の控え / credentials kept in", str(config.data_dir / "demo" / "offices.json"), width)])
    say([*pair(f"ダッシュボード（講師用パスコード {passcode}）", f"{url}/dashboard?passcode={passcode}", width), ""])


def running_hub(config: HubConfig) -> dict[str, object] | None:
    """The hub already serving this data directory (its ready file names a live process), if any."""
    try:
        running = dict(json.loads(config.ready_file.read_text("utf-8")))
        pid = int(running["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return running if runs(pid) else None


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    # Trainers watch the hub work: each stored transmission and each refusal is one log line.
    json_logs = configure_logging(args.log_format, text="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    config = HubConfig.from_env(args.data, host=args.host, port=args.port, database_url=args.database)
    wrong_database = database_problem("careplan up", config)
    if wrong_database:
        print(wrong_database, file=sys.stderr)
        return 2
    running = running_hub(config)
    if running is not None:  # before opening its database: one hub per data directory
        lines = [
            f"careplan up: このデータのハブが既に動いています（pid {running['pid']}）",
            "  a hub already serves this data directory: use it, or stop it first",
            *pair("データ / data", str(config.data_dir), column=16),
            *pair("ハブ / hub", f"{running['url']}/", column=16),
            "  そのまま使うか、そのハブを Ctrl-C で止めてから、もう一度実行してください。",
        ]
        print("\n".join(lines), file=sys.stderr)
        return 2

    def run() -> int:
        authority = _prepared(config)

        async def on_start(hub: RunningHub) -> None:
            if json_logs is not None:
                json_logs.node = node_name(hub.port)
            offices = await seed_demo(hub.app[SERVICE], authority, config.data_dir / "demo")
            set_seeder(hub.app, lambda service: seed_demo(service, authority, config.data_dir / "demo"))
            samples = write_samples(config.data_dir / "demo", offices)
            _announce(hub, config, offices, samples, await current_state(hub.app[SERVICE], offices))

        asyncio.run(serve_forever(config, on_start=on_start))
        return 0

    return starting("careplan up", config, run)
