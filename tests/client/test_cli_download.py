"""`careplan client download` of several transmissions when one of them fails: the answer names
every transmission's outcome (downloaded and acknowledged, failed with its refusal, not attempted),
since a downloaded one is gone from the hub (R5.2) and cannot be asked for again; and each refusal
reads as the receive it happened in (R2.3), whichever step of it failed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from careplan.errors import MSG_RECEIVE_CERT, MSG_RECEIVE_FAILED, MSG_SEND_FAILED
from conformance.hubview import HubView
from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest, run_careplan, terminal
from tests.test_cli_hostile_input import unfolded

pytestmark = pytest.mark.slow

ADMIN = {"Authorization": "Bearer test-admin-token"}
INFO = "GET /api/v1/inbox/{transmission_id}"
FILE = "GET /api/v1/inbox/{transmission_id}/files/{position}"


async def _waiting(hub: HubUnderTest, count: int) -> list[str]:
    """`count` transmissions from kyotaku waiting for houmon, oldest first (the inbox's order)."""
    files = list(sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number).items())
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        return [(await kyotaku.send(files, to=HOUMON.number))["transmission_id"] for _ in range(count)]


async def _receiver(hub: HubUnderTest, home: Path) -> None:
    terminal(hub.pki, home, hub.url, token="", office=HOUMON)
    login = ("login", "--user", HOUMON.user, "--password", HOUMON.password)
    assert (await asyncio.to_thread(_client, home, *login))[0] == 0


def _client(home: Path, *args: str) -> tuple[int, dict[str, Any]]:
    done = run_careplan("client", "--home", str(home), "--profile", "kyotaku", "--json", *args)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


async def _fault(hub: HubUnderTest, rule: dict[str, object]) -> None:
    assert (await hub.raw("POST", "/admin/v1/faults", json=rule, headers=ADMIN))[0] == 201


async def _still_waiting(hub: HubUnderTest) -> list[str]:
    async with hub.client(HOUMON) as houmon:
        await houmon.login(HOUMON.user, HOUMON.password)
        return [t["transmission_id"] for t in await houmon.inbox()]


