"""The client CLI when the hub cannot be reached or fails inside: each command shows the real
message of what the office was doing (a send fails as a send, a receive as a receive, a list as a
data load), and logout forgets the session token on the terminal anyway, saying that the hub was
not told."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len

from careplan.errors import MSG_DATA_LOAD_FAILED, MSG_RECEIVE_FAILED, MSG_SEND_FAILED
from client.profile import Profile
from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest, Pki, run_careplan, terminal, this_checkout
from tests.test_cli_hostile_input import unfolded

pytestmark = pytest.mark.slow


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def test_logout_with_the_hub_out_of_reach_forgets_the_token_and_says_so(pki: Pki, tmp_path: Path) -> None:
    url = f"https://127.0.0.1:{closed_port()}"
    terminal(pki, tmp_path / "human", url)
    done = run_careplan("client", "--home", str(tmp_path / "human"), "--profile", "kyotaku", "logout")
    assert done.returncode == 3, done.stderr  # the hub could not be told
    assert Profile.load(tmp_path / "human", "kyotaku").token == ""  # but this terminal no longer holds the session
    said = unfolded(done.stderr)
    assert said.index("トークンを削除しました") < said.index("接続できなかった") < said.index("tokenwasdeleted")
    assert "有効期限が来ると自動的に終了します" in said and "HUB_UNREACHABLE" in said
    assert all(cell_len(line) <= 80 for line in done.stderr.splitlines()), done.stderr

    terminal(pki, tmp_path / "script", url)
    status, answer = client(tmp_path / "script", "logout")
    assert status == 3 and Profile.load(tmp_path / "script", "kyotaku").token == ""
    assert answer["token_removed"] is True and answer["hub_notified"] is False
    assert answer["error"]["code"] == "HUB_UNREACHABLE"  # type: ignore[index]


async def test_logout_of_a_session_the_hub_already_ended_is_done(hub: HubUnderTest, tmp_path: Path) -> None:
    home = tmp_path / "home"
    terminal(hub.pki, home, hub.url, token="a-token-the-hub-never-gave-or-has-expired")
    done = await asyncio.to_thread(run_careplan, "client", "--home", str(home), "--profile", "kyotaku", "logout")
    assert done.returncode == 0, done.stderr
    assert Profile.load(home, "kyotaku").token == ""
    said = unfolded(done.stdout)
    assert "既に終了していました" in said and said.index("トークンを削除しました") < said.index("tokenwasdeleted")


async def test_a_failure_inside_the_hub_reads_as_what_the_office_was_doing(hub: HubUnderTest, tmp_path: Path) -> None:
    """The client shows INTERNAL under its own operation, which is the one the hub words it for
    (hub.operations): a send, a receive, the send list's data load."""
    home = tmp_path / "home"
    terminal(hub.pki, home, hub.url, token="")
    paths = []
    for name, data in sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number).items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    login = ("login", "--user", KYOTAKU.user, "--password", KYOTAKU.password)
    assert (await asyncio.to_thread(client, home, *login))[0] == 0
    admin = {"Authorization": "Bearer test-admin-token"}
    for operation in ("send", "list", "download"):
        rule = {"kind": "http_error", "status": 500, "code": "INTERNAL", "operation": operation}
        assert (await hub.raw("POST", "/admin/v1/faults", json=rule, headers=admin))[0] == 201
    expected = {
        ("send", *paths, "--to", HOUMON.number, "--attempts", "1"): ("send", MSG_SEND_FAILED),
        ("download", "0" * 32): ("receive", MSG_RECEIVE_FAILED),
        ("sent",): ("load", MSG_DATA_LOAD_FAILED),
    }
    for args, (operation, message) in expected.items():
        status, answer = await asyncio.to_thread(client, home, *args)
        error = answer["error"]
        assert isinstance(error, dict)
        assert (status, error["code"], error["operation"], error["message"]) == (1, "INTERNAL", operation, message)


def test_a_reader_gone_away_ends_a_client_command_quietly(pki: Pki, tmp_path: Path) -> None:
    """Output written inside a command (here logout's line, no hub needed) to a closed pipe was
    reported as 'a local problem' with an empty detail, exit 2; it is 141 and silent, as elsewhere."""
    home = tmp_path / "home"
    terminal(pki, home, f"https://127.0.0.1:{closed_port()}", token="")
    command = [sys.executable, "-m", "careplan_cli.main", "client", "--home", str(home), "--profile", "kyotaku"]
    process = subprocess.Popen(
        [*command, "logout"], env=this_checkout(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    process.stdout.close()  # before a byte is written: the write is EPIPE for certain
    _, stderr = process.communicate(timeout=60)
    assert (process.returncode, stderr) == (141, b"")


async def test_a_receipt_the_hub_did_not_take_says_the_files_are_saved(hub: HubUnderTest, tmp_path: Path) -> None:
    """An acknowledgement refused after the files were written: the office reads that it has them."""
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        sent = await kyotaku.send(
            list(sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number).items()), to=HOUMON.number
        )
    home = tmp_path / "home"
    terminal(hub.pki, home, hub.url, token="", office=HOUMON)
    login = ("login", "--user", HOUMON.user, "--password", HOUMON.password)
    assert (await asyncio.to_thread(client, home, *login))[0] == 0
    rule = {"kind": "http_error", "status": 500, "code": "INTERNAL", "operation": "acknowledge", "count": 1}
    admin = {"Authorization": "Bearer test-admin-token"}
    assert (await hub.raw("POST", "/admin/v1/faults", json=rule, headers=admin))[0] == 201
    out = tmp_path / "received"
    status, answer = await asyncio.to_thread(client, home, "download", "--all", "--out", str(out))
    error = answer["error"]
    assert isinstance(error, dict)
    assert (status, error["code"], error["message"]) == (1, "INTERNAL", MSG_RECEIVE_FAILED)
    folder = out / sent["transmission_id"]
    assert f"ファイルは {folder} に保存しました" in str(error["detail"]) and "download" in str(error["fix"])
    assert sorted(p.name for p in folder.iterdir()) == sorted(f["name"] for f in sent["files"])
    status, answer = await asyncio.to_thread(client, home, "download", "--all", "--out", str(out))
    assert status == 0 and [d["transmission_id"] for d in answer["downloads"]] == [sent["transmission_id"]]  # type: ignore[union-attr]


async def test_a_logout_the_hub_did_not_accept_still_forgets_the_token(hub: HubUnderTest, tmp_path: Path) -> None:
    home = tmp_path / "home"
    terminal(hub.pki, home, hub.url, token="")
    login = ("login", "--user", KYOTAKU.user, "--password", KYOTAKU.password)
    assert (await asyncio.to_thread(client, home, *login))[0] == 0
    rule = {"kind": "http_error", "status": 500, "code": "INTERNAL", "route": "DELETE /api/v1/session", "count": 1}
    admin = {"Authorization": "Bearer test-admin-token"}
    assert (await hub.raw("POST", "/admin/v1/faults", json=rule, headers=admin))[0] == 201
    done = await asyncio.to_thread(run_careplan, "client", "--home", str(home), "--profile", "kyotaku", "logout")
    assert done.returncode == 1 and Profile.load(home, "kyotaku").token == ""
    said = unfolded(done.stderr)
    assert (
        said.index("トークンを削除しました") < said.index("ログアウトを受け付けなかった") < said.index("didnotaccept")
    )
