"""Judging one step from the hub's side (what it stored, which sessions and refusals it saw) and
from what the adapter reported. Every verdict says why, in words a vendor can act on (Japanese
first, the English beside it: conformance.wording), and carries its evidence: what was expected,
what arrived, and the hub's own record.

Rules this module keeps:
1. The hub's record decides; the adapter's report is checked against it, never trusted alone.
2. A step whose evidence the hub cannot give (no journal, no faults) is *not run*, not failed.
3. A refusal must be shown with the real system's exact message (R2.3, R3.6, R3.7, R4.4, R4.5).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from careplan.certificates import identity_of
from careplan.errors import CareplanError, Operation
from careplan.manifest import Manifest
from careplan.signature import verify
from careplan.transmission import DownloadStatus
from conformance.protocol import Answer
from conformance.wording import NOTHING, Said, joined

PASS, FAIL, NOT_RUN = "pass", "fail", "not_run"
SIGNING_SLACK = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    status: str
    reason: Said = NOTHING
    expected: Said = NOTHING
    arrived: Said = NOTHING
    evidence: dict[str, Any] = field(default_factory=dict)


def fail(reason: Said, **kw: Any) -> Verdict:
    return Verdict(status=FAIL, reason=reason, **kw)


def not_run(reason: Said, **kw: Any) -> Verdict:
    return Verdict(status=NOT_RUN, reason=reason, **kw)


def silent(answer: Answer) -> Said:
    """Why the adapter's report is missing, or NOTHING."""
    if answer.problem and answer.exit_code:
        code = answer.exit_code
        return Said(f"{answer.problem.ja}（終了コード {code}）", f"{answer.problem.en} (exit {code})")
    return answer.problem


def shown(error: object) -> Said:
    """An adapter's error as the office saw it: its code and the message (once, in the Japanese
    part: the real system's messages are Japanese), not the whole object."""
    if not isinstance(error, dict):
        return Said(str(error), str(error))
    code, message = str(error.get("code") or ""), error.get("message")
    if not message:
        return Said(code or "（内容なし）", code or "(empty)")
    return Said(f"{code}: 「{message}」".lstrip(": "), f"{code or 'a message'} (quoted before the slash)")


def reported(answer: Answer) -> Said:
    """Why the adapter's report is missing, or the error the client reported, or NOTHING."""
    if answer.problem:
        return silent(answer)
    if answer.error():
        error = shown(answer.error())
        return Said(f"クライアントの報告は {error.ja} でした", f"the client reported {error.en}")
    return NOTHING


def real_message(code: str, operation: Operation = Operation.SEND) -> str:
    return CareplanError(code, operation=operation).message


# --- a transmission the client sent ---------------------------------------------------------------
def _files_table(stored: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: f[k] for k in ("position", "name", "size", "sha256")} for f in stored["files"]]


