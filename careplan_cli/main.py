"""The `careplan` command: hands each subcommand to its package's own `cli` module.

What holds for every subcommand lives here: `--lang ja|en` (anywhere on the line; it becomes
CAREPLAN_LANG, which each command reads); a quiet exit when the reader of stdout goes away
(`careplan client --json sent | head`, 141); output that cannot fail on its text (a C or Latin-1
locale, a file name with bytes that are not UTF-8); and, last, one line instead of a traceback for
a file no command could use (exit 2) or an error no command expected (exit 70, the traceback only
with CAREPLAN_DEBUG=1); and SIGTERM ending a command as an exit does, its temporary folders removed
(exit 143), where the command does not handle it itself.
"""

from __future__ import annotations

import codecs
import contextlib
import difflib
import importlib
import io
import os
import signal
import socket
import sys
import threading
from typing import Any

from careplan.errors import LANG_ENV
from careplan.helptext import os_error_text

SUBCOMMANDS = {  # name: (module, (what it does in Japanese, in English)); `careplan --help` lists them
    "up": (
        "careplan_cli.up",
        (
            "認証局とデモ事業所つきのハブを起動（クイックスタート）",
            "start a hub with a CA and demo offices (the quick start)",
        ),
    ),
    "hub": (
        "hub.cli",
        (
            "ハブの実行と操作（時計・監査ログ・鍵・スナップショット）",
            "run the hub; its clock, audit, keys, snapshots, journal, faults",
        ),
    ),
    "client": (
        "client.cli",
        (
            "事業所のクライアント（ログイン・送信・受信・送信一覧）",
            "the office client: login, send, inbox, download, sent, whoami",
        ),
    ),
    "ca": (
        "ca.cli",
        (
            "テスト用認証局（証明書の発行・再発行・失効・CRL）",
            "the test CA: issue, reissue, revoke, crl, show, trust-help",
        ),
    ),
    "validate": (
        "careplan_cli.validate",
        ("CSVを標準仕様 V4.1 で確認（オフライン）", "check care plan CSV files against the V4.1 standard offline"),
    ),
    "fixtures": (
        "careplan_cli.fixtures",
        ("テスト用の事業所・利用者・CSV（壊したものも）", "seeded offices, users and valid (or broken) CSV sets"),
    ),
    "scenarios": (
        "careplan_cli.scenarios",
        ("シナリオ（YAML）の実行と報告", "run scenario files (YAML); JUnit, JSON, HTML reports"),
    ),
    "conformance": (
        "careplan_cli.conformance",
        ("ベンダーのクライアントとCSVの適合性検査", "the vendor conformance kit: judge a client or a CSV export"),
    ),
    "demo": (
        "careplan_cli.demo",
        ("研修用のデモ（ひと月の流れを順に）", "the trainer's month, narrated step by step in Japanese"),
    ),
    "load": (
        "careplan_cli.load",
        ("稼働中のハブへの負荷試験", "month-start load on a running hub: p50/p99, errors by code"),
    ),
    "errors": (
        "careplan_cli.errors",
        ("エラーコードの一覧（メッセージと対処）", "the error catalogue: codes, HTTP statuses, exact messages"),
    ),
}
LANGS = ("ja", "en")
INTERNAL = 70  # sysexits' EX_SOFTWARE: a fault of ours, not of the user's input
DEBUG_ENV = "CAREPLAN_DEBUG"