def _in_the_way(out: Path, transmission_id: str) -> None:
    """A file where the download's hidden working folder goes: writing that transmission fails locally."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f".partial-{transmission_id}").write_text("in the way")


async def _refused(hub: HubUnderTest, out: Path, tid: str) -> None:
    await _fault(hub, {"kind": "http_error", "status": 500, "code": "INTERNAL", "route": INFO, "transmission": tid})


async def _cut(hub: HubUnderTest, out: Path, tid: str) -> None:
    await _fault(hub, {"kind": "cut_download", "operation": "download", "transmission": tid, "after_bytes": 10})


async def _unwritable(hub: HubUnderTest, out: Path, tid: str) -> None:
    _in_the_way(out, tid)


# What stops the second of three transmissions: the hub's refusal (exit 1), the hub out of reach
# as its answer is cut again and again (3), a folder that cannot be written (2, a local problem).
STOPS: dict[str, tuple[Callable[[HubUnderTest, Path, str], Awaitable[None]], int, str]] = {
    "refused": (_refused, 1, "INTERNAL"),
    "unreachable": (_cut, 3, "HUB_UNREACHABLE"),
    "local": (_unwritable, 2, "LOCAL"),
}


@pytest.mark.parametrize("stop", list(STOPS))
async def test_a_failed_transmission_keeps_the_ones_already_downloaded_in_the_answer(
    hub: HubUnderTest, tmp_path: Path, stop: str
) -> None:
    ids = await _waiting(hub, 3)
    home, out = tmp_path / "home", tmp_path / "received"
    await _receiver(hub, home)
    arm, exit_status, code = STOPS[stop]
    await arm(hub, out, ids[1])

    status, answer = await asyncio.to_thread(_client, home, "download", "--all", "--out", str(out))

    assert status == exit_status
    assert [d["transmission_id"] for d in answer["downloads"]] == [ids[0]]
    [first] = answer["downloads"]
    assert first["directory"] == str(out / ids[0]) and first["sender"] == KYOTAKU.number
    assert sorted(Path(f).name for f in first["files"]) == sorted(p.name for p in (out / ids[0]).iterdir())
    assert (answer["failed"], answer["not_attempted"]) == (ids[1], [ids[2]])
    assert answer["error"]["code"] == code and answer["error"]["detail"]
    if code != "LOCAL":
        assert (answer["error"]["operation"], answer["error"]["message"]) == ("receive", MSG_RECEIVE_FAILED)
    assert await _still_waiting(hub) == ids[1:], "the first was acknowledged, the others still wait"

    await hub.raw("DELETE", "/admin/v1/faults", headers=ADMIN)
    (out / f".partial-{ids[1]}").unlink(missing_ok=True)
    status, again = await asyncio.to_thread(_client, home, "download", "--all", "--out", str(out))
    assert status == 0 and [d["transmission_id"] for d in again["downloads"]] == ids[1:]
    assert (again["failed"], again["not_attempted"]) == (None, []) and "error" not in again


async def test_a_person_reads_what_was_downloaded_then_the_refusal_and_what_still_waits(
    hub: HubUnderTest, tmp_path: Path
) -> None:
    ids = await _waiting(hub, 3)
    home, out = tmp_path / "home", tmp_path / "received"
    await _receiver(hub, home)
    await _refused(hub, out, ids[1])
    args = ("client", "--home", str(home), "--profile", "kyotaku", "download", *ids, "--out", str(out))

    done = await asyncio.to_thread(run_careplan, *args)

    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert ids[0] in done.stdout and ids[1] not in done.stdout  # what was downloaded, as before
    said = done.stderr.splitlines()
    assert all(cell_len(line) <= 80 for line in said), said
    text = unfolded(done.stderr)
    japanese, english = text.index("受信を中断しました"), text.index("downloadstopped")
    refusal = text.index("エラーINTERNAL(receive)")
    assert japanese < english < refusal < text.index(MSG_RECEIVE_FAILED) < text.index("障害の模擬")
    assert "ダウンロード済1件、失敗1件、未実行1件" in text and "1downloaded,1failed,1notattempted" in text
    downloaded = text.index("ダウンロード済（保存し、受信を確認済み）", refusal)
    failed, waiting = text.index("失敗/failed:", downloaded), text.index("未実行（受信待ちのまま", downloaded)
    assert downloaded < text.index(ids[0], downloaded) < failed < text.index(ids[1], failed) < waiting
    assert text.index(ids[2], waiting)


async def test_a_listing_that_fails_blames_no_transmission(hub: HubUnderTest, tmp_path: Path) -> None:
    ids = await _waiting(hub, 2)
    home = tmp_path / "home"
    await _receiver(hub, home)
    await _fault(hub, {"kind": "http_error", "status": 500, "code": "INTERNAL", "route": "GET /api/v1/inbox"})
    status, answer = await asyncio.to_thread(_client, home, "download", *ids, "--out", str(tmp_path / "out"))
    assert status == 1
    assert (answer["downloads"], answer["failed"], answer["not_attempted"]) == ([], None, ids)
    assert (answer["error"]["code"], answer["error"]["operation"]) == ("INTERNAL", "receive")


# --- each step of a download reads as a receive (R2.3) ----------------------------------------------
async def test_a_tampered_file_is_refused_as_a_receive_not_as_a_send(hub: HubUnderTest, tmp_path: Path) -> None:
    """The client's own check of the files against the signed manifest (FILE_TAMPERED) said
    送信に失敗しました (the check's operation on the hub's send side) while the office received."""
    [tid] = await _waiting(hub, 1)
    view = HubView(hub.url, hub.config.data_dir)
    try:
        await view.tamper_stored_file(tid)
    finally:
        await view.close()
    home = tmp_path / "home"
    await _receiver(hub, home)
    status, answer = await asyncio.to_thread(_client, home, "download", "--all", "--out", str(tmp_path / "out"))
    error = answer["error"]
    assert (status, error["code"], error["operation"]) == (1, "FILE_TAMPERED", "receive")
    assert error["message"] == MSG_RECEIVE_FAILED != MSG_SEND_FAILED
    assert (answer["failed"], answer["downloads"]) == (tid, [])
    assert await _still_waiting(hub) == [tid], "no receipt for a tampered file"


@pytest.mark.parametrize("route", ["GET /api/v1/inbox", INFO, FILE])
async def test_a_refusal_in_any_step_of_a_download_reads_as_a_receive(
    hub: HubUnderTest, tmp_path: Path, route: str
) -> None:
    """Listing the inbox, the download's signed answer, a file: a refusal named with another
    operation on the wire (a fault answers with the code's default, here a send's) is the receive's,
    and only a step of a transmission names that transmission."""
    [tid] = await _waiting(hub, 1)
    home = tmp_path / "home"
    await _receiver(hub, home)
    await _fault(hub, {"kind": "http_error", "status": 403, "code": "CERT_REVOKED", "route": route})
    status, answer = await asyncio.to_thread(_client, home, "download", "--all", "--out", str(tmp_path / "out"))
    error = answer["error"]
    assert (status, error["code"], error["operation"], error["message"]) == (
        1,
        "CERT_REVOKED",
        "receive",
        MSG_RECEIVE_CERT,
    )
    assert answer["failed"] == (None if route == "GET /api/v1/inbox" else tid)
