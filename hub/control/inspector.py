"""The message inspector: one transmission's whole life from the journal (submitted, stored,
downloaded, acknowledged, and any refusal), its signature chain and its decision chain."""

from __future__ import annotations

from typing import Any

from careplan.certificates import identity_of
from careplan.errors import CATALOGUE, CareplanError, Operation
from careplan.signature import verify
from hub.control.journal import Journal
from hub.service import HubService

_LIFE = {
    ("POST", "/api/v1/transmissions"): "submitted",
    ("GET", "/api/v1/inbox/{transmission_id}"): "download started",
    ("GET", "/api/v1/inbox/{transmission_id}/files/{position}"): "file downloaded",
    ("POST", "/api/v1/inbox/{transmission_id}/ack"): "acknowledged",
}
STEPS_JA = {
    "manifest": "送信票（マニフェスト）",
    "signature": "電子署名",
    "certificate": "電子証明書",
    "signer": "署名者＝端末＝ログイン＝送信元",
    "files": "ファイルと送信票の一致",
    "replay": "再送信（リプレイ）の検出",
    "signing_time": "署名日時",
    "licences": "ライセンス（送信元・送信先）",
    "standard": "標準仕様（組み合わせ・書式）",
}
LABELS_JA = {
    "submitted": "送信",
    "stored": "保存",
    "refused": "拒否",
    "download started": "ダウンロード開始",
    "file downloaded": "ファイル受信",
    "acknowledged": "受領確認（ダウンロード済）",
}


def _signature_chain(manifest: bytes, signature: bytes) -> list[dict[str, Any]]:
    """Signer and issuer of the stored signature (the hub verified it before storing)."""
    try:
        signed = verify(signature, manifest, operation=Operation.SEND)
    except CareplanError as error:
        return [{"error": error.code}]
    cert = signed.certificate
    signer: dict[str, Any] = {
        "role": "signer",
        "subject": cert.subject.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "issuer": cert.issuer.rfc4514_string(),
        "not_after": cert.not_valid_after_utc.isoformat(),
    }
    try:
        identity = identity_of(cert)
        signer |= {"office_number": identity.office_number, "kind": identity.kind.value}
    except CareplanError as error:
        signer["kind"] = error.code
    return [signer, {"role": "issuer", "subject": cert.issuer.rfc4514_string()}]


def _event(entry: dict[str, Any]) -> dict[str, Any]:
    what = _LIFE.get((entry["method"], entry["route"]), f"{entry['method']} {entry['route']}")
    if what == "submitted" and entry["status"] == 201:
        what = "stored"
    elif entry["code"]:
        what = "refused"
    event = {
        "at": entry["at"],
        "event": what,
        "label": LABELS_JA.get(what, what),
        "status": entry["status"],
        "code": entry["code"],
        "office": entry["office"],
        "user_id": entry["user_id"],
        "serial": entry["serial"],
        "fault": entry["fault"],
    }
    if entry["code"] in CATALOGUE:
        spec = CATALOGUE[entry["code"]]
        event |= {"message": spec.message(), "explanation": spec.explanation_ja or spec.explanation}
    return event


async def inspect(service: HubService, journal: Journal, transmission_id: str) -> dict[str, Any] | None:
    """Everything known about `transmission_id`, or None when neither the hub nor the journal knows it."""
    await journal.flush()
    entries = await journal.of_transmission(transmission_id)
    row = await service.db.fetch_one("SELECT * FROM transmissions WHERE id = ?", (transmission_id,))
    if row is None and not entries:
        return None
    submissions = [e for e in entries if (e["method"], e["route"]) == ("POST", "/api/v1/transmissions")]
    result: dict[str, Any] = {
        "transmission_id": transmission_id,
        "life": [_event(e) for e in entries],
        "decisions": [
            d | {"label": STEPS_JA.get(d["step"], d["step"])}
            for d in (submissions[-1]["decisions"] if submissions else [])
        ],
        "stored": row is not None,
    }
    if row is not None:
        result |= {
            "sender": row["sender"],
            "recipient": row["recipient"],
            "sender_user": row["sender_user"],
            "submitted_at": row["submitted_at"],
            "file_count": row["file_count"],
            "total_size": row["total_size"],
            "status": "ダウンロード済" if row["downloaded_at"] else "未ダウンロード",
            "downloaded_at": row["downloaded_at"],
            "downloaded_by": row["downloaded_by"],
            "signed_at": row["signed_at"],
            "signature_chain": _signature_chain(bytes(row["manifest"]), bytes(row["signature"])),
        }
    return result
