"""The `careplan` command line under hostile input: what a user types or a bad file gives each
command ends with a clear message, Japanese first, and a documented exit status (2 usage or a
local problem, 141 a reader gone away), never a Python traceback, never a hang (each run is bounded
in time). No hub is needed: every case fails before one would be reached.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from careplan.helptext import usage_error_ja
from tests.conftest import run_careplan, this_checkout

TIMEOUT = 30  # seconds a case may take: a FIFO read or a 100,000,000-office data set would hang


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of what users and bad files give the commands."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "file.CSV").write_bytes(b"x\n")
    (root / "binary.yaml").write_bytes(bytes(range(128, 256)) * 4)
    (root / "nul.yaml").write_bytes(b"name: a\x00b\n")
    (root / "deep.yaml").write_text("[" * 5000 + "]" * 5000, "utf-8")
    (root / "big.yaml").write_text("a: " + "x" * (5 * 1024 * 1024), "utf-8")
    (root / "pwn.yaml").write_text(f'!!python/object/apply:os.mkdir ["{root / "pwned"}"]\n', "utf-8")
    (root / "empty.yaml").write_text("", "utf-8")
    (root / "folder").mkdir()
    os.mkfifo(root / "fifo.CSV")
    (root / "loop1").symlink_to(root / "loop2")
    (root / "loop2").symlink_to(root / "loop1")
    # a data folder with a real CA and no hub: the commands must get past its check to their own
    assert run_careplan("ca", "--dir", str(root / "data" / "ca"), "init", timeout=TIMEOUT).returncode == 0
    (root / "data" / "admin-token").write_text("not-the-hubs")  # as a hub's folder has it
    return root


@pytest.fixture(scope="module")
def office(bad: Path) -> Path:
    """A client home whose profile holds a real certificate and a hub nobody listens on."""
    ca = bad / "ca"
    assert run_careplan("ca", "--dir", str(ca), "init", timeout=TIMEOUT).returncode == 0
    issued = run_careplan(
        "ca", "--dir", str(ca), "issue", "--office", "1370100016", "--user", "KJ0000000001", "--name", "x",
        "--password", "pw", "--out", str(bad / "office.p12"), timeout=TIMEOUT,
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    home = bad / "home"
    (home / "profiles").mkdir(parents=True)
    profile = {
        "name": "p", "hub_url": "https://127.0.0.1:9", "ca_file": str(ca / "ca.pem"),
        "p12_file": str(bad / "office.p12"), "p12_password": "pw", "user_id": "KJ0000000001", "token": "t",
    }  # fmt: skip
    (home / "profiles" / "p.json").write_text(__import__("json").dumps(profile), "utf-8")
    return home


def _no_traceback(done: subprocess.CompletedProcess[str], status: int, japanese: str) -> None:
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == status, (done.returncode, done.stderr)
    assert unfolded(japanese) in unfolded(done.stderr), done.stderr  # folded to 80 columns


def unfolded(text: str) -> str:
    """`text` without the line breaks and indents of folding (client.render), to find a phrase in."""
    return "".join(text.split())


# (arguments with {bad} for the folder above, exit status, the Japanese the message must hold)
CASES = [
    ("validate {bad}/missing.CSV", 2, "そのようなファイルやフォルダはありません"),
    ("validate {bad}/fifo.CSV", 2, "ファイルでもフォルダでもありません"),
    ("validate {bad}/loop1", 2, "シンボリックリンクが循環しています"),
    ("fixtures generate --month 202604 --out {bad}/file.CSV/x", 2, "フォルダではありません"),
    ("fixtures generate --month 202604 --offices 100000000 --out {bad}/o", 2, "2〜1000の整数ではありません"),
    ("fixtures generate --month 202604 --seed abc --out {bad}/o", 2, "--seed の値 'abc' は使えません"),
    ("fixtures broken --out {bad}/file.CSV", 2, "フォルダではありません"),
    ("scenarios list {bad}/deep.yaml", 2, "入れ子が深すぎます"),
    ("scenarios list {bad}/binary.yaml", 2, "UTF-8 ではありません"),
    ("scenarios list {bad}/nul.yaml", 2, "YAML で使えない文字 U+0000"),
    ("scenarios list {bad}/fifo.CSV", 2, "ファイルでもフォルダでもありません"),
    ("scenarios list {bad}/big.yaml", 2, "MB を超えています"),
    ("scenarios list {bad}/pwn.yaml", 2, "シナリオファイルを読み込めません"),
    ("scenarios run {bad}/empty.yaml --junit {bad}/file.CSV/junit.xml", 2, "フォルダを作れません"),
    ("scenarios run --hub https://[::1 --data {bad}/data", 2, "ハブの URL"),
    ("scenarios run --hub https://127.0.0.1:9 --data {bad}/folder", 2, "ハブのデータディレクトリではありません"),
    ("demo {bad}/folder", 2, "フォルダです"),
    ("conformance csv {bad}/file.CSV --report {bad}/r", 2, "フォルダではありません"),
    (
        "conformance run --hub https://127.0.0.1:9 --data {bad}/data --office 1370100016 --report {bad}/r "
        "--compare {bad}/binary.yaml",
        2,
        "conformance.json ではありません",
    ),
    ("conformance run --hub https://[::1 --data {bad}/data --office 1370100016 --report {bad}/r", 2, "ハブの URL"),
    ("load --hub ftp://x --data {bad}/data", 2, "ハブの URL"),
    ("client --profile ../../x whoami", 2, "プロファイル名に使えません"),
    (
        "client --home {bad}/h login --hub https://127.0.0.1:99999 --ca {bad}/file.CSV --p12 {bad}/file.CSV "
        "--user KJ0000000001",
        2,
        "ハブの URL",
    ),
    (
        "client --home {bad}/h login --hub https://127.0.0.1:9 --p12 {bad}/fifo.CSV --user KJ1",
        2,
        "ファイルでもフォルダでもありません",
    ),
    (
        "client --home {bad}/h login --hub https://127.0.0.1:9 --ca {bad}/file.CSV --p12 {bad}/file.CSV "
        "--p12-password x --user KJ0000000001 --password y",
        2,
        "手元の問題で実行できません",  # not a PKCS#12 file
    ),
    ("ca --dir {bad}/file.CSV init", 2, "すでにあります"),
    ("ca --dir {bad}/ca revoke zz", 2, "シリアル番号"),
    ("ca --dir {bad}/ca show --p12 {bad}/fifo.CSV --password x", 2, "ファイルでもフォルダでもありません"),
    ("hub --data {bad}/data serve --port 99999", 2, "0〜65535の整数ではありません"),
    ("hub --data {bad}/data serve --workers 100000", 2, "1〜64の整数ではありません"),
    ("up --data {bad}/file.CSV", 2, "フォルダではありません"),
    ("up --data {bad}/up --database foo://bar", 2, "postgresql://"),
    ('hub --data {bad}/data faults add {"kind":', 2, "JSON として読めません"),
    ("hub --data {bad}/data journal --since notatime", 2, "ISO 8601 の日時"),
    ("hub --data {bad}/data clock set tomorrow", 2, "ISO 8601 の日時"),  # was sent, and the hub said Python's words
    ("load --data {bad}/data --offices 100000000", 2, "2〜1000の整数ではありません"),
    ("load --data {bad}/data --month 2026xx", 2, "サービス提供年月"),
    ("fixtures generate --month 202613 --out {bad}/o", 2, "サービス提供年月"),
    ("errors NO[/]PE", 2, "というコードはありません"),
    ("--lang xx errors", 2, "ja か en"),
    ("sned", 2, "というコマンドはありません"),
]


@pytest.mark.parametrize(("line", "status", "japanese"), CASES, ids=[c[0].split(" {")[0][:40] for c in CASES])
def test_bad_input_ends_in_a_message_not_a_traceback(bad: Path, line: str, status: int, japanese: str) -> None:
    args = [word.replace("{bad}", str(bad)) for word in line.split()]
    _no_traceback(run_careplan(*args, cwd=bad, timeout=TIMEOUT), status, japanese)
    assert not (bad / "pwned").exists()  # the YAML's Python tag did nothing


@pytest.mark.parametrize(
    ("path", "japanese"),
    [
        ("missing.CSV", "そのようなファイルやフォルダはありません"),
        ("folder", "フォルダです"),
        ("fifo.CSV", "ファイルでもフォルダでもありません"),
    ],
)
def test_client_send_names_a_file_it_cannot_read(bad: Path, office: Path, path: str, japanese: str) -> None:
    args = ("client", "--home", str(office), "--profile", "p", "send", str(bad / path), "--to", "1370100024")
    _no_traceback(run_careplan(*args, timeout=TIMEOUT), 2, japanese)
    bulk = ("client", "--home", str(office), "--profile", "p", "bulk-send", str(bad / path))
    if path != "folder":  # a folder is what bulk-send takes
        _no_traceback(run_careplan(*bulk, timeout=TIMEOUT), 2, japanese)


# Every command that takes --hub (client inbox & co. take the URL saved by client login), a bad
# URL each, what is wrong with it in Japanese, and the URL the message offers instead.
BAD_HUB_URLS = [
    ("demo", "http://", "ホスト名がありません", "https://127.0.0.1:8443"),
    ("client login --user KJ1", "notaurl", "https:// で始まっていません", "https://127.0.0.1:8443"),
    ("client login --user KJ1", "localhost:8443", "https:// で始まっていません", "https://localhost:8443"),
    ("load", "ftp://127.0.0.1:8443", "https:// で始まっていません", "https://127.0.0.1:8443"),
    ("load", "https://127.0.0.1:99999", "ポート番号", "https://127.0.0.1:8443"),
    ("scenarios run", "https://[::1", "ホスト名を読めません", "https://127.0.0.1:8443"),
    ("conformance run", "https://127.0.0.1:8443/web/", "パス /web/ は付けません", "https://127.0.0.1:8443"),
    ("ca trust-help", "https://:8443", "ホスト名がありません", "https://127.0.0.1:8443"),
    # the hub speaks TLS only: plain HTTP was accepted and failed later as "hub unreachable" (3)
    ("load", "http://127.0.0.1:8443", "http:// では接続できません", "https://127.0.0.1:8443"),
    ("client login --user KJ1", "http://localhost:8444/", "http:// では接続できません", "https://localhost:8444"),
    ("scenarios run", "HTTP://[::1]:8443", "http:// では接続できません", "https://[::1]:8443"),
    ("conformance run", "http://127.0.0.1:8443/web/", "http:// では接続できません", "https://127.0.0.1:8443"),
]
HUB_URL_IDS = [f"{command} {url}" for command, url, *_ in BAD_HUB_URLS]


@pytest.mark.parametrize(("command", "url", "why", "instead"), BAD_HUB_URLS, ids=HUB_URL_IDS)
def test_a_bad_hub_url_is_said_japanese_first_with_what_is_wrong_and_the_fix(
    command: str, url: str, why: str, instead: str
) -> None:
    """`careplan demo --hub http://` began `careplan demo: error: argument --hub: 'http://' は…`:
    argparse's English prefix first, and no word of what was wrong. Now as every usage error:
    `使い方の誤り` in Japanese, then argparse's English, then where the help is (exit status 2)."""
    from rich.cells import cell_len

    done = run_careplan(*command.split(), "--hub", url, env={"COLUMNS": "80"}, timeout=TIMEOUT)
    assert done.returncode == 2, done.stderr
    prog = "careplan " + " ".join(word for word in command.split() if not word.startswith("-") and word != "KJ1")
    start, english_at = done.stderr.index(f"{prog}: 使い方の誤り: "), done.stderr.index(f"{prog}: error: ")
    japanese, english = unfolded(done.stderr[start:english_at]), done.stderr[english_at:]  # Japanese first
    assert japanese.startswith(unfolded(f"{prog}: 使い方の誤り: --hub の値 {url!r} はハブの URL ではありません"))
    assert unfolded(why) in japanese and unfolded(f"例: --hub {instead}") in japanese, done.stderr
    assert unfolded(f"argument --hub: {url!r} is not a hub URL (") in unfolded(english), done.stderr
    assert unfolded(f"e.g. --hub {instead}") in unfolded(english), done.stderr
    assert done.stderr.rstrip().endswith(f"（使い方 / usage: {prog} --help）"), done.stderr
    assert all(cell_len(line) <= 80 for line in done.stderr.splitlines()), done.stderr


