"""`careplan client …`: what an office does with the 連携クライアントアプリ, from a shell.

Exit status: 0 done; 1 the hub (or the local pre-check) refused, with code and message;
2 a local problem (usage, a missing file, a wrong .p12 password); 3 the hub cannot be reached.
Each refusal's status comes from the catalogue (`CareplanError.exit_status`).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, NoReturn

from rich.text import Text

from careplan.errors import CareplanError, Finding, Lang
from careplan.findings_ja import finding_text, warning_ja
from careplan.helptext import (
    also_after_the_command,
    hub_url,
    input_file,
    number_in,
    os_error_text,
    readable,
    subparsers,
    usage_error_ja,
    with_examples,
)
from careplan.office import office_number_findings
from client import render
from client.hubclient import PAGE_MAX, Downloaded, HubClient, Page, Warned, receiving
from client.profile import DamagedProfile, Profile, client_home
from client.retry import DEFAULT_RETRY, RetryPolicy

Command = Callable[[HubClient, argparse.Namespace, Profile], Awaitable[Any]]


EXAMPLES = {
    "": "例 / examples:\n  careplan client --profile kyotaku sent\n  careplan client --profile houmon --json inbox",
    "login": "例: careplan client --profile kyotaku login --hub https://127.0.0.1:8443 \\\n"
    "      --ca .careplan-sim/ca/ca.pem --p12 kyotaku.p12 --user KJ0000000001",
    "whoami": "例: careplan client --profile kyotaku whoami",
    "logout": "例: careplan client --profile kyotaku logout",
    "send": "例: careplan client --profile kyotaku send 第6表.CSV 第7表.CSV --to 1171201369",
    "bulk-send": "例: careplan client --profile kyotaku bulk-send 今月分/ --send-valid",
    "inbox": "例: careplan client --profile houmon inbox --all --downloaded",
    "download": "例: careplan client --profile houmon download --all --out received\n"
    "    careplan client --profile houmon download 0b6c2f5e-…（受信一覧の ID）",
    "sent": "例: careplan client --profile kyotaku sent --all --wide",
}


def profile_name(text: str) -> str:
    """A profile is the file `profiles/NAME.json` in the client home: a name that is a path
    (`../../x`), hidden, empty or with control characters would be a file elsewhere or none."""
    if not text or len(text) > 64 or text.startswith(".") or any(c in text for c in "/\\") or not text.isprintable():
        raise argparse.ArgumentTypeError(
            f"{text!r} はプロファイル名に使えません（/ や先頭の . を含まない64文字まで）\n"
            f"{text!r} cannot be a profile name (up to 64 characters, no / or leading .)"
        )
    return text


def _retries_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--attempts",
        type=int,
        default=DEFAULT_RETRY.attempts,
        help="tries per transmission when the answer is lost (connection cut, 5xx); each retry re-sends the "
        "same id and signature, so nothing is sent twice (default: %(default)s)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="careplan client", description="ケアプランデータ連携クライアント (headless).")
    parser.add_argument(
        "--profile",
        type=profile_name,
        default=os.environ.get("CAREPLAN_PROFILE", "default"),
        help="terminal profile name (default: %(default)s)",
    )
    parser.add_argument(
        "--home", type=Path, default=None, help="client home (default: $CAREPLAN_CLIENT_HOME or ~/.careplan-sim/client)"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="machine-readable output (times in ISO 8601, +09:00); --json, --profile, --home also after the command",
    )
    render.add_lang_option(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    login = sub.add_parser("login", help="install the certificate on this terminal and log in")
    login.add_argument("--hub", type=hub_url, help="hub URL, e.g. https://127.0.0.1:8443")
    login.add_argument("--ca", type=input_file, help="the hub's CA certificate (PEM)")
    login.add_argument("--p12", type=input_file, help="the office certificate (.p12)")
    login.add_argument(
        "--p12-password",
        default=os.environ.get("CAREPLAN_P12_PASSWORD"),
        help="the .p12 password (default: $CAREPLAN_P12_PASSWORD, else asked on the terminal)",
    )
    login.add_argument("--user", required=True, help="KJ… office user ID or C… personal user ID")
    login.add_argument(
        "--password",
        default=os.environ.get("CAREPLAN_PASSWORD"),
        help="the user's password (default: $CAREPLAN_PASSWORD, else asked on the terminal)",
    )
    sub.add_parser("whoami", help="the office, user and licence expiry (ライセンス期限)")
    sub.add_parser("logout", help="end the session on the hub (the certificate stays installed)")
    send = sub.add_parser("send", help="send files to one office")
    send.add_argument("files", nargs="+", type=Path, help="the CSV files of one sending unit, or documents")
    send.add_argument("--to", required=True, help="recipient 事業所番号 (10 characters)")
    _retries_option(send)
    bulk = sub.add_parser("bulk-send", help="一括送信: sort many files (or folders) by destination and send each")
    bulk.add_argument("paths", nargs="+", type=Path, help="files, or folders whose files are all sent")
    bulk.add_argument("--send-valid", action="store_true", help="send what can be placed even if some files cannot")
    _retries_option(bulk)
    inbox = sub.add_parser("inbox", help="transmissions waiting for this office")
    inbox.add_argument("--downloaded", action="store_true", help="include downloaded ones")
    _paging_options(inbox)
    download = sub.add_parser("download", help="download (once) and acknowledge")
    download.add_argument("ids", nargs="*", help="transmission IDs as the inbox lists them")
    download.add_argument("--all", action="store_true", help="every waiting transmission")
    download.add_argument(
        "--out", type=Path, default=Path("received"), help="folder for the files, one subfolder per ID (%(default)s)"
    )
    _paging_options(sub.add_parser("sent", help="the send list with download status"))
    # `careplan client sent --json --profile kyotaku` works as well as before the command
    return with_examples(also_after_the_command(parser, "--profile", "--home", "--json"), EXAMPLES)


# --hub given to a client command other than login: its own lines, Japanese (each with a kanji, so
# that helptext keeps them in the Japanese block) then English, after argparse's error.
HUB_AT_LOGIN_JA = (
    "--hub はログインのときだけ指定します。ほかのコマンドは、そこで保存されたハブの URL を使います",
    "例: careplan client login --hub URL",
)
HUB_AT_LOGIN_EN = (
    "--hub goes with login only: the other commands use the hub URL it saved",
    "e.g. careplan client login --hub URL",
)


def _misplaced_hub(argv: Sequence[str]) -> bool:
    """Whether `argv` gives --hub (or --hub=URL) other than after `login`: the client commands take
    the hub URL that `careplan client login --hub URL` saved in the profile."""
    for number, word in enumerate(argv):
        if word == "--hub" or word.startswith("--hub="):
            return "login" not in argv[:number]
    return False


def _pointing_to_login(parser: argparse.ArgumentParser) -> None:
    """Every usage error of `parser` and its subparsers (argparse's unrecognized arguments, or a URL
    taken for the command when --hub comes before it) followed by HUB_AT_LOGIN_JA/EN, each language
    in its block: for a command line with a misplaced --hub only (other errors are left as they are)."""
    for each in subparsers(parser):
        said = each.error

        def error(message: str, said: Callable[[str], NoReturn] = said) -> NoReturn:
            japanese = usage_error_ja(message)
            said("\n".join([*filter(None, [japanese]), *HUB_AT_LOGIN_JA, message, *HUB_AT_LOGIN_EN]))

        each.error = error  # type: ignore[method-assign]


def _paging_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--all", action="store_true", help="every page (default: the first page only)")
    parser.add_argument(
        "--wide", action="store_true", help="the whole table, one row per transmission (a wide terminal, less -S)"
    )
    parser.add_argument(
        "--limit",
        type=number_in(1, PAGE_MAX),
        default=None,
        help=f"rows a page, 1-{PAGE_MAX} (default: the hub's, 100; with --all, {PAGE_MAX})",
    )
    parser.add_argument("--cursor", default=None, help="start after this next_cursor of an earlier page")


async def _list(fetch: Callable[[int | None, str | None], Awaitable[Page]], args: argparse.Namespace) -> Page:
    """The page asked for, or with --all every page from --cursor on, as one page."""
    if not args.all:
        return await fetch(args.limit, args.cursor)
    pages = HubClient.walk(lambda cursor: fetch(args.limit or PAGE_MAX, cursor), cursor=args.cursor)
    return Page(transmissions=[t async for page in pages for t in page], next_cursor=None)


def _show_list(title: str, page: Page, args: argparse.Namespace, *, party: str) -> dict[str, Any]:
    if not args.json:
        render.transmissions(title, page.transmissions, party=party, wide=args.wide)
        if page.next_cursor:  # the cursor on a line of its own: whole, to be copied
            render.err.print(
                f"続きがあります（全件は --all） / more pages (every page: --all)\n"
                f"次のページ / the next page:\n  --cursor {page.next_cursor}",
                markup=False,
                highlight=False,
            )
    return {"transmissions": page.transmissions, "next_cursor": page.next_cursor}


def _secret(value: str | None, prompt: str) -> str:
    if value:
        return value
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    name = prompt.strip(": ")
    raise ValueError(  # stdin is not a terminal (a script, a pipe): nothing to ask on
        f"{name} が必要です（オプション・環境変数・端末での入力のどれか） / "
        f"{name} is required (flag, environment variable or a terminal prompt)"
    )


def _login_profile(args: argparse.Namespace, home: Path) -> Profile:
    try:
        saved: Profile | None = Profile.load(home, args.profile)
    except (FileNotFoundError, DamagedProfile):  # a damaged one is written anew by this login
        saved = None
    hub = args.hub or (saved.hub_url if saved else None)
    ca = args.ca or (Path(saved.ca_file) if saved else None)
    p12 = args.p12 or (Path(saved.p12_file) if saved else None)
    if not (hub and ca and p12):
        raise ValueError("the first login on a terminal needs --hub, --ca and --p12")
    password = args.p12_password or (saved.p12_password if saved and not args.p12 else None)
    return Profile(
        name=args.profile,
        hub_url=hub,
        ca_file=str(ca.resolve()),
        p12_file=str(p12.resolve()),
        p12_password=_secret(password, "p12 password: "),
        user_id=args.user,
    )


async def _login(hub: HubClient, args: argparse.Namespace, profile: Profile) -> Any:
    result = await hub.login(args.user, _secret(args.password, "password: "))
    profile.with_token(result["token"], args.user).save(args.home_dir)
    result.pop("token")
    if not args.json:
        _show_office(result, title="ログインしました / logged in")
    return result


def _show_office(me: dict[str, Any], *, title: str) -> None:
    office = me["office"]
    render.table(
        title,
        ["項目", "値"],
        [
            ("事業所番号", office["office_number"]),
            ("事業所名", office["name"]),
            ("サービス種類", office["service_kind"]),
            ("ユーザID", me["user_id"]),
            ("ライセンス期限", office["licence"]["expires"]),
            ("ハブ時刻", render.jst(me.get("hub_time"))),
            ("セッション期限", render.jst(me.get("session_expires_at") or me.get("expires_at"))),
            ("クライアント", f"careplan-sim {version('careplan-sim')}"),
        ],
    )


async def _whoami(hub: HubClient, args: argparse.Namespace, profile: Profile) -> Any:
    me = await hub.whoami()
    if not args.json:
        _show_office(me, title="この端末 / this terminal")
    return me


async def _logout(hub: HubClient, args: argparse.Namespace, profile: Profile) -> Any:
    """End the session on the hub and forget its token on this terminal. The token is forgotten
    whatever the hub answers: a session the hub was not told about ends by itself when it expires,
    and a token left in the profile would be a login the office believes it ended. The exit status
    says whether the hub was told (0), could not be reached (3) or refused (1)."""
    if not profile.token:
        if not args.json:
            render.out.print(
                "この端末はログインしていません（セッションのトークンはありません） / "
                "not logged in on this terminal (no session token)"
            )
        return {"logged_out": True, "token_removed": False, "hub_notified": False}
    try:
        await hub.logout()
    except CareplanError as error:
        profile.with_token("").save(args.home_dir)
        return _logged_out_locally(error, args)
    profile.with_token("").save(args.home_dir)
    if not args.json:
        render.out.print("ログアウトしました / logged out")
    return {"logged_out": True, "token_removed": True, "hub_notified": True}


def _logged_out_locally(error: CareplanError, args: argparse.Namespace) -> dict[str, Any]:
    """What logout says when the hub was not told: the token is gone from this terminal either way."""
    language = Lang(args.lang)
    if error.code == "SESSION_REQUIRED":  # the hub had ended it already (expired, password changed)
        said = (
            "ログアウトしました。ハブのセッションは既に終了していました（期限切れなど）。"
            "この端末のセッションのトークンを削除しました。",
            "logged out: the hub had already ended the session (expired or ended); "
            "the session token was deleted from this terminal.",
        )
    else:
        args.exit_status = error.exit_status
        said = (
            "この端末のセッションのトークンを削除しました。"
            + (
                "ハブに接続できなかったため、ハブにはログアウトを伝えていません。"
                if error.code == "HUB_UNREACHABLE"
                else "ハブがログアウトを受け付けなかったため、ハブのセッションは終わっていません。"
            )
            + "ハブのセッションは有効期限が来ると自動的に終了します。",
            "the session token was deleted from this terminal; the hub "
            + ("could not be reached" if error.code == "HUB_UNREACHABLE" else "did not accept the logout")
            + ", so it was not told: the session ends by itself when it expires.",
        )
    result: dict[str, Any] = {"logged_out": True, "token_removed": True, "hub_notified": False}
    if error.code != "SESSION_REQUIRED":
        result["error"] = error.to_wire(language)
    if not args.json:
        for line in said:  # done (exit 0) on stdout; the hub not told (exit 1 or 3) on stderr
            render.folded(render.err if "error" in result else render.out, line)
        if "error" in result:
            render.err_folded(f"{error.code}: {error.detail_in(language)}", "  理由 / why: ")
    return result


def _recipient(text: str) -> str:
    """`--to` as a 事業所番号: the structure is checked here; a check digit that differs is only
    a warning (R1.1: some real みなし指定 numbers use another rule)."""
    for finding in office_number_findings(text, field="--to"):
        if finding.severity == "error":
            raise ValueError(f"--to {text!r} は事業所番号（10桁: 都道府県番号2桁＋事業所区分＋…）ではありません")
        render.err_folded(warning_ja(finding), "注意: ")
        render.err_folded(finding.message, "warning: ")
    return text


async def _send(hub: HubClient, args: argparse.Namespace, profile: Profile) -> Any:
    files = [(path.name, readable(path).read_bytes()) for path in args.files]
    total = sum(len(data) for _, data in files)
    warned, found = _warnings_shown(args)
    with render.progress_bar(f"送信中 → {args.to}", total, enabled=not args.json) as progress:
        result = await hub.send(files, to=args.to, progress=progress, warned=warned)
    if args.json:  # the hub's answer, and beside it what the pre-check warned about
        return {**result, "warnings": [f.to_dict() for f in found]}
    render.out.print(f"送信しました / sent: {result['transmission_id']}")
    if result.get("already_stored"):
        render.out.print("（応答が届かなかった送信を再試行し、ハブに保存済みであることを確認しました / already stored)")
    render.transmissions("送信結果", [result], party="recipient")
    return result


def _warnings_shown(args: argparse.Namespace) -> tuple[Warned, list[Finding]]:
    """A send's `warned`: the pre-check's warnings shown on stderr as they come, before the upload
    (with --json only collected, for the answer's `warnings`)."""
    found: list[Finding] = []

    def warned(recipient: str, warnings: Sequence[Finding]) -> None:
        found.extend(warnings)
        if not args.json:
            render.warnings(recipient, warnings, Lang(args.lang))

    return warned, found


def _bulk_files(paths: list[Path]) -> list[tuple[str, bytes]]:
    files: list[Path] = []
    for path in paths:
        if readable(path, folder=True).is_dir():
            files += sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        else:
            files.append(path)
    return [(path.name, path.read_bytes()) for path in files]


async def _bulk_send(hub: HubClient, args: argparse.Namespace, profile: Profile) -> Any:
    files = _bulk_files(args.paths)
    total = sum(len(data) for _, data in files)
    with render.progress_bar(f"一括送信 {len(files)} files", total, enabled=not args.json) as progress:
        result = await hub.bulk_send(
            files, progress=progress, send_valid=args.send_valid, warned=_warnings_shown(args)[0]
        )
    if not args.json:
        rows = [
            (
                t["recipient"]["office_number"],
                "\n".join(f["name"] for f in t["files"]),
                f"送信済 {t['transmission_id']}",
                "",
            )
            for t in result.sent
        ]
        rows += [
            (r, "\n".join(names), f"エラー {e.code}", f"{e.message}\n{e.detail_in(Lang(args.lang))}")
            for r, names, e in result.failed
        ]
        rows += [("-", name, "送信対象外", finding_text(f, Lang(args.lang))[0]) for name, f in result.unplaced]
        render.table("一括送信の結果 / bulk send", ["送信先", "ファイル", "結果", "理由"], rows)
    output = result.to_json()
    if not result.ok:
        args.exit_status = 1
    return output


async def _inbox(hub: HubClient, args: argparse.Namespace, profile: Profile) -> Any:
    page = await _list(lambda n, c: hub.inbox_page(include_downloaded=args.downloaded, limit=n, cursor=c), args)
    return _show_list("受信一覧 / inbox", page, args, party="sender")


@dataclass(slots=True, kw_only=True)
class Received:
    """What a download run did with each transmission, in the order it took them."""

    downloads: list[dict[str, Any]] = field(default_factory=list)  # saved and acknowledged
    failed: str | None = None  # the one a refusal stopped (None: none, or the inbox's listing)
    not_attempted: list[str] = field(default_factory=list)  # still waiting on the hub

    def to_json(self) -> dict[str, Any]:
        return {"downloads": self.downloads, "failed": self.failed, "not_attempted": self.not_attempted}


async def _download(hub: HubClient, args: argparse.Namespace, profile: Profile) -> Any:
    """Download the IDs (with --all, every waiting one) one after another, each verified, saved and
    acknowledged before the next. The first that fails stops the run, and the answer still names
    every transmission: `downloads` (saved and acknowledged: the hub no longer has them, R5.2),
    `failed` (the ID the refusal in `error` stopped; null when listing the inbox failed) and
    `not_attempted` (still waiting). The exit status is the refusal's, as for any command."""
    try:
        waiting = {t["transmission_id"]: int(t["total_size"]) for t in await hub.inbox()}
    except CareplanError as error:  # the office is receiving, not loading a list: any refusal is the receive's
        return _stopped(args, Received(not_attempted=list(args.ids)), receiving(error))
    ids = list(args.ids) + ([i for i in waiting if i not in args.ids] if args.all else [])
    if not ids and args.all:  # nothing waiting is not a failure
        if not args.json:
            render.out.print("受信待ちのデータはありません / nothing is waiting")
        return Received().to_json()
    if not ids:
        raise ValueError("送信IDを指定するか --all を付けてください / name transmission ids, or use --all")
    received = Received()
    for number, transmission_id in enumerate(ids):
        total = waiting.get(transmission_id, 0)
        try:
            with render.progress_bar(f"受信中 {transmission_id[:8]}", total, enabled=not args.json) as progress:
                done = await hub.download(transmission_id, args.out, progress=progress)
        except BrokenPipeError:  # the reader of stdout left: the dispatcher ends quietly with 141
            raise
        except (CareplanError, OSError) as problem:  # the ones done stay in the answer
            received.failed, received.not_attempted = transmission_id, ids[number + 1 :]
            return _stopped(args, received, problem)
        received.downloads.append(_downloaded(done, args))
    return received.to_json()


def _downloaded(done: Downloaded, args: argparse.Namespace) -> dict[str, Any]:
    """One transmission saved and acknowledged: shown at once (within 80 columns: the folder whole on
    its line, the files by name below it), and its entry in `downloads`."""
    if not args.json:
        render.out.print(
            f"ダウンロードしました / downloaded {done.transmission_id}\n"
            f"  送信元 / from  {done.signer.office_number} {done.signer.office_name}\n"
            f"  保存先 / to    {done.directory}{os.sep}",
            markup=False,
        )
        for path in done.files:
            render.out.print(f"    {path.relative_to(done.directory)}", markup=False)
    return {
        "transmission_id": done.transmission_id,
        "directory": str(done.directory),
        "files": [str(p) for p in done.files],
        "sender": done.signer.office_number,
        "signer": done.signer.office_user_id,
    }


def _stopped(args: argparse.Namespace, received: Received, problem: CareplanError | OSError) -> dict[str, Any]:
    """The answer of a download run that `problem` stopped: what was done, the refusal (or the local
    problem, exit 2) as `error`, what was not attempted; for a person, on stderr after the
    transmissions already listed, Japanese first, folded to the terminal's width."""
    if isinstance(problem, CareplanError):
        args.exit_status = problem.exit_status
        error = render.wire_error(problem, args.lang)
    else:
        args.exit_status = 2
        error = render.wire_error(_local_detail(problem))
    if not args.json:
        _show_stopped(args, received, problem)
    return {**received.to_json(), "error": error}


def _show_stopped(args: argparse.Namespace, received: Received, problem: CareplanError | OSError) -> None:
    done, waiting = len(received.downloads), len(received.not_attempted)
    if received.failed is None:
        render.err_folded("受信一覧を読み込めなかったため、受信を中断しました（何もダウンロードしていません）")
        render.err_folded("download stopped: the inbox could not be read (nothing was downloaded)")
    else:
        render.err_folded(f"受信を中断しました: ダウンロード済 {done}件、失敗 1件、未実行 {waiting}件")
        render.err_folded(f"download stopped: {done} downloaded, 1 failed, {waiting} not attempted")
    if isinstance(problem, CareplanError):
        render.refusal(problem, Lang(args.lang))
    else:
        _show_local(_local_detail(problem))
    outcomes = (
        (
            "ダウンロード済（保存し、受信を確認済み） / downloaded and acknowledged:",
            [d["transmission_id"] for d in received.downloads],
        ),
        ("失敗 / failed:", [received.failed] if received.failed else []),
        (
            "未実行（受信待ちのまま。もう一度 download で受信できます） / not attempted (still waiting: download them "
            "again):",
            received.not_attempted,
        ),
    )
    for label, ids in outcomes:
        if ids:
            render.err_folded(label)
            for transmission_id in ids:  # each ID whole on its line, to be pasted into download
                render.err_folded(transmission_id, "  ")


async def _sent(hub: HubClient, args: argparse.Namespace, profile: Profile) -> Any:
    page = await _list(lambda n, c: hub.sent_page(limit=n, cursor=c), args)
    return _show_list("送信一覧 / send list", page, args, party="recipient")


COMMANDS: dict[str, Command] = {
    "login": _login,
    "whoami": _whoami,
    "logout": _logout,
    "send": _send,
    "bulk-send": _bulk_send,
    "inbox": _inbox,
    "download": _download,
    "sent": _sent,
}


async def _run(args: argparse.Namespace) -> Any:
    if args.command == "send":  # before anything else: a wrong --to never reaches the hub
        args.to = _recipient(args.to)
    home = args.home_dir
    profile = _login_profile(args, home) if args.command == "login" else Profile.load(home, args.profile)
    hub = HubClient.from_p12(
        url=profile.hub_url,
        ca_file=Path(profile.ca_file),
        p12=Path(profile.p12_file),
        password=profile.p12_password,
        token=profile.token or None,
        retry=RetryPolicy(attempts=max(1, getattr(args, "attempts", DEFAULT_RETRY.attempts))),
    )
    hub.lang = args.lang
    async with hub:
        return await COMMANDS[args.command](hub, args, profile)


def _local_detail(exc: OSError | ValueError) -> str:
    return os_error_text(exc) if isinstance(exc, OSError) and exc.filename is not None else str(exc)


def _show_local(detail: str) -> None:
    """A local problem (exit 2) on stderr; the detail is data (a file name may hold "[…]"): never rich markup."""
    render.err.print(Text.assemble(("エラー", "bold red"), " 手元の問題で実行できません / a local problem:"))
    render.err_folded(detail, "  ")


def report_refusal(args: argparse.Namespace, error: CareplanError) -> int:
    """Show a refusal (JSON with --json) in the chosen language; its exit status from the catalogue."""
    if args.json:
        render.print_json_error(error, args.lang)
    else:
        render.refusal(error, Lang(args.lang))
    return error.exit_status


def main(argv: list[str]) -> int:
    parser = _parser()
    if _misplaced_hub(argv):
        _pointing_to_login(parser)
    args = parser.parse_args(argv)
    args.home_dir = client_home(args.home)
    try:
        result = asyncio.run(_run(args))
    except CareplanError as error:
        return report_refusal(args, error)
    except BrokenPipeError:  # the reader of stdout left (`| head`): the dispatcher ends quietly with 141
        raise
    except KeyboardInterrupt:  # Ctrl-C: what finished stays done (a download saved, a send stored)
        if args.json:  # a script reads JSON whatever happened
            render.print_json_error("careplan client: 中断しました / interrupted")
        print("careplan client: 中断しました / interrupted", file=sys.stderr)
        return 130  # what a shell reports for a command ended by Ctrl-C
    except (OSError, ValueError) as exc:  # a local problem: a file, a .p12 and its password, a profile
        if args.json:
            render.print_json_error(_local_detail(exc))
        else:
            _show_local(_local_detail(exc))
        return 2
    if args.json:
        render.print_json(result)
    return int(getattr(args, "exit_status", 0))