def _usage() -> str:
    """Japanese first, then English, every line within 80 columns (a Japanese character counts 2)."""
    lines = ["使い方 / usage: careplan [--lang ja|en] COMMAND [ARGS…]", "", "コマンド / commands:"]
    for name, (_, (ja, en)) in SUBCOMMANDS.items():
        lines += [f"  {name:<12}{ja}", f"  {'':<12}{en}"]
    lines += [
        "",
        "どのコマンドでも / options (every command):",
        "  --lang ja|en  説明と対処の言語（既定: $CAREPLAN_LANG、なければ ja）",
        "                language of explanations and fixes",
        "",
        "各コマンドのオプションと例: careplan COMMAND --help",
        "each command's options and an example: careplan COMMAND --help",
        "例 / example:  careplan up   then   careplan client --profile kyotaku sent",
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
        raise ValueError(f"--lang {chosen!r} は使えません（ja か en） / --lang {chosen!r}: choose ja or en")
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
        close = difflib.get_close_matches(args[0], SUBCOMMANDS, n=1)
        guess = f"\nもしかして / did you mean: careplan {close[0]}" if close else ""
        print(
            f"careplan: {args[0]!r} というコマンドはありません / unknown command {args[0]!r}{guess}\n\n{_usage()}",
            file=sys.stderr,
        )
        return 2
    module = importlib.import_module(SUBCOMMANDS[args[0]][0])
    return int(module.main(args[1:]))


def _never_fails(error: UnicodeEncodeError) -> tuple[str | bytes, int]:
    """A file name's undecodable bytes go out as they came in (surrogateescape, as `ls` does);
    any other character the stream's encoding lacks (Japanese on a C or Latin-1 locale) as \\uXXXX."""
    try:
        return codecs.lookup_error("surrogateescape")(error)
    except UnicodeError:
        return codecs.backslashreplace_errors(error)


codecs.register_error("careplan", _never_fails)


def _safe_streams() -> None:
    """stdout and stderr that take any text, and exist: a stream closed by the shell (`>&-`) is
    /dev/null, so the command still does its work and says why it stops on the other one."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        stream = getattr(sys, name)
        if stream is None:
            null = os.open(os.devnull, os.O_WRONLY)
            if null != fd:  # fd is closed, so os.open normally returns it; else put /dev/null there
                os.dup2(null, fd)
                os.close(null)
            stream = io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding="utf-8", line_buffering=True)
            setattr(sys, name, stream)
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="careplan")


def _quiet_stdout() -> None:
    """Deliver what stdout still holds (a report printed before an output file failed); if stdout
    itself is what fails (a reader gone, a full disk), point it at /dev/null so Python's own flush
    at exit cannot fail a second time."""
    try:
        sys.stdout.flush()
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        with contextlib.suppress(OSError, ValueError):  # stdout is not a real file (a test's capture)
            os.dup2(devnull, sys.stdout.fileno())


def _terminated(number: int, _: object) -> None:
    """SIGTERM (`kill`, `timeout`, a CI job cancelled) ends a command as an exit does: through its
    `with` blocks and `finally`s, so the temporary folders it made (a scenario run's PKI with its
    CA key among them) go with it. A command that handles SIGTERM itself (the hub) sets its own."""
    print("\ncareplan: 終了の指示（SIGTERM）で止めました / stopped by SIGTERM", file=sys.stderr)
    raise SystemExit(128 + number)


def _on_sigterm(handler: Any) -> Any:
    """Set the SIGTERM handler, in the main thread only (else signal refuses); the one it replaces."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    _safe_streams()
    previous = _on_sigterm(_terminated)
    try:
        return _main(argv)
    finally:
        if previous is not None:
            _on_sigterm(previous)


def _main(argv: list[str] | None) -> int:
    try:
        status = _dispatch(sys.argv[1:] if argv is None else argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader left (`| head`): say nothing, and keep Python's exit flush from failing too.
        _quiet_stdout()
        return 141  # what a shell reports for a process ended by SIGPIPE
    except (KeyboardInterrupt, EOFError):  # Ctrl-C where a command has no handler; Ctrl-D at a prompt
        print("\ncareplan: 中断しました / interrupted", file=sys.stderr)
        return 130  # what a shell reports for a process ended by SIGINT
    except (ConnectionError, TimeoutError, socket.gaierror) as exc:  # a network fault no command mapped
        print(f"careplan: ハブに接続できません / cannot reach the hub: {type(exc).__name__}", file=sys.stderr)
        return 3
    except OSError as exc:  # a path no command checked: an output folder under a file, a full disk
        _quiet_stdout()
        print(
            f"careplan: ファイルまたはフォルダを使えません / cannot use a file or folder\n  {os_error_text(exc)}",
            file=sys.stderr,
        )
        return 2
    except RecursionError:  # a document nested beyond what any reader of it expects
        print("careplan: 入れ子が深すぎて読めません / nested too deeply to read", file=sys.stderr)
        return 2
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        print(
            f"careplan: 想定外のエラーです（不具合として報告してください。{DEBUG_ENV}=1 で詳細） / "
            f"unexpected error (please report it; {DEBUG_ENV}=1 shows the traceback): {type(exc).__name__}",
            file=sys.stderr,
        )
        return INTERNAL
    return status


if __name__ == "__main__":
    sys.exit(main())