HUB_TO_CLIENT_COMMANDS = [
    "inbox --hub https://127.0.0.1:8443",
    "sent --json --hub=https://127.0.0.1:8443",
    "download --all --hub https://127.0.0.1:8443",
    "--hub https://127.0.0.1:8443 whoami",  # before the command: argparse took the URL for one
]


@pytest.mark.parametrize("line", HUB_TO_CLIENT_COMMANDS)
def test_hub_given_to_a_client_command_points_to_client_login(office: Path, line: str) -> None:
    """`careplan client inbox --hub x` said only 知らない指定です (unrecognized arguments): the client
    commands take the hub URL saved by `careplan client login`, which the message now names, in
    Japanese then in English (exit status 2, as every usage error)."""
    from rich.cells import cell_len

    args = ("client", "--home", str(office), "--profile", "p", *line.split())
    done = run_careplan(*args, env={"COLUMNS": "80"}, timeout=TIMEOUT)
    assert done.returncode == 2, done.stderr
    start, english_at = (
        done.stderr.index("careplan client: 使い方の誤り: "),
        done.stderr.index("careplan client: error: "),
    )
    japanese, english = unfolded(done.stderr[start:english_at]), unfolded(done.stderr[english_at:])
    assert "ログインのときだけ" in japanese and unfolded("例: careplan client login --hub URL") in japanese
    assert unfolded("--hub goes with login only") in english, done.stderr
    assert unfolded("e.g. careplan client login --hub URL") in english, done.stderr
    assert done.stderr.rstrip().endswith("（使い方 / usage: careplan client --help）"), done.stderr
    assert all(cell_len(text) <= 80 for text in done.stderr.splitlines()), done.stderr


