"""The error catalogue (careplan/errors.py): messages, statuses, wire round trip, findings."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import pytest

from careplan.errors import (
    CATALOGUE,
    MSG_APPLICATION_DONE,
    CareplanError,
    ErrorSpec,
    Finding,
    Lang,
    Operation,
)

# CI clones the repo with shared/ beside it; a developer's checkout has it at ../shared too.
REQUIREMENTS = Path(__file__).resolve().parents[3] / "shared" / "REQUIREMENTS.md"
CODES = sorted(CATALOGUE)
CERT_CODES = [
    "CERT_MISSING",
    "CERT_UNTRUSTED",
    "CERT_KIND_NOT_ACCEPTED",
    "CERT_REVOKED",
    "CERT_EXPIRED",
    "CERT_NOT_YET_VALID",
    "CERT_MALFORMED",
    "CERT_NO_CLIENT_AUTH",
    "CERT_OFFICE_MISMATCH",
    "SIGNER_MISMATCH",
]

# R2.3, typed out here rather than imported so that a changed constant fails.
LOGIN_CERT = "正しい電子証明書をインストールしてください。"
SEND_CERT = (
    "端末に登録されている証明書が一致しないため、送信に失敗しました。"
    "サポートサイトのエラー関連 FAQ を参考のうえ、再度実行してください。"
)
RECEIVE_CERT = (
    "端末に登録されている証明書が一致しないため、受信に失敗しました。"
    "サポートサイトのエラー関連 FAQ を参考のうえ、再度実行してください。"
)
SEND_FAILED = "送信に失敗しました。再度実行してください。"
RECEIVE_FAILED = "受信に失敗しました。再度実行してください。"


# --- the catalogue ------------------------------------------------------------------------------
@pytest.mark.parametrize("code", CODES)
def test_entry_is_complete(code: str) -> None:
    spec = CATALOGUE[code]
    assert spec.code == code
    assert spec.default_operation in spec.messages
    assert spec.message() == spec.messages[spec.default_operation]
    assert spec.message().strip()
    assert 400 <= spec.status <= 599
    # The explanation is English prose: starts with an ASCII capital and has English words.
    assert re.match(r"[A-Z]", spec.explanation), spec.explanation
    assert len(re.findall(r"\b[A-Za-z]{2,}\b", spec.explanation)) >= 3, spec.explanation
    assert spec.explanation.endswith("."), spec.explanation


def test_catalogue_has_the_codes_other_layers_match_on() -> None:
    assert set(CERT_CODES) | {
        "SIGNATURE_INVALID",
        "MANIFEST_INVALID",
        "FILE_TAMPERED",
        "REPLAY",
        "INTERNAL",
    } <= set(CATALOGUE)


def test_catalogue_is_read_only() -> None:
    with pytest.raises(TypeError):
        CATALOGUE["NEW"] = CATALOGUE["INTERNAL"]  # type: ignore[index]


def _real_messages() -> list[tuple[str, str]]:
    return sorted(
        {(spec.code, message) for spec in CATALOGUE.values() if spec.real for message in spec.messages.values()}
    )


@pytest.mark.parametrize(("code", "message"), _real_messages())
def test_real_message_is_verbatim_in_the_requirements(code: str, message: str) -> None:
    if not REQUIREMENTS.exists():
        pytest.skip(f"{REQUIREMENTS} is not present: cannot compare the real system's texts")
    assert message in REQUIREMENTS.read_text("utf-8"), f"{code}: {message!r} is not in REQUIREMENTS.md"


def test_application_done_notice_is_verbatim_in_the_requirements() -> None:
    if not REQUIREMENTS.exists():
        pytest.skip(f"{REQUIREMENTS} is not present: cannot compare the real system's texts")
    assert MSG_APPLICATION_DONE in REQUIREMENTS.read_text("utf-8")


@pytest.mark.parametrize("code", CERT_CODES)
def test_certificate_codes_speak_in_the_words_of_the_operation(code: str) -> None:
    assert CareplanError(code, operation=Operation.LOGIN).message == LOGIN_CERT
    assert CareplanError(code, operation=Operation.SEND).message == SEND_CERT
    assert CareplanError(code, operation=Operation.RECEIVE).message == RECEIVE_CERT
    assert CareplanError(code).operation is Operation.SEND
    assert CareplanError(code).message == SEND_CERT


@pytest.mark.parametrize("code", ["SIGNATURE_INVALID", "MANIFEST_INVALID", "FILE_TAMPERED", "REPLAY"])
def test_failed_codes_read_the_generic_send_and_receive_texts(code: str) -> None:
    assert CareplanError(code, operation=Operation.SEND).message == SEND_FAILED
    assert CareplanError(code, operation=Operation.RECEIVE).message == RECEIVE_FAILED
    assert CareplanError(code, operation=Operation.LOGIN).message == LOGIN_CERT


@pytest.mark.parametrize("code", CODES)
def test_operation_without_its_own_message_falls_back_to_the_default(code: str) -> None:
    spec = CATALOGUE[code]
    for operation in Operation:
        expected = spec.messages.get(operation, spec.messages[spec.default_operation])
        assert CareplanError(code, operation=operation).message == expected


def test_spec_without_message_for_default_operation_cannot_exist() -> None:
    with pytest.raises(ValueError, match="X: no message for"):
        ErrorSpec(
            code="X",
            messages={Operation.SEND: "x"},
            default_operation=Operation.LOGIN,
            explanation="An example.",
            status=400,
        )


def test_unknown_code_cannot_be_raised() -> None:
    with pytest.raises(KeyError, match="NO_SUCH_CODE"):
        CareplanError("NO_SUCH_CODE")


def test_error_carries_status_spec_and_readable_str() -> None:
    error = CareplanError("REPLAY", detail="transmission abc")
    assert error.status == 409
    assert error.spec is CATALOGUE["REPLAY"]
    assert str(error) == f"REPLAY: {SEND_FAILED} (transmission abc)"
    assert str(CareplanError("REPLAY")) == f"REPLAY: {SEND_FAILED}"


def test_with_operation_keeps_everything_but_the_operation() -> None:
    finding = Finding(rule="r", message="m", line=3)
    error = CareplanError("CERT_REVOKED", operation=Operation.SEND, detail="d", fix="f", findings=[finding])
    at_receive = error.with_operation(Operation.RECEIVE)
    assert (at_receive.code, at_receive.detail, at_receive.fix) == ("CERT_REVOKED", "d", "f")
    assert at_receive.findings == ({"rule": "r", "message": "m", "severity": "error", "line": 3},)
    assert at_receive.message == RECEIVE_CERT
    assert error.message == SEND_CERT


def test_in_context_words_only_what_the_raise_site_left_open() -> None:
    internal = CareplanError("INTERNAL", detail="trace")
    assert (internal.operation, internal.operation_named) == (Operation.LOAD, False)
    at_send = internal.in_context(Operation.SEND)
    assert (at_send.operation, at_send.message, at_send.detail) == (Operation.SEND, SEND_FAILED, "trace")
    assert internal.in_context(Operation.RECEIVE).message == RECEIVE_FAILED
    assert internal.in_context(Operation.LOGIN) is internal  # no login wording: the data load stays
    named = CareplanError("CERT_REVOKED", operation=Operation.LOGIN)
    assert named.in_context(Operation.RECEIVE) is named  # the raise site knew better than the route
    single = CareplanError("BAD_REQUEST")
    assert single.in_context(Operation.SEND) is single  # one message: nothing to word
    revived = pickle.loads(pickle.dumps(internal))
    assert not revived.operation_named and revived.in_context(Operation.SEND).message == SEND_FAILED


# --- the wire -----------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", list(Lang))
@pytest.mark.parametrize("operation", list(Operation))
@pytest.mark.parametrize("code", CODES)
def test_wire_round_trip(code: str, operation: Operation, lang: Lang) -> None:
    findings = [Finding(rule="csv.field", message="bad", file="a.csv", line=2, field_no=5), {"rule": "x"}]
    error = CareplanError(
        code,
        operation=operation,
        detail="まさにこれ",
        fix="こうする",
        detail_en="exactly this",
        fix_en="do that",
        findings=findings,
    )
    wire = json.loads(json.dumps(error.to_wire(lang), ensure_ascii=False))
    english = lang is Lang.EN
    assert wire == {
        "code": code,
        "message": error.message,  # the real system's Japanese in either language
        "operation": operation.value,
        "explanation": CATALOGUE[code].explanation if english else CATALOGUE[code].explanation_ja,
        "detail": "exactly this" if english else "まさにこれ",
        "fix": "do that" if english else "こうする",
        "findings": [
            {"rule": "csv.field", "message": "bad", "severity": "error", "file": "a.csv", "line": 2, "field_no": 5},
            {"rule": "x"},
        ],
        "lang": lang.value,
    }
    back = CareplanError.from_wire(wire)
    assert type(back) is type(error)
    assert (back.code, back.operation, back.detail_in(lang), back.fix_in(lang)) == (
        code,
        operation,
        wire["detail"],
        wire["fix"],
    )
    assert back.message == error.message
    assert back.findings == error.findings
    assert back.to_wire(lang) == error.to_wire(lang)


def test_unknown_wire_code_becomes_internal_keeping_the_original() -> None:
    body = {"code": "BRAND_NEW", "message": "新しいエラー", "operation": "send", "detail": "what went wrong"}
    error = CareplanError.from_wire(body)
    assert error.code == "INTERNAL"
    assert error.status == 500
    assert "BRAND_NEW" in error.detail
    assert "新しいエラー" in error.detail
    assert "what went wrong" in error.detail
    assert error.operation is Operation.SEND


def test_from_wire_tolerates_missing_and_odd_fields() -> None:
    error = CareplanError.from_wire({})
    assert (error.code, error.detail, error.fix, error.findings) == ("INTERNAL", "", "", ())
    assert error.fix_in(Lang.JA) == CATALOGUE["INTERNAL"].fix_ja  # the catalogue's fix, never empty
    assert error.operation is Operation.LOAD
    odd = CareplanError.from_wire(
        {"code": "REPLAY", "operation": "dance", "detail": None, "findings": [1, "x", {"rule": "r"}]}
    )
    assert odd.operation is Operation.SEND  # unknown operation: the code's default
    assert odd.detail == ""
    assert odd.findings == ({"rule": "r"},)
    assert CareplanError.from_wire({"code": "REPLAY", "findings": {"rule": "r"}}).findings == ()


# --- findings -----------------------------------------------------------------------------------
def test_finding_to_dict_drops_none_only() -> None:
    assert Finding(rule="r", message="m").to_dict() == {"rule": "r", "message": "m", "severity": "error"}
    full = Finding(
        rule="r",
        message="m",
        severity="warning",
        file="f",
        line=0,
        field_no=0,
        field_name="",
        value="",
        expected="e",
        section="s",
        fix="x",
    )
    assert full.to_dict() == {
        "rule": "r",
        "message": "m",
        "severity": "warning",
        "file": "f",
        "line": 0,
        "field_no": 0,
        "field_name": "",
        "value": "",
        "expected": "e",
        "section": "s",
        "fix": "x",
    }


def test_finding_is_frozen() -> None:
    finding = Finding(rule="r", message="m")
    with pytest.raises(AttributeError):
        finding.rule = "other"  # type: ignore[misc]
