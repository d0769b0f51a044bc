"""Scenario steps for the control plane: `faults` (a cut download our client repeats, an early
session expiry it logs in again after) and `snapshot` (save, change, restore), in-process."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from controlkit import ok

from careplan_cli import scenarios as scenarios_cli
from scenarios import report
from scenarios.drivers import RemoteHub
from scenarios.loader import ScenarioError, load_file
from scenarios.runner import run, run_all, run_scenario
from tests.conftest import HubUnderTest

SCENARIO = """
name: 障害模擬とスナップショット
clock: 2026-04-10T10:00:00+09:00
offices:
  居宅A: {kind: "43"}
  訪問B: {kind: "11"}
steps:
  - snapshot: {save: 空}
  - as: 居宅A
    send: {plan_to: 訪問B}
    save: tid
  - faults:
      seed: 7
      add:
        - {kind: cut_download, route: "GET /api/v1/inbox/*/files/*", office: 訪問B, after_bytes: 200, count: 1}
        - {kind: expire_session, operation: list, count: 1}
  - as: 訪問B
    inbox: {expect_ids: ["${tid}"]}
  - as: 訪問B
    download: ${tid}
  - as: 居宅A
    sent: {expect_status: {"${tid}": ダウンロード済}, expect_count: 1}
  - faults: {clear: true}
  - snapshot: {restore: 空}
  - as: 居宅A
    sent: {expect_count: 0}
