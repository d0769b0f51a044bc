"""Every `careplan` command explains itself: help text for every option, an example per command,
`--lang` on any command, and a quiet end when the reader of stdout goes away (issue 13)."""

from __future__ import annotations

import argparse
import fcntl
import importlib
import json
import os
import subprocess
import sys

import pytest

from careplan.helptext import subparsers
from careplan_cli import main as careplan_main
from careplan_cli.main import SUBCOMMANDS, take_lang
from tests.conftest import run_careplan

MODULES = sorted({module for module, _ in SUBCOMMANDS.values()})


def _parser(module: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = importlib.import_module(module)._parser()
    return parser


@pytest.mark.parametrize("module", MODULES)
def test_every_option_has_help_and_every_command_an_example(module: str) -> None:
    for parser in subparsers(_parser(module)):
        assert parser.epilog and "例" in parser.epilog, f"{parser.prog}: no example"
        assert parser.description, f"{parser.prog}: no description"
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            assert action.help, f"{parser.prog} {action.option_strings or action.dest}: no help text"
        assert "例" in parser.format_help()


@pytest.mark.parametrize(
    ("argv", "rest", "lang"),
    [
        (["client", "sent"], ["client", "sent"], None),
        (["--lang", "en", "client", "sent"], ["client", "sent"], "en"),
        (["client", "--lang=ja", "sent"], ["client", "sent"], "ja"),
        (["validate", "x.csv", "--lang", "en"], ["validate", "x.csv"], "en"),
        (["scenarios", "run", "--", "--lang", "en"], ["scenarios", "run", "--", "--lang", "en"], None),
    ],
)
def test_lang_is_taken_from_anywhere_on_the_line(argv: list[str], rest: list[str], lang: str | None) -> None:
    assert take_lang(argv) == (rest, lang)


def test_an_unknown_language_is_a_usage_error() -> None:
    with pytest.raises(ValueError, match="ja or en"):
        take_lang(["--lang", "fr", "errors"])
    done = run_careplan("--lang", "fr", "errors")
    assert done.returncode == 2 and "ja or en" in done.stderr


def test_errors_in_both_languages() -> None:
    ja = json.loads(run_careplan("errors", "--json", "LOGIN_FAILED").stdout)[0]
    en = json.loads(run_careplan("--lang", "en", "errors", "--json", "LOGIN_FAILED").stdout)[0]
    env = json.loads(run_careplan("errors", "--json", "LOGIN_FAILED", env={"CAREPLAN_LANG": "en"}).stdout)[0]
    assert ja["messages"] == en["messages"]  # the message stays as it is
    assert ja["fix"].endswith("。") and en["fix"].endswith(".") and env == en
    assert ja["exception"] == "SessionError" and ja["exit_status"] == 1


def test_a_closed_pipe_ends_quietly() -> None:
    """`careplan errors --json | head -c 10`: no BrokenPipeError traceback, exit status 141."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)  # smaller than the output: the writer must wait
    with subprocess.Popen(
        [sys.executable, "-m", "careplan_cli.main", "errors", "--json"], stdout=write_end, stderr=subprocess.PIPE
    ) as process:
        os.close(write_end)
        os.read(read_end, 10)
        os.close(read_end)  # the reader goes away before the command is done
        _, stderr = process.communicate(timeout=30)
    assert "Traceback" not in stderr.decode() and "BrokenPipe" not in stderr.decode(), stderr.decode()
    assert process.returncode == 141


def test_ctrl_c_outside_a_commands_own_handler_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C where a command has no handler of its own (`careplan up` making its certificates, a
    client waiting on the hub): one line, exit status 130, no KeyboardInterrupt traceback."""

    def interrupted(args: list[str]) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(careplan_main, "_dispatch", interrupted)
    assert careplan_main.main(["up"]) == 130
    assert capsys.readouterr().err.strip() == "careplan: 中断しました / interrupted"


def test_the_command_list_is_japanese_first_within_80_columns() -> None:
    """`careplan --help` was English only, with lines of 83-96 columns (and `conformance` out of line)."""
    from rich.cells import cell_len

    from careplan.errors import is_japanese

    done = run_careplan("--help")
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and all(cell_len(line) <= 80 for line in lines), max(lines, key=cell_len)
    for name in SUBCOMMANDS:
        [at] = [i for i, line in enumerate(lines) if line.split()[:1] == [name]]
        japanese, english = lines[at][14:], lines[at + 1][14:]
        assert is_japanese(japanese) and english.isascii() and lines[at + 1][:14].isspace(), (japanese, english)
    assert is_japanese(lines[0]) and lines[0].startswith("使い方 / usage: careplan")


@pytest.mark.parametrize("module", MODULES)
def test_every_help_text_fits_80_columns(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Descriptions and examples are printed as written (RawDescriptionHelpFormatter): ten of them
    were 83-326 columns, and `hub faults add` listed its kinds in a usage line of 132."""
    from rich.cells import cell_len

    monkeypatch.setenv("COLUMNS", "80")
    for parser in subparsers(_parser(module)):
        lines = parser.format_help().splitlines()
        assert all(cell_len(line) <= 80 for line in lines), (parser.prog, max(lines, key=cell_len))


@pytest.mark.parametrize(("typed", "meant"), [("dmeo", "demo"), ("valdiate", "validate"), ("scenario", "scenarios")])
def test_a_mistyped_command_is_told_the_one_it_resembles(
    typed: str, meant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert careplan_main.main([typed]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[:2] == [
        f"careplan: {typed!r} というコマンドはありません / unknown command {typed!r}",
        f"もしかして / did you mean: careplan {meant}",
    ]


def test_a_command_like_no_other_gets_the_list_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert careplan_main.main(["zzzz"]) == 2
    err = capsys.readouterr().err
    assert "もしかして" not in err and "コマンド / commands:" in err