@pytest.mark.parametrize(
    "line",
    ["inbox --bogus x", "login --user KJ1 --bogus --hub https://127.0.0.1:9"],
    ids=["another unknown option", "hub given to login"],
)
def test_other_unknown_options_are_said_as_before(office: Path, line: str) -> None:
    done = run_careplan("client", "--home", str(office), *line.split(), env={"COLUMNS": "80"}, timeout=TIMEOUT)
    assert done.returncode == 2 and "知らない指定です: --bogus" in done.stderr, done.stderr
    assert "client login --hub URL" not in done.stderr


HUB_COMMANDS = [
    "demo --hub https://127.0.0.1:9 --data {folder}",
    "scenarios run --hub https://127.0.0.1:9 --data {folder}",
    "conformance run --hub https://127.0.0.1:9 --data {folder} --office 1370100016 --report {folder}/r",
    "load --data {folder}",
]


@pytest.mark.parametrize("line", HUB_COMMANDS, ids=[line.split(" --")[0] for line in HUB_COMMANDS])
def test_every_hub_command_says_alike_that_a_folder_is_no_hubs_data_within_80_columns(
    tmp_path: Path, line: str
) -> None:
    """One message (hub.cli.not_hub_data) for the commands that reach a hub through its data folder;
    its first line was 84 columns for scenarios and 86 for conformance, and load had its own."""
    from rich.cells import cell_len

    folder = tmp_path / "typo"
    done = run_careplan(*line.replace("{folder}", str(folder)).split(), timeout=TIMEOUT)
    lines = done.stderr.splitlines()
    command = " ".join(line.split()[:1])
    assert done.returncode == 2 and lines[:3] == [
        f"careplan {command}: ハブのデータディレクトリではありません",
        "  not a hub's data directory",
        f"  {folder}",
    ], done.stderr
    assert lines[3].startswith("  見つからないファイル / missing: ca/ca.pem"), lines
    assert all(cell_len(text) <= 80 for text in lines if text != f"  {folder}"), lines


