"""The impersonation library covers every row of the README's impersonation matrix, and the send /
inbox attack options are checked when a file is loaded."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scenarios.loader import LIBRARY, ScenarioError, load_file

MATRIX_CODES = {
    "CERT_OFFICE_MISMATCH",
    "SIGNER_MISMATCH",
    "CERT_KIND_NOT_ACCEPTED",
    "CERT_UNTRUSTED",
    "CERT_NO_CLIENT_AUTH",
    "CERT_EXPIRED",
    "CERT_NOT_YET_VALID",
    "CERT_REVOKED",
    "FILE_TAMPERED",
    "SIGNATURE_INVALID",
    "REPLAY",
    "COMBINATION_INVALID",
    "SIGNING_TIME_INVALID",
}


def test_every_matrix_code_is_a_scenario_and_refusals_store_nothing() -> None:
    scenarios = load_file(LIBRARY / "impersonation.yaml")
    codes = {s.expect.error for sc in scenarios for s in sc.steps if s.expect.error}
    assert codes >= MATRIX_CODES, MATRIX_CODES - codes
    used = {(s.action, k) for sc in scenarios for s in sc.steps if isinstance(s.argument, dict) for k in s.argument}
    assert {("send", "forge"), ("send", "tamper"), ("send", "signed_at"), ("send", "replay")} <= used
    assert {("send", "manifest_to"), ("inbox", "steal_session")} <= used
    forged = [sc for sc in scenarios if any(s.action == "send" and "forge" in s.argument for s in sc.steps)]
    assert {k for sc in forged for s in sc.steps if "forge" in (s.argument or {}) for k in s.argument["forge"]} == {
        "signed_by",
        "claim_sender",
        "other_certificate",
    }
    for sc in scenarios:  # every new refusal of a transmission is followed by an inbox check
        if any(s.action == "send" and s.expect.error for s in sc.steps):
            assert sc.steps[-1].action == "inbox", sc.name


HEAD = """\
name: x
clock: 2026-04-10T10:00:00+09:00
offices:
  居宅A: {kind: "43"}
  訪問B: {kind: "11"}
steps:
"""


@pytest.mark.parametrize(
    ("step", "japanese", "english"),
    [
        (
            "  - as: 居宅A\n    send: {plan_to: 訪問B, forge: {signed_by: 居宅Z}}\n",
            "send: 事業所 '居宅Z' は offices に書かれていません",
            "unknown office '居宅Z'",
        ),
        (
            "  - as: 居宅A\n    send: {plan_to: 訪問B, forge: {nope: 1}}\n",
            "send: forge には claim_sender, other_certificate, signed_by のどれか 1 つを書きます",
            "forge takes one of those listed",
        ),
        (
            "  - as: 居宅A\n    send: {plan_to: 訪問B, tamper: header}\n",
            "send: tamper 'header' は使えません（file, manifest のいずれか）",
            "tamper 'header' is not one of those listed",
        ),
        (
            "  - as: 居宅A\n    send: {plan_to: 訪問B, signed_at: {weeks: 1}}\n",
            "send: signed_at にはハブの時計からのずれを",
            "signed_at takes {days, hours, minutes, seconds} relative to the hub's clock",
        ),
        (
            "  - as: 居宅A\n    send: {replay: x, plan_to: 訪問B}\n",
            "send: replay にはほかの項目を書けません",
            "replay takes nothing else",
        ),
        (
            "  - as: 居宅A\n    send: {plan_to: 訪問B, manifest_to: 居宅Z}\n",
            "send: 事業所 '居宅Z' は offices に書かれていません",
            "unknown office '居宅Z'",
        ),
        (
            "  - as: 居宅A\n    inbox: {steal_session: 居宅Z}\n",
            "inbox: 事業所 '居宅Z' は offices に書かれていません",
            "unknown office '居宅Z'",
        ),
    ],
)
def test_attack_options_are_checked_with_line_numbers(tmp_path: Path, step: str, japanese: str, english: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(HEAD + textwrap.dedent(step), "utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_file(path)
    text = str(caught.value)
    assert text.startswith(f"bad.yaml:8: ステップ 1: {japanese}"), text
    assert f" / {english}" in text and "\n" not in text, text
