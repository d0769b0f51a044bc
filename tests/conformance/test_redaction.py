"""Passwords on an adapter's command line, and the secrets the kit hands the adapter, are masked as
*** in what the kit writes, without a hub: each form a vendor may type, and the words that must
stay as typed (tests/conformance/test_kit.py runs the kit with them)."""

from __future__ import annotations

from typing import Any

import pytest

from conformance import report
from conformance.protocol import adapter_words
from conformance.redaction import NOTE, Redaction, redact_command, secret_name

ADAPTER = "my-adapter --home /srv/terminal"


@pytest.mark.parametrize(
    ("command", "shown", "secrets"),
    [
        (f"{ADAPTER} --password s3cret-pw", f"{ADAPTER} --password ***", ("s3cret-pw",)),
        (f"{ADAPTER} --pass s3cret-pw", f"{ADAPTER} --pass ***", ("s3cret-pw",)),
        (f"{ADAPTER} --p12-password=p12-s3cret", f"{ADAPTER} --p12-password=***", ("p12-s3cret",)),
        (f"{ADAPTER} -p 'two words'", f"{ADAPTER} -p ***", ("two words",)),
        (f"{ADAPTER} password=s3cret-pw", f"{ADAPTER} password=***", ("s3cret-pw",)),
        (
            f"CAREPLAN_P12_PASSWORD=p12-s3cret CAREPLAN_PASSWORD=s3cret-pw {ADAPTER}",
            f"CAREPLAN_P12_PASSWORD=*** CAREPLAN_PASSWORD=*** {ADAPTER}",
            ("p12-s3cret", "s3cret-pw"),
        ),
        (
            f"env CAREPLAN_PASSWORD=s3cret-pw {ADAPTER} --hub https://kj:p%40ss@hub.example:8443",
            f"env CAREPLAN_PASSWORD=*** {ADAPTER} --hub https://kj:***@hub.example:8443",
            ("s3cret-pw", "p%40ss", "p@ss"),
        ),
        (
            f"sh -c 'CAREPLAN_PASSWORD=s3cret-pw {ADAPTER} --token t0k3n | tee log'",
            f"sh -c 'CAREPLAN_PASSWORD=*** {ADAPTER} --token *** | tee log'",
            ("s3cret-pw", "t0k3n"),
        ),
        (f"{ADAPTER} 'unbalanced --password s3cret-pw", f"{ADAPTER} 'unbalanced --password ***", ("s3cret-pw",)),
    ],
)
def test_password_like_values_on_the_command_line_are_masked(
    command: str, shown: str, secrets: tuple[str, ...]
) -> None:
    assert redact_command(command) == (shown, secrets)


@pytest.mark.parametrize(
    "command",
    [
        "careplan conformance adapter careplan-client --home '/tmp/a b' --profile kyotaku",
        "bash docs/conformance/curl-adapter.sh",
        "python3 -c 'import sys; sys.stdin.read()'",
        f"{ADAPTER} --password-file /srv/pw.txt --password-stdin --profile p",
    ],
)
def test_a_command_without_a_password_is_shown_exactly_as_typed(command: str) -> None:
    assert redact_command(command) == (command, ())


def test_password_like_names() -> None:
    secret = ["--password", "--pass", "--p12-password", "--p12Password", "CAREPLAN_P12_PASSWORD", "P12_PASSWORD"]
    secret += ["PASSWORD", "GITHUB_TOKEN", "--client-secret", "passphrase"]
    plain = ["PWD", "OLDPWD", "SSH_ASKPASS", "--password-file", "PASSWORD_STORE_DIR", "--bypass", "--profile"]
    assert [n for n in secret + plain if secret_name(n)] == secret


def test_secrets_the_kit_knows_are_masked_in_any_text_it_writes() -> None:
    environ = {"CAREPLAN_PASSWORD": "office-pw-123", "CAREPLAN_P12_PASSWORD": "p12pw", "PWD": "/srv"}
    hide = Redaction.of(f"{ADAPTER} --password=cli-s3cret", environ=environ).also("admin-token-xyz")
    assert hide.command == f"{ADAPTER} --password=***"
    stderr = "login office-pw-123 with cli-s3cret; openssl -passin pass:p12pw; admin-token-xyz in /srv"
    assert hide(stderr) == "login *** with ***; openssl -passin pass:***; *** in /srv"
    # a short secret only where it stands alone: "p12pw" inside a longer word is not eaten into
    assert hide("p12pwx p12pw") == "p12pwx ***"
    answer = {"ok": False, "error": {"message": "bad password office-pw-123"}, "office-pw-123": ["cli-s3cret", 1]}
    assert hide.walk(answer) == {"ok": False, "error": {"message": "bad password ***"}, "***": ["***", 1]}
    assert "s3cret" not in repr(hide) and "office-pw" not in repr(hide)


def test_the_html_report_says_the_stars_are_withheld_passwords() -> None:
    run: dict[str, Any] = {"hub": "https://127.0.0.1:8443", "office": "1370100016"}
    run |= {"adapter": f"{ADAPTER} --password ***"}
    run |= {"redacted": str(NOTE), "started": "", "finished": "", "steps": []}
    page = report.to_html(run)
    assert "パスワードは伏せました（*** と表示） / passwords are hidden (shown as ***)" in page
    assert page.index("--password ***") < page.index("パスワードは伏せました")


@pytest.mark.parametrize(
    ("command", "words", "assigned"),
    [
        ("my-adapter --home H", ["my-adapter", "--home", "H"], {}),
        (
            "CAREPLAN_PASSWORD='a b' X_1=2 my-adapter x=1",
            ["my-adapter", "x=1"],
            {"CAREPLAN_PASSWORD": "a b", "X_1": "2"},
        ),
        ("A=1", ["A=1"], {}),  # nothing left to run: the word is the command, as typed
        ("1A=2 my-adapter", ["1A=2", "my-adapter"], {}),  # not a name: a shell would run it
    ],
)
def test_assignments_before_the_adapter_go_to_its_environment_as_a_shell_puts_them(
    command: str, words: list[str], assigned: dict[str, str]
) -> None:
    assert adapter_words(command) == (words, assigned)
