"""The judges' verdicts for the two staged steps, without a hub: a refusal only the hub can make
must be on the hub's record, and a refused download names what was wrong with it. Each reason reads
Japanese first, the English beside it ("日本語 / English")."""

from __future__ import annotations

from conformance.judges import FAIL, PASS, judge_not_acknowledged, judge_refused, real_message
from conformance.protocol import Answer
from conformance.wording import Said

SHOWN = Answer(
    result={"ok": False, "error": {"code": "SENDER_NOT_APPLIED", "message": real_message("SENDER_NOT_APPLIED")}}
)
HUB_REFUSAL = {"at": "2026-12-01T09:00:00+00:00", "code": "SENDER_NOT_APPLIED", "detail": "…", "id": 1}


def test_the_real_message_passes_only_with_the_hubs_refusal_on_record() -> None:
    alone = judge_refused([], SHOWN, code="SENDER_NOT_APPLIED", hub_refusals=[], hub_must_refuse=True)
    assert alone.status == FAIL
    assert str(alone.reason) == (
        "このステップでハブは SENDER_NOT_APPLIED の拒否を記録していません: "
        "クライアントは送信し、ハブの応答を表示しなければなりません / "
        "the hub recorded no SENDER_NOT_APPLIED refusal in this step: the client must send and show the hub's answer"
    )
    refused = judge_refused([], SHOWN, code="SENDER_NOT_APPLIED", hub_refusals=[HUB_REFUSAL], hub_must_refuse=True)
    assert refused.status == PASS and refused.evidence["hub_refusals"][0]["code"] == "SENDER_NOT_APPLIED"
    assert judge_refused([], SHOWN, code="SENDER_NOT_APPLIED", hub_refusals=[]).status == PASS  # a local refusal


def test_an_acknowledged_wrong_signer_fails_with_what_was_wrong() -> None:
    tid = "ab" * 16
    stored = {"transmission_id": tid, "downloaded_at": "2026-12-01T09:00:00+00:00", "downloaded_by": "KJ1370100016"}
    problem = Said(
        "署名が送信元 1379087693 ではなく事業所 1372991701 によるもの",
        "the signature was made by office 1372991701, not by the sender 1379087693",
    )
    verdict = judge_not_acknowledged(stored, Answer(result={"downloaded": [tid]}), problem=problem)
    assert verdict.status == FAIL and str(verdict.reason) == (
        f"署名が送信元 1379087693 ではなく事業所 1372991701 によるものにもかかわらず、クライアントは {tid} を"
        f"受信確認しました / the client acknowledged {tid} although the signature was made by office 1372991701, "
        "not by the sender 1379087693"
    )
    assert str(verdict.arrived) == "ダウンロード済（KJ1370100016） / downloaded by KJ1370100016"
    refused = Answer(result={"refused": [{"transmission_id": tid, "error": {"code": "SIGNER_MISMATCH"}}]})
    kept = judge_not_acknowledged(stored | {"downloaded_at": None, "downloaded_by": None}, refused, problem=problem)
    assert kept.status == PASS and problem.ja in kept.expected.ja and problem.en in kept.expected.en
    assert str(kept.arrived) == "拒否: SIGNER_MISMATCH / refused: SIGNER_MISMATCH"
