"""The control plane from a shell against `careplan up` in another process: the passcode in the
banner; `careplan hub snapshot|reset|journal|faults|transmissions|sessions|corrections`;
`careplan scenarios run --hub` leaves nothing behind; `careplan demo --hub --keep` leaves the month
for the dashboard (without --keep it too leaves nothing: tests/control/test_control_demo.py); after a
reset the demo credentials still log in."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from client.hubclient import HubClient
from scenarios.loader import LIBRARY
from tests.conftest import careplan_up, run_careplan

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, list[str]]]:
    with careplan_up(tmp_path_factory.mktemp("control-cli")) as hub:
        yield hub
    url, data, output = hub
    passcode = (data / "trainer-passcode").read_text().strip()
    assert len(passcode) == 8 and passcode.isdigit()
    banner = output[0].splitlines()  # the dashboard's URL whole on its own line, below its label (80 columns)
    assert f"  ダッシュボード（講師用パスコード {passcode}）" in banner
    assert f"    {url}/dashboard?passcode={passcode}" in banner


def hub_cmd(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_careplan("hub", "--data", str(data), *args, timeout=120)


def answer(data: Path, *args: str) -> Any:
    done = hub_cmd(data, *args, "--json")  # the admin API's answer, as scripts read it
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_snapshots_scenarios_demo_and_reset_from_the_shell(running: tuple[str, Path, list[str]]) -> None:
    url, data, _ = running
    base = answer(data, "snapshot", "save", "base")
    assert base["transmissions"] == 0 and base["offices"] == 5

    ran = run_careplan("scenarios", "run", str(LIBRARY / "download-tracking.yaml"), "--hub", url, "--data", str(data))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    after = answer(data, "snapshot", "save", "after-scenario")
    assert (after["offices"], after["transmissions"]) == (5, 0)  # the run left nothing behind

    played = run_careplan("demo", "--hub", url, "--data", str(data), "--keep", timeout=300)
    assert played.returncode == 0, played.stdout + played.stderr
    listed = answer(data, "transmissions", "--limit", "3")
    assert len(listed["transmissions"]) == 3 and listed["next_cursor"]
    assert answer(data, "transmissions", "--cursor", listed["next_cursor"])["transmissions"]

    journal = hub_cmd(data, "journal", "--limit", "400", "--json")
    entries = [json.loads(line) for line in journal.stdout.splitlines()]
    sends = [e for e in entries if e["route"] == "/api/v1/transmissions"]
    assert sends and all(e["decisions"] for e in sends)
    human = hub_cmd(data, "journal", "--limit", "400").stdout  # for people: within 80 columns
    assert "/api/v1/transmissions" in human and "    manifest      ok" in human and "ms" in human
    assert max(cell_len(line) for line in human.splitlines()) <= 80
    listing = hub_cmd(data, "transmissions", "--all", "--limit", "2").stdout
    assert max(cell_len(line) for line in listing.splitlines()) <= 80 and "--cursor" not in listing
    assert all(t["transmission_id"] in listing for t in answer(data, "transmissions", "--all")["transmissions"])
    assert hub_cmd(data, "transmissions", "--limit", "0").returncode == 2

    reset = answer(data, "reset")
    assert reset["reset_to"] == "seed" and reset["offices"] == 5
    assert answer(data, "transmissions")["transmissions"] == []
    offices = json.loads((data / "demo" / "offices.json").read_text("utf-8"))
    kyotaku = offices["kyotaku"]

    async def log_in() -> dict[str, Any]:
        client = HubClient.from_p12(
            url=url, ca_file=data / "ca" / "ca.pem", p12=Path(kyotaku["p12"]), password=kyotaku["p12_password"]
        )
        async with client:
            return await client.login(kyotaku["user"], kyotaku["password"])

    assert asyncio.run(log_in())["user_id"] == kyotaku["user"]  # the handed-out credentials still work
    assert [s["user_id"] for s in answer(data, "sessions")["client"]] == [kyotaku["user"]]

    restored = answer(data, "snapshot", "restore", "base")
    assert restored["restored"] == "base" and restored["transmissions"] == 0
    names = [s["name"] for s in answer(data, "snapshot", "list")["snapshots"]]
    assert names == ["after-scenario", "base"]
    assert answer(data, "snapshot", "delete", "after-scenario")["deleted"] == "after-scenario"
    missing = hub_cmd(data, "snapshot", "restore", "after-scenario")
    assert missing.returncode == 1 and "SNAPSHOT_NOT_FOUND" in missing.stderr
    assert "スナップショット 'after-scenario' はありません" in missing.stderr
    assert "careplan hub snapshot list で保存済みの名前を確認してください。" in missing.stderr
    english = run_careplan("--lang", "en", "hub", "--data", str(data), "snapshot", "restore", "after-scenario")
    assert english.returncode == 1 and "SNAPSHOT_NOT_FOUND" in english.stderr
    assert "no snapshot 'after-scenario'" in english.stderr, english.stderr  # --lang en reached the admin API
    assert "List the snapshots (careplan hub snapshot list)." in english.stderr
    assert "指定されたスナップショットが見つかりません。" in english.stderr  # the message stays as it is


def test_faults_corrections_and_journal_follow(running: tuple[str, Path, list[str]]) -> None:
    _, data, _ = running
    example = '{"kind": "http_error", "status": 503, "route": "POST /api/v1/transmissions", "count": 1}'
    assert answer(data, "faults", "add", example)["faults"][0]["rule"]["status"] == 503
    flags = answer(
        data, "faults", "add", "--kind", "latency", "--latency-ms", "50", "--operation", "list", "--seed", "3"
    )
    assert [f["rule"]["kind"] for f in flags["faults"]] == ["http_error", "latency"] and flags["faults"][1]["seed"] == 3
    assert len(answer(data, "faults", "list")["faults"]) == 2
    assert answer(data, "faults", "clear")["cleared"] == 2
    bad = hub_cmd(data, "faults", "add", '{"kind": "meteor"}', "--json")
    assert bad.returncode == 1 and json.loads(bad.stdout)["code"] == "BAD_REQUEST"
    signature = data.parent / "other-signer.der"
    signature.write_bytes(b"\x30\x03\x02\x01\x01")  # a DER SEQUENCE: judging it is the client's job
    substitute = answer(
        data,
        "faults",
        "add",
        "--kind",
        "substitute_signature",
        "--transmission",
        "0123456789abcdef0123456789abcdef",  # a transmission id: "t1" would never match one
        "--signature-file",
        str(signature),
    )
    rule = substitute["faults"][0]["rule"]
    assert (rule["kind"], rule["transmission"]) == ("substitute_signature", "0123456789abcdef0123456789abcdef")
    assert base64.b64decode(rule["signature"]) == signature.read_bytes()
    assert answer(data, "faults", "clear")["cleared"] == 1

    assert answer(data, "corrections")["corrections"] == []
    unknown = hub_cmd(data, "corrections", "--set", "999", "対応中")
    assert unknown.returncode == 1 and "CORRECTION_NOT_FOUND" in unknown.stderr

    follow = subprocess.Popen(
        [sys.executable, "-m", "careplan_cli.main", "hub", "--data", str(data), "journal", "--follow", "--limit", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follow.stdout is not None
        follow.stdout.readline()  # the date line above the latest entry: following has begun
        answer(data, "sessions")  # a new request
        lines = [follow.stdout.readline()]  # the rest of the latest entry (one or two lines), then it
        while "/admin/v1/sessions" not in lines[-1] and len(lines) < 4:
            lines.append(follow.stdout.readline())
        assert "/admin/v1/sessions" in lines[-1], lines
    finally:
        follow.send_signal(signal.SIGINT)
        follow.communicate(timeout=20)
    assert follow.returncode == 0


class _TrainerAtTheKeyboard:
    """A terminal's stdin where the trainer presses Ctrl-C at the first （Enter で次へ）, then Enter
    (had the Ctrl-C been lost, as asyncio.run's own SIGINT handler lost it, Enter goes on)."""

    def isatty(self) -> bool:
        return True

    def readline(self) -> str:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)  # where the signal lands: a blocked read
        return "\n"


def test_ctrl_c_at_the_demos_prompt_stops_it_and_gives_the_hub_its_clock_back(
    running: tuple[str, Path, list[str]], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from careplan_cli import demo

    url, data, _ = running
    before = answer(data, "clock", "show")
    monkeypatch.setattr("sys.stdin", _TrainerAtTheKeyboard())
    with pytest.raises(KeyboardInterrupt):
        demo.main(["--step", "--hub", url, "--data", str(data)])
    out = capsys.readouterr().out
    assert " 1. " in out and " 2. " not in out, out  # the first Ctrl-C stopped it, at the prompt
    after = answer(data, "clock", "show")
    assert after["mode"] == before["mode"] != "frozen", after  # not left in the demo's April 2025