def check_stored(
    stored: dict[str, Any],
    *,
    sender: str,
    recipient: str,
    files: Sequence[tuple[str, bytes]] | None,
    window: tuple[dt.datetime, dt.datetime],
) -> tuple[list[Said], dict[str, Any]]:
    """Problems with a stored transmission (manifest, signature, signer = terminal, files as given,
    signing time), and the evidence."""
    problems: list[Said] = []
    manifest_bytes = stored["manifest"].encode("utf-8")
    evidence: dict[str, Any] = {"transmission_id": stored["transmission_id"], "stored_manifest": stored["manifest"]}
    try:
        manifest = Manifest.from_bytes(manifest_bytes)
    except CareplanError as error:
        return [
            Said(
                f"保存されたマニフェストが正しくありません: {error.detail}",
                f"the stored manifest is not valid: {error.detail_en or error.detail}",
            )
        ], evidence
    try:
        signed = verify(base64.b64decode(stored["signature"]), manifest_bytes)
        signer = identity_of(signed.certificate)
    except CareplanError as error:
        return [
            Said(
                f"署名がマニフェストに対する分離署名（CMS SignedData、DER）ではありません: {error.detail}",
                "the signature is not a detached CMS SignedData (DER) over the manifest: "
                f"{error.detail_en or error.detail}",
            )
        ], evidence
    evidence["signer"] = {
        "office_number": signer.office_number,
        "kind": str(signer.kind),
        "serial": format(signer.serial, "x"),
        "fingerprint": signer.fingerprint,
        "connected_with": stored["connected_fingerprint"],
    }
    if signer.fingerprint != stored["connected_fingerprint"]:
        problems.append(
            Said(
                "端末の証明書とは別の証明書で署名されています（署名者 ≠ 端末）",
                "signed with another certificate than the terminal's own (signer ≠ terminal)",
            )
        )
    if not signer.kind.accepted:
        problems.append(
            Said(
                f"{signer.kind}で署名されています（受け付けられない証明書です。R2.1）",
                f"signed with a {signer.kind} (not accepted, R2.1)",
            )
        )
    if (manifest.sender, manifest.recipient) != (sender, recipient):
        problems.append(
            Said(
                f"マニフェストは {manifest.sender} → {manifest.recipient} ですが、{sender} → {recipient} のはずです",
                f"manifest {manifest.sender} → {manifest.recipient}, expected {sender} → {recipient}",
            )
        )
    start, end = window
    evidence["signed_at"] = {
        "manifest": manifest.signed_at.isoformat(),
        "hub_time": [start.isoformat(), end.isoformat()],
    }
    if not start - SIGNING_SLACK <= manifest.signed_at <= end + SIGNING_SLACK:
        signed_at, hub_time = manifest.signed_at.isoformat(), start.isoformat()
        problems.append(
            Said(
                f"署名時刻は {signed_at} ですが、ハブの時刻は {hub_time} でした: ハブの時刻で署名してください",
                f"signed at {signed_at}, but the hub's time was {hub_time}: sign with the hub's time",
            )
        )
    evidence["files"] = _files_table(stored)
    if files is not None:
        want = [(name, len(data), hashlib.sha256(data).hexdigest()) for name, data in files]
        got = [(f["name"], f["size"], f["sha256"]) for f in stored["files"]]
        if sorted(n for n, _, _ in want) != sorted(n for n, _, _ in got):
            problems.append(
                Said(
                    f"届いたファイル名は {sorted(n for n, _, _ in got)} で、{sorted(n for n, _, _ in want)} のはずです",
                    "the file names are not those given (both listed before the slash)",
                )
            )
        else:
            changed = sorted(set(want) - set(got))
            problems += [
                Said(
                    f"{name} が変わって届きました（渡したのは {size} バイト）: "
                    "バイト列をそのまま送信してください（Shift_JIS、標準仕様 4）",
                    f"{name} arrived changed ({size} bytes given): send the bytes as they are (Shift_JIS, 標準仕様 4)",
                )
                for name, size, _ in changed
            ]
    return problems, evidence


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def judge_sent(
    new: Sequence[dict[str, Any]],
    answer: Answer,
    *,
    sender: str,
    recipient: str,
    files: Sequence[tuple[str, bytes]],
    window: tuple[dt.datetime, dt.datetime],
) -> Verdict:
    names = "、".join(n for n, _ in files)
    expected = Said(
        f"{sender} → {recipient} の送信 1 件（{len(files)} ファイル: {names}）",
        f"one transmission {sender} → {recipient} with {_files(len(files))}",
    )
    if not new:
        nothing = Said(
            "このステップで事業所からの送信はハブに保存されませんでした",
            "the hub stored no transmission from the office in this step",
        )
        return fail(nothing.then(reported(answer)), expected=expected, arrived=Said("なし", "nothing"))
    if len(new) > 1:
        ids = [t["transmission_id"] for t in new]
        return fail(
            Said(
                f"ハブに送信が {len(new)} 件保存されました（重複？）: {ids}",
                f"the hub stored {len(new)} transmissions (duplicates?): {ids}",
            ),
            expected=expected,
            arrived=Said(f"送信 {len(ids)} 件: {ids}", f"{len(ids)} transmissions: {ids}"),
        )
    stored = new[0]
    tid = stored["transmission_id"]
    problems, evidence = check_stored(stored, sender=sender, recipient=recipient, files=files, window=window)
    told = answer.result.get("transmission_id")
    if told and told != tid:
        problems.append(
            Said(
                f"クライアントが報告した送信は {told} ですが、ハブに保存されたのは {tid} です",
                f"the client reported transmission {told}, the hub stored {tid}",
            )
        )
    arrived = Said(
        f"送信 {tid}（{'、'.join(f['name'] for f in stored['files'])}）",
        f"transmission {tid} with {_files(len(stored['files']))}",
    )
    if problems:
        return fail(joined(problems), expected=expected, arrived=arrived, evidence=evidence)
    return Verdict(status=PASS, expected=expected, arrived=arrived, evidence=evidence)