"""


def test_fault_and_snapshot_steps_play_in_a_scenario(tmp_path: Path) -> None:
    path = tmp_path / "control.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    [result] = run(load_file(path))
    assert result.passed, [(s.action, s.outcome, s.note) for s in result.steps]


def test_bad_control_steps_are_reported_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SCENARIO.replace("{restore: 空}", "{restore: 空, save: x}"), encoding="utf-8")
    try:
        load_file(path)
    except ScenarioError as error:
        assert "snapshot needs {save: NAME} or {restore: NAME}" in str(error)
    else:
        raise AssertionError("a snapshot step with two actions was accepted")


async def test_a_run_against_a_running_hub_leaves_its_snapshots_and_fault_rules_as_it_found_them(
    hub: HubUnderTest, tmp_path: Path
) -> None:
    """`scenarios run --hub`: the scenario's `snapshot: {save: 空}` overwrote the hub's own 空 (a
    trainer's) and stayed in its list; its fault rules (control database, outside any snapshot)
    stayed on the hub, matching offices that no longer exist."""
    own = await ok(hub, "POST", "/admin/v1/snapshots", {"name": "空"})
    rule = {"kind": "http_error", "status": 503, "route": "POST /api/v1/transmissions", "count": 2}
    await ok(hub, "POST", "/admin/v1/faults", {"seed": 3, "rules": [rule]})
    path = tmp_path / "control.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    [scenario] = load_file(path)
    result = await run_scenario(scenario, hub=(hub.url, hub.config.data_dir))
    assert result.passed, (result.error, [(s.action, s.outcome, s.note) for s in result.steps])
    snapshots = (await ok(hub, "GET", "/admin/v1/snapshots"))["snapshots"]
    assert [(s["name"], s["saved_at"]) for s in snapshots] == [("空", own["saved_at"])]
    [fault] = (await ok(hub, "GET", "/admin/v1/faults"))["faults"]
    assert fault["seed"] == 3 and fault["remaining"] == 2
    assert {k: fault["rule"][k] for k in rule} == rule


STOPPED = """
name: ハブが途中で止まる
clock: 2026-04-10T10:00:00+09:00
offices:
  居宅A: {kind: "43"}
steps:
  - as: 居宅A
    login: {}
  - clock: {advance: {days: 1}}
  - as: 居宅A
    login: {}
"""


@pytest.fixture
def stops_at_the_clock_step(hub: HubUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The running hub stops when a scenario's clock step is about to move its clock."""
    advance = RemoteHub.advance_clock

    async def stop_then_advance(self: RemoteHub, delta: object) -> object:
        await hub.running.stop()
        return await advance(self, delta)  # type: ignore[arg-type]

    monkeypatch.setattr(RemoteHub, "advance_clock", stop_then_advance)


@pytest.mark.usefixtures("stops_at_the_clock_step")
async def test_a_hub_stopped_mid_run_is_the_steps_hub_unreachable_and_says_how_to_put_it_back(
    hub: HubUnderTest, tmp_path: Path
) -> None:
    """The hub goes away between two steps: the step reads HUB_UNREACHABLE as a client's would (it
    was 'setup failed: ClientConnectorError: Cannot connect to host…', the step lost), and the
    teardown that cannot restore the hub names the snapshot that puts it back."""
    path = tmp_path / "stopped.yaml"
    path.write_text(STOPPED, encoding="utf-8")
    [scenario] = load_file(path)
    result = await run_scenario(scenario, hub=(hub.url, hub.config.data_dir))
    assert [(s.outcome, s.skipped) for s in result.steps] == [
        ("ok", False),
        ("HUB_UNREACHABLE", False),
        ("skipped", True),
    ]
    assert "に接続できません" in result.steps[1].explanation["detail"]
    assert result.error.startswith("ハブを実行前の状態に戻せませんでした（careplan hub snapshot restore _scenario-run-")
    assert (
        " / the hub was not put back as the run found it (careplan hub snapshot restore _scenario-run-" in result.error
    )
    assert "HUB_UNREACHABLE: " in result.error
    text = report.failure_text(result)
    assert "ステップ 2（" in text and "後片付けに失敗しました / teardown failed: ハブを実行前の状態に" in text


@pytest.mark.usefixtures("stops_at_the_clock_step")
async def test_once_the_hub_stops_the_run_reports_the_remaining_scenarios_not_run(
    hub: HubUnderTest, tmp_path: Path
) -> None:
    """The hub stops in the first of three scenarios: the other two each tried their setup and
    failed with HUB_UNREACHABLE too. They are not run, each saying why, their steps skipped."""
    path = tmp_path / "stopped.yaml"
    path.write_text("\n---\n".join(STOPPED.replace("止まる", f"止まる {n}") for n in (1, 2, 3)), encoding="utf-8")
    first, *rest = await run_all(load_file(path), hub=(hub.url, hub.config.data_dir))
    assert first.hub_unreachable and [s.outcome for s in first.steps] == ["ok", "HUB_UNREACHABLE", "skipped"]
    assert [(r.skipped, r.error, r.passed) for r in rest] == [(True, "", False)] * 2
    for result in rest:
        assert result.skip_reason == (
            "ハブに接続できないため実行していません（stopped.yaml:2 で HUB_UNREACHABLE）"
            " / not run: the hub does not answer (HUB_UNREACHABLE at stopped.yaml:2)"
        )
        assert [(s.outcome, s.skipped) for s in result.steps] == [("skipped", True)] * 3


async def test_a_run_whose_hub_does_not_answer_exits_3_and_reports_the_rest_not_run(
    hub: HubUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`careplan scenarios run --hub` with the hub stopped: the first scenario's setup meets
    HUB_UNREACHABLE; the second is not run (terminal, JUnit, JSON, HTML say so, Japanese first), the
    run says how to check the hub and exits 3, the status of every command for a hub out of reach."""
    monkeypatch.setenv("COLUMNS", "200")
    await hub.running.stop()
    path = tmp_path / "stopped.yaml"
    path.write_text(STOPPED + "\n---\n" + STOPPED.replace("止まる", "止まる 2"), encoding="utf-8")
    reports = {kind: tmp_path / f"r.{kind}" for kind in ("junit", "json", "html")}
    options = [item for kind, target in reports.items() for item in (f"--{kind}", str(target))]
    argv = ["run", str(path), "--hub", hub.url, "--data", str(hub.config.data_dir), *options]
    status = await asyncio.to_thread(scenarios_cli.main, argv)
    printed = capsys.readouterr()
    assert status == 3, printed.out + printed.err
    out = printed.out.splitlines()
    assert out[0].startswith("失敗 FAIL ") and out[1] == "      準備に失敗しました / setup failed: HUB_UNREACHABLE:"
    skipped = next(n for n, line in enumerate(out) if line.startswith("未実行 SKIP "))
    assert out[skipped].endswith("stopped.yaml:15  ハブが途中で止まる 2")
    assert out[skipped + 1].startswith("      ハブに接続できないため実行していません（stopped.yaml:2 で")
    assert out[-1] == "成功 0 件・失敗 1 件・未実行 1 件 / 0 passed, 1 failed, 1 not run"
    err = printed.err.splitlines()
    assert err[0].startswith("careplan scenarios: ハブに接続できないため、残りのシナリオを実行しませんでした。")
    assert "careplan up" in printed.err and "run again" in printed.err
    assert err[-1] == f"  careplan hub --data {hub.config.data_dir} clock show"

    suite = ET.fromstring(reports["junit"].read_text("utf-8"))
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("2", "1", "1")
    failed, not_run = suite.iter("testcase")
    assert failed.find("failure") is not None and failed.find("skipped") is None
    assert not_run.find("failure") is None
    skip = not_run.find("skipped")
    assert skip is not None and (skip.get("message") or "").startswith("ハブに接続できないため実行していません")
    data = json.loads(reports["json"].read_text("utf-8"))
    assert data["summary"] == {"scenarios": 2, "passed": 0, "failed": 1, "skipped": 1}
    assert [(r["skipped"], r["passed"]) for r in data["results"]] == [(False, False), (True, False)]
    assert data["results"][1]["skip_reason"].startswith("ハブに接続できないため実行していません")
    page = reports["html"].read_text("utf-8")
    assert "未実行 / not run <b>1</b>" in page and "ハブに接続できないため実行していません" in page
    summary = page[page.index('id="summary"') : page.index("詳細 / details")]
    assert summary.index('class="summary fail"') < summary.index('class="summary skip"')  # failures first
