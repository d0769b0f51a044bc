"""Scenario steps for the control plane: `faults` (a cut download our client repeats, an early
session expiry it logs in again after) and `snapshot` (save, change, restore), in-process."""

from __future__ import annotations

from pathlib import Path

from scenarios.loader import ScenarioError, load_file
from scenarios.runner import run

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
