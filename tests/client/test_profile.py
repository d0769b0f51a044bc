"""A terminal's profile file that is not one (cut short by a full disk, edited by hand, written by
another program) is a local problem said with the login that writes it anew: it was exit 70
'unexpected error … TypeError', or JSON's own 'Expecting value: line 1 column 1'."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from client.cli import _login_profile
from client.profile import DamagedProfile, Profile
from tests.conftest import run_careplan

WHOLE = {"name": "x", "hub_url": "https://h", "ca_file": "c", "p12_file": "p", "p12_password": "SECRET-P12"}


def _write(home: Path, text: str) -> Path:
    path = Profile.path(home, "x")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("garbage", "JSONDecodeError"),
        ("[1, 2]", "not an object but list"),
        ('{"name": "x", "token": "SECRET-TOKEN"}', "no hub_url, ca_file, p12_file, p12_password"),
        (json.dumps({**WHOLE, "hub_url": 5}), "hub_url not text"),
    ],
)
def test_a_damaged_profile_says_which_file_why_and_the_login_that_mends_it(tmp_path: Path, text: str, why: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(DamagedProfile, match="が壊れています") as damaged:
        Profile.load(tmp_path, "x")
    said = str(damaged.value)
    assert str(path) in said and why in said and "careplan client --profile x login" in said
    assert "SECRET" not in said  # a profile holds the .p12 password and the session token


def test_keys_another_version_wrote_are_left(tmp_path: Path) -> None:
    _write(tmp_path, json.dumps({**WHOLE, "user_id": "KJ1", "token": "t", "written_by": "a later version"}))
    assert Profile.load(tmp_path, "x") == Profile(**{**WHOLE, "user_id": "KJ1", "token": "t"})


def test_the_cli_says_it_as_a_local_problem_and_as_json(tmp_path: Path) -> None:
    _write(tmp_path, "[1, 2]")
    for extra in ([], ["--json"]):
        done = run_careplan("client", "--home", str(tmp_path), "--profile", "x", *extra, "inbox")
        assert done.returncode == 2 and "想定外" not in done.stderr, done.stderr
        if extra:
            error = json.loads(done.stdout)["error"]
            assert error["code"] == "LOCAL" and "壊れています" in error["detail"], error
        else:
            assert "壊れています" in "".join(done.stderr.split()), done.stderr


def test_a_login_with_everything_given_starts_over_from_a_damaged_profile(tmp_path: Path) -> None:
    _write(tmp_path, "garbage")
    (tmp_path / "ca.pem").write_text("-")
    (tmp_path / "t.p12").write_bytes(b"-")
    args = argparse.Namespace(
        profile="x", hub="https://127.0.0.1:8443", ca=tmp_path / "ca.pem", p12=tmp_path / "t.p12",
        p12_password="pw", user="KJ1370100016",
    )  # fmt: skip
    profile = _login_profile(args, tmp_path)
    assert (profile.hub_url, profile.p12_password, profile.user_id) == ("https://127.0.0.1:8443", "pw", "KJ1370100016")