# The commands that reach a running hub's admin API through its data folder; --hub at a port no hub
# listens on (9): past the folder's check, each fails reaching the hub.
ADMIN_COMMANDS = [
    "demo --hub https://127.0.0.1:9 --data {folder}",
    "scenarios run --hub https://127.0.0.1:9 --data {folder}",
    "conformance run --hub https://127.0.0.1:9 --data {folder} --office 1370100016 --report {folder}/../r",
    "load --hub https://127.0.0.1:9 --data {folder}",
    "hub --data {folder} clock show",  # the hub its hub.json announces
]
ADMIN_IDS = [line.split(" --")[0] for line in ADMIN_COMMANDS]


def _ca_only(bad: Path, folder: Path) -> Path:
    """A data folder with the hub's CA, a hub.json announcing a hub on port 9, and no admin token (a
    hub started with CAREPLAN_ADMIN_TOKEN makes none, a copied folder may lack it)."""
    shutil.copytree(bad / "data" / "ca", folder / "ca")
    (folder / "hub.json").write_text('{"url": "https://127.0.0.1:9", "port": 9, "pid": 1}')
    return folder


@pytest.mark.parametrize("line", ADMIN_COMMANDS, ids=ADMIN_IDS)
def test_no_admin_token_is_said_up_front_and_none_is_made(
    bad: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str
) -> None:
    """`scenarios run --hub` and `demo --hub` made a new admin token in the hub's folder, which the
    running hub then refused as a wrong one (a confusing failure later). Now each says what
    `careplan load` says (hub.cli.not_hub_data, naming the admin-token) and writes nothing there."""
    from rich.cells import cell_len

    monkeypatch.delenv("CAREPLAN_ADMIN_TOKEN", raising=False)
    folder = _ca_only(bad, tmp_path / "data")
    done = run_careplan(*line.replace("{folder}", str(folder)).split(), env={"COLUMNS": "80"}, timeout=TIMEOUT)
    assert done.returncode == 2 and done.stderr.splitlines() == [
        f"careplan {line.split()[0]}: ハブのデータディレクトリではありません",
        "  not a hub's data directory",
        f"  {folder}",
        "  見つからないファイル / missing: admin-token",
        "  careplan up の --data に渡したフォルダを指定してください。",
        "  Give the folder that careplan up was given with --data.",
    ], done.stderr
    assert all(cell_len(text) <= 80 for text in done.stderr.splitlines() if text != f"  {folder}")
    assert sorted(p.name for p in folder.iterdir()) == ["ca", "hub.json"]  # no admin-token made