# --- a refusal the client must show ---------------------------------------------------------------
def judge_refused(
    new: Sequence[dict[str, Any]],
    answer: Answer,
    *,
    code: str,
    hub_refusals: Sequence[dict[str, Any]],
    hub_must_refuse: bool = False,
) -> Verdict:
    """The client showed the real message of `code` and nothing was stored; with `hub_must_refuse`
    the hub's own refusal with `code` must be on record too (a refusal only the hub can make)."""
    message = real_message(code)
    expected = Said(
        f"{code}: 「{message}」が表示され、何も保存されないこと",
        f"{code} with its real message (quoted before the slash) shown, nothing stored",
    )
    evidence: dict[str, Any] = {"hub_refusals": [{k: r[k] for k in ("at", "code", "detail")} for r in hub_refusals]}
    error = answer.error()
    arrived = shown(error) if error else (silent(answer) or Said("拒否の報告なし", "no refusal reported"))
    if new:
        ids = [t["transmission_id"] for t in new]
        return fail(
            Said(
                f"ハブに {ids} が保存されました: この送信は拒否されるはずです",
                f"the hub stored {ids}: this send should have been refused",
            ),
            expected=expected,
            arrived=arrived,
            evidence=evidence,
        )
    if not error:
        why = silent(answer) or Said("クライアントは拒否を報告しませんでした", "the client reported no refusal")
        must = Said(
            f"事業所には「{message}」が表示されなければなりません",
            f"the office must see the real message of {code} (quoted before the slash)",
        )
        return fail(why.then(must), expected=expected, arrived=arrived, evidence=evidence)
    if error.get("code") and error["code"] != code:
        return fail(
            Said(
                f"{error['code']} で拒否されましたが、{code} のはずです",
                f"refused with {error['code']}, expected {code}",
            ),
            expected=expected,
            arrived=arrived,
            evidence=evidence,
        )
    if hub_must_refuse and code not in {r["code"] for r in hub_refusals}:
        return fail(
            Said(
                f"このステップでハブは {code} の拒否を記録していません: "
                "クライアントは送信し、ハブの応答を表示しなければなりません",
                f"the hub recorded no {code} refusal in this step: the client must send and show the hub's answer",
            ),
            expected=expected,
            arrived=arrived,
            evidence=evidence,
        )
    if error.get("message") != message:
        return fail(
            Said("表示されたメッセージが実際のシステムのものと違います", "the message shown is not the real system's"),
            expected=expected,
            arrived=arrived,
            evidence=evidence,
        )
    return Verdict(status=PASS, expected=expected, arrived=arrived, evidence=evidence)


# --- receiving --------------------------------------------------------------------------------------
def files_under(folder: Path) -> dict[str, str]:
    """name → sha256 of every file under `folder` (where the client put its downloads)."""
    if not folder.is_dir():
        return {}
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def _downloaded_by(user: str) -> Said:
    return Said(f"ダウンロード済（{user}）", f"downloaded by {user}")


def judge_downloaded(stored: dict[str, Any], answer: Answer, *, out: Path, office: Callable[[str], bool]) -> Verdict:
    tid = stored["transmission_id"]
    expected = Said(
        f"{tid} を {out} にダウンロードし、検証してから受信確認すること（ダウンロード済）",
        f"{tid} downloaded into {out}, verified, then acknowledged",
    )
    written = files_under(out)
    evidence = {
        "hub": {k: stored[k] for k in ("downloaded_at", "downloaded_by")},
        "files": _files_table(stored),
        "written": sorted(written),
    }
    if not stored["downloaded_at"]:
        no_receipt = Said(
            f"ハブに {tid} の受信確認の記録がありません: クライアントが受信確認していません",
            f"the hub has no receipt for {tid}: the client did not acknowledge it",
        )
        return fail(
            no_receipt.then(reported(answer)),
            expected=expected,
            arrived=Said("未ダウンロード", "not downloaded"),
            evidence=evidence,
        )
    missing = [f["name"] for f in stored["files"] if written.get(f["name"]) != f["sha256"]]
    if missing:
        return fail(
            Said(
                f"受信確認はされましたが、{out} に（壊れずに）書き込まれていません: {missing}",
                f"acknowledged, but not written (intact) under {out}: {missing}",
            ),
            expected=expected,
            arrived=_downloaded_by(stored["downloaded_by"]),
            evidence=evidence,
        )
    if not office(stored["downloaded_by"]):
        return fail(
            Said(
                f"受信確認したのは {stored['downloaded_by']} で、この事業所の利用者ではありません",
                f"acknowledged by {stored['downloaded_by']}, not a user of the office",
            ),
            expected=expected,
            arrived=_downloaded_by(stored["downloaded_by"]),
            evidence=evidence,
        )
    return Verdict(status=PASS, expected=expected, arrived=_downloaded_by(stored["downloaded_by"]), evidence=evidence)


