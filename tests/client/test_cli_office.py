"""The quick start and the client as a new user meets them (issue 13): the banner names the pages
and the offices' state as the hub has it now; a second `careplan up` says what to do and exits;
`download --all` with nothing waiting is fine; a wrong `--to` never reaches the hub."""

from __future__ import annotations

import json
import sqlite3
import ssl
import time
import urllib.request
from pathlib import Path

import pytest
from rich.cells import cell_len

from hub.passwords import hash_password
from tests.conftest import careplan_up, run_careplan

pytestmark = pytest.mark.slow


def _row(output: str, office_number: str, profile: str) -> str:
    """An office's rows in the banner's tables: its state by 事業所番号, its credentials by profile."""
    keys = {office_number, profile}
    return "\n".join(line for line in output.splitlines() if "│" in line and keys & set(line.split()))


def _admin(url: str, data: Path, path: str, body: dict[str, str]) -> None:
    context = ssl.create_default_context(cafile=str(data / "ca" / "ca.pem"))
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {(data / 'admin-token').read_text().strip()}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, context=context, timeout=30) as response:
        assert response.status == 200


def test_banner_second_up_and_client_corner_cases(tmp_path: Path) -> None:
    with careplan_up(tmp_path) as (url, data, first):
        offices = json.loads((data / "demo" / "offices.json").read_text("utf-8"))
        mishinsei, kyotaku = offices["mishinsei"], offices["kyotaku"]
        _admin(url, data, f"/admin/v1/offices/{mishinsei['office_number']}/licence", {"action": "apply"})

        started = time.monotonic()
        again = run_careplan("up", "--data", str(data), "--port", "0", timeout=30)
        assert again.returncode == 2 and time.monotonic() - started < 15
        assert "既に動いています" in again.stderr and url in again.stderr

        port = url.rsplit(":", 1)[1]
        taken = run_careplan("up", "--data", str(tmp_path / "other"), "--port", port, timeout=30)
        assert taken.returncode == 2 and "--port" in taken.stderr and "Traceback" not in taken.stderr
        said = taken.stderr.splitlines()  # Japanese first; the reason without asyncio's repeated address (was 90)
        assert all(cell_len(line) <= 80 for line in said), said
        assert said.index("  別のハブ（またはほかのプログラム）がこのポートを使っています。") < next(
            n for n, line in enumerate(said) if line.startswith("  another hub")
        )

        home = str(tmp_path / "home")
        wrong_to = run_careplan("client", "--home", home, "send", "x.CSV", "--to", "137010001")
        assert wrong_to.returncode == 2 and "事業所番号" in wrong_to.stderr

        login = run_careplan(
            "client", "--home", home, "--profile", "houmon", "login", "--hub", url, "--ca", str(data / "ca" / "ca.pem"),
            "--p12", offices["houmon"]["p12"], "--p12-password", offices["houmon"]["p12_password"],
            "--user", offices["houmon"]["user"], "--password", offices["houmon"]["password"],
        )  # fmt: skip
        assert login.returncode == 0, login.stderr
        nothing = run_careplan("client", "--home", home, "--profile", "houmon", "download", "--all")
        assert nothing.returncode == 0 and "受信待ちのデータはありません" in nothing.stdout
        as_json = run_careplan("client", "--home", home, "--profile", "houmon", "--json", "download", "--all")
        assert as_json.returncode == 0
        assert json.loads(as_json.stdout) == {"downloads": [], "failed": None, "not_attempted": []}
        me = json.loads(run_careplan("client", "--home", home, "--profile", "houmon", "--json", "whoami").stdout)
        assert me["hub_time"].endswith("+09:00") and "." not in me["hub_time"]  # ISO 8601, seconds, offset

    before = first[0]
    for path in ("/", "/web/", "/directory", "/api", "/trust"):
        assert f"{url}{path} " in before + " " or f"{url}{path}\n" in before
    # An office changes its password on the website (here: straight in the database, hub stopped).
    with sqlite3.connect(data / "hub.sqlite3") as db:
        db.execute(
            "UPDATE users SET password_hash = ? WHERE user_id = ?", (hash_password("Changed2026ok"), kyotaku["user"])
        )
    with careplan_up(tmp_path) as (_, _, second):
        pass
    after = second[0]
    assert kyotaku["password"] in _row(before, kyotaku["office_number"], "kyotaku")
    assert kyotaku["password"] not in _row(after, kyotaku["office_number"], "kyotaku")
    assert "変更済み" in _row(after, kyotaku["office_number"], "kyotaku")
    assert _row(before, mishinsei["office_number"], "mishinsei") != _row(after, mishinsei["office_number"], "mishinsei")