@pytest.mark.parametrize("line", ADMIN_COMMANDS, ids=ADMIN_IDS)
def test_the_admin_token_from_the_environment_is_the_one_presented(bad: Path, tmp_path: Path, line: str) -> None:
    """CAREPLAN_ADMIN_TOKEN is the hub's admin token when set (HubConfig.from_env: the hub then makes
    no admin-token file), and `careplan hub clock` presented it; now every command that reaches
    the admin API does, so the folder's missing admin-token is no refusal."""
    folder = _ca_only(bad, tmp_path / "data")
    env = {"COLUMNS": "80", "CAREPLAN_ADMIN_TOKEN": "from-the-environment"}
    done = run_careplan(*line.replace("{folder}", str(folder)).split(), env=env, timeout=TIMEOUT)
    assert done.returncode != 0 and "Traceback" not in done.stderr + done.stdout  # no hub on port 9
    assert "ハブのデータディレクトリではありません" not in done.stderr, done.stderr
    assert "127.0.0.1:9" in done.stderr + done.stdout, done.stderr  # it went on to the hub
    assert not (folder / "admin-token").exists()


def test_ca_bounds_and_a_listen_address_the_machine_lacks(bad: Path, office: Path) -> None:
    issue = ("ca", "--dir", str(bad / "ca"), "issue", "--office", "1370100016", "--user", "KJ1", "--name", "x")
    huge = run_careplan(*issue, "--password", "p", "--out", str(bad / "x.p12"), "--days", "99999999")
    _no_traceback(huge, 2, "1〜36500の整数ではありません")  # was an OverflowError
    when = run_careplan(*issue, "--password", "p", "--out", str(bad / "x.p12"), "--not-before", "yesterday")
    _no_traceback(when, 2, "ISO 8601 の日時")
    host = run_careplan("up", "--data", str(bad / "up2"), "--host", "999.1.1.1", "--port", "0", timeout=TIMEOUT)
    _no_traceback(host, 2, "待ち受けできるアドレスではありません")


