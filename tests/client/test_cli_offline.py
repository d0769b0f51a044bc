"""The client CLI when the hub cannot be reached: each command shows the real message of what the
office was doing (a send fails as a send, a receive as a receive, a list as a data load), and
logout forgets the session token on the terminal anyway, saying that the hub was not told."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from careplan.errors import MSG_DATA_LOAD_FAILED, MSG_RECEIVE_FAILED, MSG_SEND_FAILED
from client.profile import Profile
from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, Pki, run_careplan
from tests.test_cli_hostile_input import unfolded

pytestmark = pytest.mark.slow


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def terminal(pki: Pki, home: Path, url: str, *, token: str = "a-session-token") -> None:
    """The kyotaku terminal's profile, logged in to `url`."""
    pair = pki.terminals[KYOTAKU.number]
    p12 = home / "kyotaku.p12"
    p12.parent.mkdir(parents=True, exist_ok=True)
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"kyotaku", pair.key, pair.certificate, None, BestAvailableEncryption(b"pw")
        )
    )
    Profile(
        name="kyotaku",
        hub_url=url,
        ca_file=str(pki.ca.directory / "ca.pem"),
        p12_file=str(p12),
        p12_password="pw",
        user_id=KYOTAKU.user,
        token=token,
    ).save(home)


@pytest.fixture
def offline(pki: Pki, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    terminal(pki, home, f"https://127.0.0.1:{closed_port()}")
    return home


def client(home: Path, *args: str) -> tuple[int, dict[str, object]]:
    done = run_careplan("client", "--home", str(home), "--profile", "kyotaku", "--json", *args)
    assert "Traceback" not in done.stderr
    return done.returncode, json.loads(done.stdout)


def test_each_command_shows_the_message_of_what_the_office_was_doing(offline: Path, tmp_path: Path) -> None:
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    paths = [str(tmp_path / name) for name in files]
    expected = {
        ("send", *paths, "--to", HOUMON.number): ("send", MSG_SEND_FAILED),
        ("bulk-send", *paths): ("send", MSG_SEND_FAILED),
        ("download", "0" * 32): ("receive", MSG_RECEIVE_FAILED),
        ("download", "--all"): ("receive", MSG_RECEIVE_FAILED),
        ("inbox",): ("load", MSG_DATA_LOAD_FAILED),  # a list is the client's data load
        ("sent",): ("load", MSG_DATA_LOAD_FAILED),
    }
    for args, (operation, message) in expected.items():
        status, answer = client(offline, *args)
        error = answer["error"]
        assert isinstance(error, dict)
        assert (status, error["code"], error["operation"], error["message"]) == (
            3,
            "HUB_UNREACHABLE",
            operation,
            message,
        ), args[0]
    human = run_careplan(
        "client", "--home", str(offline), "--profile", "kyotaku", "send", *paths, "--to", HOUMON.number
    )
    assert human.returncode == 3 and MSG_SEND_FAILED in unfolded(human.stderr)
    assert MSG_DATA_LOAD_FAILED not in unfolded(human.stderr)
