"""Examples in `--help`: every command of the `careplan` tool shows one (issue 13); the one
argparse type of a bounded number (`number_in`) every command's options share; and the two texts
every command gives for a bad command line or a file it cannot use (`usage_error_ja`,
`os_error_text`): Japanese first, English beside it, never a traceback.

Each CLI module keeps a table {subcommand path: example text} next to its parser and passes the
finished parser through `with_examples`, which sets the epilog of the parser and of every
subparser below it and keeps the examples' line breaks. A missing example is an error here, so a
new subcommand cannot ship without one (tests/test_cli_help.py walks every parser).
"""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import json
import math
import os
import re
import shutil
import stat
import sys
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from careplan.folding import hanging


def subparsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """`parser` and every parser below it (a subparser without a description gets its help line)."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                child.description = child.description or helps.get(name)
                yield from subparsers(child)


def also_after_the_command(parser: argparse.ArgumentParser, *options: str) -> argparse.ArgumentParser:
    """Let each of `options` of the root `parser` be typed after its command as well as before it
    (`careplan hub snapshot list --data DIR`, `careplan ca show --json`, `careplan client inbox
    --profile houmon`): every parser below gets a hidden copy that defaults to SUPPRESS, so it sets
    the value only when given there, and the later one wins. A parser with an option of the same
    name of its own keeps it."""
    actions = [action for action in parser._actions if set(action.option_strings) & set(options)]
    for each in list(subparsers(parser))[1:]:
        for action in actions:
            if set(action.option_strings) & set(each._option_string_actions):
                continue
            copy: dict[str, Any] = {"dest": action.dest, "default": argparse.SUPPRESS, "help": argparse.SUPPRESS}
            if isinstance(action, argparse._StoreTrueAction):
                copy["action"] = "store_true"
            else:
                copy.update(type=action.type, choices=action.choices, metavar=action.metavar)
            each.add_argument(*action.option_strings, **copy)
    return parser


def with_examples(parser: argparse.ArgumentParser, examples: Mapping[str, str]) -> argparse.ArgumentParser:
    """Set each parser's epilog from `examples`, keyed by the words after the root's prog
    ("" for the root, "clock set" for `careplan hub clock set`). Raises KeyError for a parser
    without an example."""
    root = parser.prog
    for each in subparsers(parser):
        key = each.prog.removeprefix(root).strip()
        each.epilog = examples[key]
        each.formatter_class = argparse.RawDescriptionHelpFormatter
        each.error = types.MethodType(_bilingual_error, each)  # type: ignore[method-assign]
    return parser


def _bilingual_error(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    """argparse's `error`, Japanese first (exit status 2, as argparse): `使い方の誤り` and the Japanese
    of argparse's English line (usage_error_ja), or of our own message (`type=` functions and
    `parser.error` calls say it in both languages, see `_ours`), then the English line."""
    parser.print_usage(sys.stderr)
    width = shutil.get_terminal_size().columns  # $COLUMNS, the terminal's, else 80
    japanese, english = _ours(message) or (usage_error_ja(message), message)
    lines = hanging(f"{parser.prog}: 使い方の誤り: ", japanese, width) if japanese else []
    lines += hanging(f"{parser.prog}: error: ", english, width) if english else []
    lines += hanging("", f"（使い方 / usage: {parser.prog} --help）", width)
    parser.exit(2, "\n".join(lines) + "\n")


_ARGUMENT = re.compile(r"argument (?P<a>.+?): (?P<text>.*)", re.DOTALL)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")  # a value as repr() shows it: its letters are the user's


def _is_japanese(line: str) -> bool:
    """Whether `line` is worded in Japanese (a typed value quoted in it may be in any language)."""
    return bool(_JAPANESE.search(_QUOTED.sub("", line)))


def _ours(message: str) -> tuple[str, str] | None:
    """(Japanese, English) of a message of ours: its Japanese lines, then its English lines
    (`'x' は…ではありません\n'x' is not …`), under argparse's `argument --opt: ` (`--opt の値 'x' は…`
    in Japanese). A message of ours on one line with both languages (`… / …`) is all Japanese-first;
    None for argparse's own English."""
    found = _ARGUMENT.fullmatch(message)
    option, text = (found["a"], found["text"]) if found else (None, message)
    lines = text.split("\n")
    if not _is_japanese(lines[0]):
        return None
    split = next((n for n, line in enumerate(lines) if not _is_japanese(line)), len(lines))
    japanese, english = lines[:split], lines[split:]
    if any(_is_japanese(line) for line in english):
        japanese, english = lines, []  # not in two blocks: shown as it is, Japanese label first
    if option is not None:
        japanese[0] = f"{option} の値 {japanese[0]}" if japanese[0][:1] in "'\"" else f"{option}: {japanese[0]}"
        english = [f"argument {option}: {english[0]}", *english[1:]] if english else []
    return "\n".join(japanese), "\n".join(english)