# what a client found wrong, as a phrase: "…にもかかわらず" / "although …" follow it
TAMPERED = Said(
    "ファイルが送信元の署名付きマニフェストと一致しない", "a file does not match the sender's signed manifest"
)


def judge_not_acknowledged(stored: dict[str, Any], answer: Answer, *, problem: Said = TAMPERED) -> Verdict:
    """The client refused `stored` (it verified before acknowledging, and found `problem`)."""
    tid = stored["transmission_id"]
    expected = Said(
        f"検証して {tid} を拒否し（{problem.ja}）、受信確認しないこと",
        f"{tid} refused after verification ({problem.en}); no receipt",
    )
    evidence = {"hub": {k: stored[k] for k in ("downloaded_at", "downloaded_by")}}
    refused = {
        r.get("transmission_id"): r.get("error") for r in answer.result.get("refused") or [] if isinstance(r, dict)
    }
    if tid in refused:
        error = shown(refused[tid])
        arrived = Said(f"拒否: {error.ja}", f"refused: {error.en}")
    else:
        arrived = silent(answer) or Said("報告なし", "nothing reported")
    if stored["downloaded_at"]:
        return fail(
            Said(
                f"{problem.ja}にもかかわらず、クライアントは {tid} を受信確認しました",
                f"the client acknowledged {tid} although {problem.en}",
            ),
            expected=expected,
            arrived=_downloaded_by(stored["downloaded_by"]),
            evidence=evidence,
        )
    if tid not in refused and not answer.result.get("manual"):
        return fail(
            Said(
                f"受信確認はされていませんが、クライアントは {tid} を拒否したと報告していません: "
                "ダウンロードを試みましたか？",
                f"no receipt, but the client did not report {tid} as refused: did it try to download?",
            ),
            expected=expected,
            arrived=arrived,
            evidence=evidence,
        )
    return Verdict(status=PASS, expected=expected, arrived=arrived, evidence=evidence)


def judge_send_list(answer: Answer, stored: Sequence[dict[str, Any]]) -> Verdict:
    want = {t["transmission_id"]: str(DownloadStatus.of(t["downloaded_at"])) for t in stored}
    listed = "、".join(f"{tid[:8]}… {status}" for tid, status in want.items())
    expected = (
        Said(f"送信一覧に {listed} と表示されること", "the send list with these download statuses")
        if want
        else Said("空の送信一覧", "an empty send list")
    )
    rows = answer.result.get("transmissions")
    if not isinstance(rows, list):
        why = silent(answer) or Said("クライアントは送信一覧を報告しませんでした", "the client reported no send list")
        return fail(why, expected=expected, arrived=Said("なし", "nothing"))
    got = {r.get("transmission_id"): r.get("status") for r in rows if isinstance(r, dict)}
    arrived = Said(
        "表示: " + ("、".join(f"{str(tid)[:8]}… {status}" for tid, status in got.items()) or "（空）"),
        f"{len(got)} transmissions shown, as listed",
    )
    wrong = [
        Said(
            f"{tid} の表示は {got.get(tid)!r} ですが、ハブでは {status} です",
            f"{tid} shows {got.get(tid)!r}, the hub says {status}",
        )
        for tid, status in want.items()
        if got.get(tid) != status
    ]
    if wrong:
        return fail(joined(wrong), expected=expected, arrived=arrived)
    return Verdict(status=PASS, expected=expected, arrived=arrived)