def _careplan(*args: str | bytes, **options: object) -> subprocess.Popen[bytes]:
    command: list[str | bytes] = [sys.executable, "-m", "careplan_cli.main", *args]
    return subprocess.Popen(command, env=options.pop("env", this_checkout()), **options)  # type: ignore[call-overload]


@pytest.mark.parametrize("args", [("errors",), ("errors", "--json")])
def test_a_reader_gone_away_is_141_and_quiet(args: tuple[str, ...]) -> None:
    """rich's output (`errors`) ended with status 1 where print's (`--json`) gave 141."""
    process = _careplan(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # before a byte is written: the write is EPIPE for certain
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 141 and stderr == b""


def test_closed_stdout_still_does_the_work(tmp_path: Path) -> None:
    process = _careplan(
        "fixtures", "broken", "--out", str(tmp_path / "b"), stderr=subprocess.PIPE, preexec_fn=lambda: os.close(1)
    )
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0 and b"Traceback" not in stderr
    assert (tmp_path / "b" / "README").is_file()


def test_a_full_disk_on_stdout_is_one_line() -> None:
    with open("/dev/full", "wb") as full:
        process = _careplan("errors", stdout=full, stderr=subprocess.PIPE)
        _, stderr = process.communicate(timeout=TIMEOUT)
    text = stderr.decode("utf-8")
    assert process.returncode == 2 and "Traceback" not in text and "ディスクの空きがありません" in text


@pytest.mark.parametrize(
    "env",
    [
        {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"},  # ASCII streams
        {"PYTHONIOENCODING": "latin-1"},
        {"PYTHONIOENCODING": "utf-8"},  # strict: an undecodable file name's surrogate would not encode
    ],
)
def test_japanese_and_odd_file_names_never_fail_to_print(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "\udcff.CSV").write_bytes(b"x")  # the byte 0xFF in the name, not UTF-8
    (tmp_path / "日本 語.CSV").write_bytes(b"x")
    environment = {**this_checkout(), **env}
    for args in (("validate", os.fsencode(tmp_path)), ("errors", "FORMAT_INVALID"), ("validate", b"/nope/\xff")):
        process = _careplan(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment)
        stdout, stderr = process.communicate(timeout=TIMEOUT)
        assert b"Traceback" not in stderr and b"UnicodeEncodeError" not in stderr, stderr
        assert process.returncode in (0, 2), stderr
        assert stdout or stderr


@pytest.mark.parametrize("columns", ["1", "10", "1000", "abc"])
def test_any_terminal_width(columns: str) -> None:
    done = run_careplan("errors", "FORMAT_INVALID", env={"COLUMNS": columns, "NO_COLOR": "1"}, timeout=TIMEOUT)
    assert done.returncode == 0 and "Traceback" not in done.stderr and "FORMAT_INVALID" in done.stdout


def test_an_unexpected_error_is_one_line_with_status_70(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from careplan_cli import main

    def broken(args: list[str]) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(main, "_dispatch", broken)
    monkeypatch.delenv(main.DEBUG_ENV, raising=False)
    assert main.main(["errors"]) == main.INTERNAL
    assert "想定外のエラーです" in capsys.readouterr().err
    monkeypatch.setenv(main.DEBUG_ENV, "1")
    with pytest.raises(RuntimeError):
        main.main(["errors"])


def test_argparse_messages_have_their_japanese() -> None:
    assert (
        usage_error_ja("argument --seed: invalid int value: 'abc'")
        == "--seed の値 'abc' は使えません（整数 の値が必要です）"
    )
    assert usage_error_ja("the following arguments are required: --month") == "次の指定が必要です: --month"
    assert usage_error_ja("unrecognized arguments: x y") == "知らない指定です: x y"
    assert usage_error_ja("argument --limit: '0' は1〜500の整数ではありません") is None  # Japanese already
    assert (  # a value typed in Japanese does not make argparse's message Japanese
        usage_error_ja("argument COMMAND: invalid choice: 'ハブ' (choose from 'serve', 'clock')")
        == "COMMAND に 'ハブ' は選べません（選べるのは 'serve', 'clock'）"
    )


def test_a_report_that_cannot_be_written_is_said_before_the_suite_runs(bad: Path) -> None:
    """A --junit file under a file is checked where it is typed: the suite does not run for minutes
    first (its results were printed, then exit 2 for the report)."""
    library = Path(__file__).resolve().parents[1] / "scenarios" / "library" / "bulk-limits.yaml"
    done = run_careplan("scenarios", "run", str(library), "--junit", str(bad / "file.CSV" / "j.xml"), timeout=TIMEOUT)
    _no_traceback(done, 2, "フォルダを作れません")
    assert done.stdout == ""


def test_a_hub_command_without_a_running_hub_says_so_within_80_columns(bad: Path) -> None:
    """One line of 134-162 columns ('… のハブは動いていません… / no running hub for …')."""
    from rich.cells import cell_len

    done = run_careplan("hub", "--data", str(bad / "data"), "clock", "show", timeout=TIMEOUT)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith("ハブは動いていません") and lines[1].strip() == str(bad / "data"), lines
    assert all(cell_len(line) <= 80 for line in lines if line.strip() != str(bad / "data")), lines


@pytest.mark.parametrize("line", ADMIN_COMMANDS, ids=ADMIN_IDS)
def test_every_hub_command_exits_3_for_a_hub_it_cannot_reach(bad: Path, tmp_path: Path, line: str) -> None:
    """A hub out of reach is exit status 3 for every command that reaches one (the catalogue's
    HUB_UNREACHABLE); `demo --hub` exited 1, a month that played otherwise, and `conformance run`
    2, a bad option. Said on stderr, Japanese before English, within 80 columns."""
    from rich.cells import cell_len

    folder = _ca_only(bad, tmp_path / "data")
    shutil.copy(bad / "data" / "admin-token", folder / "admin-token")
    done = run_careplan(*line.replace("{folder}", str(folder)).split(), env={"COLUMNS": "80"}, timeout=TIMEOUT)
    assert done.returncode == 3, done.stdout + done.stderr
    said = done.stderr
    assert "Traceback" not in said and "127.0.0.1:9" in done.stdout + said, said
    assert "接続でき" in said and any(ord(c) > 0x3000 for c in "".join(said.splitlines()[:2])), said  # Japanese first
    assert all(cell_len(text) <= 80 for text in said.splitlines() if str(folder) not in text), said