# argparse's own messages (Python 3.11), each with its Japanese; the values stay as given.
_USAGE_JA: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.DOTALL), japanese)
    for pattern, japanese in (
        (
            r"argument (?P<a>.+?): invalid choice: (?P<v>.+?) \(choose from (?P<c>.+)\)",
            "{a} に {v} は選べません（選べるのは {c}）",
        ),
        (
            r"argument (?P<a>.+?): invalid (?P<t>\w+) value: (?P<v>.+)",
            "{a} の値 {v} は使えません（{t} の値が必要です）",
        ),
        (r"argument (?P<a>.+?): expected one argument", "{a} には値が1つ必要です"),
        (r"argument (?P<a>.+?): expected (?P<n>.+) arguments?", "{a} の値の数が違います（{n}）"),
        (r"argument (?P<a>.+?): not allowed with argument (?P<b>.+)", "{a} と {b} は一緒に指定できません"),
        (r"argument (?P<a>.+?): ignored explicit argument (?P<v>.+)", "{a} は値をとりません（{v}）"),
        (r"the following arguments are required: (?P<a>.+)", "次の指定が必要です: {a}"),
        (r"one of the arguments (?P<a>.+) is required", "次のどれか1つが必要です: {a}"),
        (r"unrecognized arguments: (?P<a>.+)", "知らない指定です: {a}"),
        (r"ambiguous option: (?P<o>\S+) could match (?P<m>.+)", "{o} は {m} のどれか決められません"),
    )
)
_TYPE_JA = {"int": "整数", "float": "数"}
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def usage_error_ja(message: str) -> str | None:
    """The Japanese of one of argparse's error messages; None when `message` is Japanese already
    (our own types, e.g. `number_in`) or unknown (the English line then stands alone)."""
    if _is_japanese(message):  # a value typed in Japanese (`careplan hub ハブ`) is still argparse's
        return None
    for pattern, japanese in _USAGE_JA:
        found = pattern.fullmatch(message)
        if found:
            values = found.groupdict()
            values["t"] = _TYPE_JA.get(values.get("t") or "", values.get("t"))
            return japanese.format(**values)
    return None


_ERRNO_JA = {
    errno.ENOENT: "そのようなファイルやフォルダはありません",
    errno.EACCES: "権限がなく読み書きできません",
    errno.EPERM: "権限がなく読み書きできません",
    errno.EISDIR: "フォルダです（ファイルを指定してください）",
    errno.ENOTDIR: "フォルダではありません（途中にファイルがあります）",
    errno.EEXIST: "すでにあります（フォルダを作れません）",
    errno.ENOSPC: "ディスクの空きがありません",
    errno.EROFS: "読み取り専用です",
    errno.ELOOP: "シンボリックリンクが循環しています",
    errno.ENAMETOOLONG: "名前が長すぎます",
    errno.ENXIO: "ファイルでもフォルダでもありません（FIFO・デバイスなど）",
    errno.EIO: "入出力エラーです",
}


def os_error_text(exc: OSError) -> str:
    """One line for a file or folder the command cannot use, Japanese then English:
    `empty.CSV/x: フォルダではありません（途中にファイルがあります） / Not a directory`."""
    where = exc.filename if exc.filename is not None else ""
    if exc.filename2 is not None:
        where = f"{where} → {exc.filename2}"
    japanese = _ERRNO_JA.get(exc.errno or 0, "使えません")
    english = exc.strerror or str(exc)
    return f"{where}: {japanese} / {english}" if where != "" else f"{japanese} / {english}"


def json_file_reason(exc: ValueError) -> str:
    """Why a JSON file a command reads back (a profile, a baseline) is not what it should be: the
    words of our own shape check (a plain ValueError), else only the decoder's kind
    (JSONDecodeError, UnicodeDecodeError), never text quoted from the file."""
    return str(exc) if type(exc) is ValueError else type(exc).__name__


def number_in(low: float, high: float | None = None, *, kind: type = int) -> Any:
    """An argparse `type=` for a number in [low, high] (`kind` int or float): anything else is a
    usage error in both languages (exit status 2), before anything reaches a hub."""
    words = "整数" if kind is int else "数"
    english = "a whole number" if kind is int else "a number"
    if high is None:
        ja, en = f"{low:g}以上の{words}", f"{english} of at least {low:g}"
    else:
        ja, en = f"{low:g}〜{high:g}の{words}", f"{english} from {low:g} to {high:g}"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if (
            value is None or not math.isfinite(value) or value < low or (high is not None and value > high)
        ):  # NaN, inf: no bound
            # two lines, each within 80 columns after argparse's "prog: error: argument --opt: "
            raise argparse.ArgumentTypeError(f"{text!r} は{ja}ではありません\n{text!r} is not {en}")
        return value

    parse.__name__ = words  # argparse names the type in its own messages
    return parse


def input_file(text: str) -> Path:
    """An argparse `type=` for a file the command will read (a .p12, a CA certificate): missing,
    unreadable, a folder, a FIFO or a device (which would block the read) is a usage error in both
    languages (exit status 2) before anything runs."""
    try:
        return readable(text)
    except OSError as exc:
        raise argparse.ArgumentTypeError(os_error_text(exc)) from None


