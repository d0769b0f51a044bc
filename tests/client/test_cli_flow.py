"""The quick start as a vendor or trainer uses it: `careplan up` in one process, the client CLI in
others; human tables, --json for machines, and exit statuses for refusals."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from careplan.errors import CATALOGUE, MSG_SENDER_NOT_APPLIED
from careplan_cli.up import login_args
from fixtures.samples import sample_actuals_set, sample_plan_set
from tests.conftest import careplan_up, run_careplan
from tests.test_cli_hostile_input import unfolded

pytestmark = pytest.mark.slow


@dataclass(frozen=True, slots=True)
class Demo:
    data: Path
    url: str
    offices: dict[str, dict[str, str]]
    home: Path

    def client(self, profile: str, *args: str) -> subprocess.CompletedProcess[str]:
        return run_careplan("client", "--home", str(self.home), "--profile", profile, *args)

    def login(self, profile: str) -> subprocess.CompletedProcess[str]:
        return self.client(profile, "--json", *login_args(self.url, self.data / "ca" / "ca.pem", self.offices[profile]))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    root = tmp_path_factory.mktemp("demo")
    with careplan_up(root) as (url, data, output):
        offices = json.loads((data / "demo" / "offices.json").read_text("utf-8"))
        yield Demo(data=data, url=url, offices=offices, home=root / "home")
    assert "別のシェルで試すには、次を貼り付けてください:\nTry it from another shell" in output[0]


def _json(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout))


def test_send_download_and_send_list_from_the_shell(demo: Demo, tmp_path: Path) -> None:
    houmon = demo.offices["houmon"]["office_number"]
    me = _json(demo.login("kyotaku"))
    assert me["office"]["office_number"] == demo.offices["kyotaku"]["office_number"]  # type: ignore[index]
    assert "token" not in me
    samples = sorted(str(p) for p in (demo.data / "demo" / "samples").glob("*.CSV"))
    sent = _json(demo.client("kyotaku", "--json", "send", *samples, "--to", houmon))
    tid = str(sent["transmission_id"])
    assert sent["status"] == "未ダウンロード"

    _json(demo.login("houmon"))
    inbox = _json(demo.client("houmon", "--json", "inbox"))
    assert tid in [t["transmission_id"] for t in inbox["transmissions"]]  # type: ignore[attr-defined]
    table = demo.client("houmon", "inbox")
    assert tid in table.stdout and "未ダウンロード" in table.stdout

    got = _json(demo.client("houmon", "--json", "download", tid, "--out", str(tmp_path)))
    [download] = got["downloads"]  # type: ignore[misc]
    assert sorted(Path(f).name for f in download["files"]) == sorted(Path(s).name for s in samples)
    for sample in samples:
        assert (tmp_path / tid / Path(sample).name).read_bytes() == Path(sample).read_bytes()

    listed = demo.client("kyotaku", "sent")
    assert listed.returncode == 0 and "ダウンロード済" in listed.stdout and tid in listed.stdout

    again = demo.client("houmon", "download", tid, "--out", str(tmp_path / "again"))
    assert again.returncode == 1
    assert "ALREADY_DOWNLOADED" in again.stderr and "送信元事業所に再送を依頼してください" in unfolded(again.stderr)


def test_temporary_password_gets_the_real_message(demo: Demo) -> None:
    done = demo.login("mishinsei")  # its KJ password is temporary until changed on the usage website
    assert done.returncode == 1
    error = json.loads(done.stdout)["error"]
    assert (error["code"], error["message"]) == ("PASSWORD_EXPIRED", "パスワードの有効期限が切れています")


def test_unlicensed_sender_gets_the_real_message_in_both_outputs(demo: Demo, tmp_path: Path) -> None:
    o = demo.offices["mishinsei"]
    personal = o | {"user": o["personal_user"], "password": o["personal_password"]}
    _json(demo.client("mishinsei", "--json", *login_args(demo.url, demo.data / "ca" / "ca.pem", personal)))
    kyotaku = demo.offices["kyotaku"]["office_number"]
    files = sample_actuals_set(sender=demo.offices["mishinsei"]["office_number"], sender_kind="13", recipient=kyotaku)
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    done = demo.client("mishinsei", "--json", "send", *paths, "--to", kyotaku)
    assert done.returncode == 1
    error = json.loads(done.stdout)["error"]
    assert (error["code"], error["message"]) == ("SENDER_NOT_APPLIED", MSG_SENDER_NOT_APPLIED)
    human = demo.client("mishinsei", "send", *paths, "--to", kyotaku)
    assert human.returncode == 1
    assert MSG_SENDER_NOT_APPLIED in unfolded(human.stderr) and "詳細:" in human.stderr and "対処:" in human.stderr
    assert unfolded(CATALOGUE["SENDER_NOT_APPLIED"].explanation_ja) in unfolded(human.stderr)  # Japanese by default
    english = demo.client("mishinsei", "--lang", "en", "send", *paths, "--to", kyotaku)
    assert english.returncode == 1 and MSG_SENDER_NOT_APPLIED in unfolded(english.stderr)  # the real text stays
    assert (
        unfolded(CATALOGUE["SENDER_NOT_APPLIED"].explanation) in unfolded(english.stderr) and "fix:" in english.stderr
    )


def test_wrong_p12_password_is_a_local_error(demo: Demo) -> None:
    office = demo.offices["yogu"] | {"p12_password": "wrong"}
    done = demo.client("yogu", *login_args(demo.url, demo.data / "ca" / "ca.pem", office))
    assert done.returncode == 2
    assert "PKCS#12" in done.stderr


def test_unreachable_hub(demo: Demo) -> None:
    done = demo.client(
        "tsusho", "--json", *login_args("https://127.0.0.1:9", demo.data / "ca" / "ca.pem", demo.offices["tsusho"])
    )
    assert done.returncode == 3
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "HUB_UNREACHABLE"
    assert error["detail"].startswith("https://127.0.0.1:9 に接続できません（Cannot connect to host 127.0.0.1:9")
    assert "ConnectionKey(" not in error["detail"], "the reason, not Python's repr of the exception"


def test_usage_without_profile(demo: Demo) -> None:
    done = demo.client("nobody", "inbox")
    assert done.returncode == 2 and "login" in done.stderr


def test_bulk_send_of_a_folder(demo: Demo, tmp_path: Path) -> None:
    _json(demo.login("kyotaku"))
    me = demo.offices["kyotaku"]["office_number"]
    for profile, kind in (("houmon", "11"), ("tsusho", "15"), ("yogu", "17")):
        number = demo.offices[profile]["office_number"]
        for name, data in sample_plan_set(sender=me, recipient=number, recipient_kind=kind).items():
            (tmp_path / name).write_bytes(data)
    result = _json(demo.client("kyotaku", "--json", "bulk-send", str(tmp_path)))
    assert len(result["sent"]) == 3 and result["failed"] == [] and result["unplaced"] == []  # type: ignore[arg-type]
    (tmp_path / "plans.zip").write_bytes(b"PK\x03\x04" + bytes(30))
    human = demo.client("kyotaku", "bulk-send", str(tmp_path))
    assert human.returncode == 1
    assert "DATA_LOAD_FAILED" in human.stderr and "plans.zip" in human.stderr


def test_whoami_and_logout(demo: Demo) -> None:
    _json(demo.login("tsusho"))
    me = demo.client("tsusho", "whoami")
    assert me.returncode == 0 and "ライセンス期限" in me.stdout and demo.offices["tsusho"]["office_number"] in me.stdout
    told = {"logged_out": True, "token_removed": True, "hub_notified": True}
    assert _json(demo.client("tsusho", "--json", "logout")) == told
    after = demo.client("tsusho", "--json", "whoami")
    assert after.returncode == 1 and json.loads(after.stdout)["error"]["code"] == "SESSION_REQUIRED"
    again = demo.client("tsusho", "logout")  # nothing to end: said, and not an error
    assert again.returncode == 0 and "ログインしていません" in again.stdout


def test_clock_cli_moves_the_running_hub(demo: Demo) -> None:
    moved = run_careplan("hub", "--data", str(demo.data), "clock", "advance", "--days", "2", "--json")
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["mode"] == "offset"
    frozen = json.loads(
        run_careplan(
            "hub", "--data", str(demo.data), "clock", "set", "2027-04-16T09:00:00+09:00", "--frozen", "--json"
        ).stdout
    )
    assert (frozen["mode"], frozen["now"]) == ("frozen", "2027-04-16T09:00:00+09:00")  # JST, like every command
    reset = run_careplan("hub", "--data", str(demo.data), "clock", "reset", "--json")
    assert json.loads(reset.stdout)["mode"] == "real"
    human = run_careplan("hub", "--data", str(demo.data), "clock", "show").stdout  # for people: labels, JST
    assert "ハブ時刻 / hub time" in human and "実時間 / real" in human


def test_audit_and_key_rotation_from_the_shell(demo: Demo) -> None:
    audit = run_careplan("hub", "--data", str(demo.data), "audit", "--json")
    assert audit.returncode == 0
    codes = [r["code"] for r in json.loads(audit.stdout)["refusals"]]
    assert "ALREADY_DOWNLOADED" in codes and "SENDER_NOT_APPLIED" in codes
    human = run_careplan("hub", "--data", str(demo.data), "audit")
    assert "SENDER_NOT_APPLIED" in human.stdout
    rotated = run_careplan("hub", "--data", str(demo.data), "keys", "rotate", "--retire-old", "--json")
    assert rotated.returncode == 0, rotated.stderr
    keys = json.loads((demo.data / "keys" / "payload-keys.json").read_text())
    assert [k["id"] for k in keys] == [json.loads(rotated.stdout)["active_key"]]


def test_lists_and_downloads_fit_80_columns_when_piped(demo: Demo, tmp_path: Path) -> None:
    """Piped (not a terminal, no $COLUMNS): the send list, the inbox and a download's lines keep to
    80 columns, with the ID whole, and the files by name under the folder they went to."""
    from rich.cells import cell_len

    houmon = demo.offices["houmon"]["office_number"]
    _json(demo.login("kyotaku"))
    _json(demo.login("houmon"))
    samples = sorted(str(p) for p in (demo.data / "demo" / "samples").glob("*.CSV"))
    tid = str(_json(demo.client("kyotaku", "--json", "send", *samples, "--to", houmon))["transmission_id"])
    for done in (demo.client("kyotaku", "sent", "--limit", "3"), demo.client("houmon", "inbox", "--all")):
        assert done.returncode == 0, done.stderr
        assert all(cell_len(line) <= 80 for line in done.stdout.splitlines()), done.stdout
        assert f"ID                {tid}" in done.stdout.splitlines()
    got = demo.client("houmon", "download", tid, "--out", str(tmp_path))
    assert got.returncode == 0 and got.stderr == "", got.stderr  # no progress bar when piped
    lines = got.stdout.splitlines()
    assert lines[0] == f"ダウンロードしました / downloaded {tid}"
    assert f"  保存先 / to    {tmp_path / tid}/" in lines
    assert {f"    {Path(s).name}" for s in samples} <= set(lines)