def readable(path: str | Path, *, folder: bool = False) -> Path:
    """`path`, if it is a regular file (or, with `folder`, a folder); else an OSError naming it
    (`os_error_text` shows it): a FIFO or a device would block the read that follows."""
    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode) and not folder:
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise OSError(errno.ENXIO, "not a regular file or folder", str(path))
    return Path(path)


HUB_URL_EXAMPLE = "https://127.0.0.1:8443"  # what `careplan up` listens on by default
_BAD_PORT = ("ポート番号は 1〜65535 の整数です", "the port must be a whole number from 1 to 65535")
_NO_SCHEME = ("https:// で始まっていません", "it does not begin with https://")
_PLAIN_HTTP = ("ハブは TLS だけで、http:// では接続できません", "the hub speaks TLS only: https://, not http://")


def hub_url(text: str) -> str:
    """An argparse `type=` for a hub's URL (`https://127.0.0.1:8443`): no scheme, plain `http://` (the
    hub speaks TLS only), a host that does not parse (`https://[::1`) or is missing (`http://`), a
    port outside 1–65535 or a path is a usage error in both languages (exit status 2) saying which
    and the URL to give instead, not a connection that fails later as "hub unreachable" (3). The URL
    is returned as given, less a trailing slash."""
    wrong = _not_a_hub_url(text)
    if wrong is None:
        return text.rstrip("/")
    (why_ja, why_en), instead = wrong
    ja, en = [f"例: --hub {instead}"], [f"e.g. --hub {instead}"]
    if instead == HUB_URL_EXAMPLE:  # not the user's own URL mended: where theirs is shown
        ja, en = [*ja, "ハブの URL は careplan up が表示します"], [*en, "careplan up prints the hub's URL"]
    japanese, english = f"{text!r} はハブの URL ではありません（{why_ja}）", f"{text!r} is not a hub URL ({why_en})"
    raise argparse.ArgumentTypeError("\n".join([japanese, *ja, english, *en]))  # Japanese lines, then English


def _not_a_hub_url(text: str) -> tuple[tuple[str, str], str] | None:
    """What is wrong with `text` as a hub's URL (in Japanese, in English) and the URL to give
    instead (`text` mended when that is plain, else HUB_URL_EXAMPLE); None when it is one."""
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError out of range, or not a number
    except ValueError as exc:
        if "port" in str(exc).lower():
            return _BAD_PORT, HUB_URL_EXAMPLE
        return ("ホスト名を読めません", "the host name does not parse"), HUB_URL_EXAMPLE
    if "://" not in text:  # 127.0.0.1:8443 or localhost:8443 (urlsplit takes `localhost` for a scheme)
        return _NO_SCHEME, _mended(f"https://{text}")
    if parts.scheme not in ("https", "http"):
        return _NO_SCHEME, _mended(f"https://{parts.netloc}")
    if not parts.hostname:
        return ("ホスト名がありません", "no host name"), HUB_URL_EXAMPLE
    if port == 0:
        return _BAD_PORT, HUB_URL_EXAMPLE
    if parts.scheme == "http":  # every port of the hub is TLS (mutual TLS for offices, /metrics too)
        return _PLAIN_HTTP, _mended(f"https://{parts.netloc}")
    if parts.path not in ("", "/"):
        return (f"パス {parts.path} は付けません", f"no path such as {parts.path}"), _mended(f"https://{parts.netloc}")
    return None


def _mended(candidate: str) -> str:
    """`candidate` if it is a hub's URL with a port (what a hub listens on), else HUB_URL_EXAMPLE."""
    try:
        has_port = urlsplit(candidate).port is not None
    except ValueError:
        return HUB_URL_EXAMPLE
    return candidate if has_port and _not_a_hub_url(candidate) is None else HUB_URL_EXAMPLE


def month(text: str) -> str:
    """An argparse `type=` for a サービス提供年月 YYYYMM (`202604`), returned as typed."""
    if not (len(text) == 6 and text.isascii() and text.isdigit() and 1 <= int(text[4:]) <= 12):
        raise argparse.ArgumentTypeError(
            f"{text!r} はサービス提供年月（YYYYMM、例: 202604）ではありません\n"
            f"{text!r} is not a month YYYYMM (e.g. 202604)"
        )
    return text


def instant(text: str) -> dt.datetime:
    """An argparse `type=` for a time in ISO 8601 (`2026-04-01T09:00:00+09:00`)."""
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} は ISO 8601 の日時（例: 2026-04-01T09:00:00+09:00）ではありません\n"
            f"{text!r} is not an ISO 8601 time (e.g. 2026-04-01T09:00:00+09:00)"
        ) from None


def json_value(text: str) -> Any:
    """An argparse `type=` for a JSON document typed on the line (a fault rule)."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} は JSON として読めません（{exc.msg if isinstance(exc, json.JSONDecodeError) else exc}）\n"
            f"{text!r} is not JSON"
        ) from None
