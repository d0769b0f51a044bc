"""Judging one step from the hub's side (what it stored, which sessions and refusals it saw) and
from what the adapter reported. Every verdict says why, in words a vendor can act on, and carries
its evidence: what was expected, what arrived, and the hub's own record.

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

PASS, FAIL, NOT_RUN = "pass", "fail", "not_run"
SIGNING_SLACK = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    status: str
    reason: str = ""
    expected: str = ""
    arrived: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)


def fail(reason: str, **kw: Any) -> Verdict:
    return Verdict(status=FAIL, reason=reason, **kw)


def not_run(reason: str, **kw: Any) -> Verdict:
    return Verdict(status=NOT_RUN, reason=reason, **kw)


def silent(answer: Answer) -> str:
    """Why the adapter's report is missing, or ''."""
    if answer.problem:
        return answer.problem + (f" (exit {answer.exit_code})" if answer.exit_code else "")
    return ""


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
) -> tuple[list[str], dict[str, Any]]:
    """Problems with a stored transmission (manifest, signature, signer = terminal, files as given,
    signing time), and the evidence."""
    problems: list[str] = []
    manifest_bytes = stored["manifest"].encode("utf-8")
    evidence: dict[str, Any] = {"transmission_id": stored["transmission_id"], "stored_manifest": stored["manifest"]}
    try:
        manifest = Manifest.from_bytes(manifest_bytes)
    except CareplanError as error:
        return [f"the stored manifest is not valid: {error.detail}"], evidence
    try:
        signed = verify(base64.b64decode(stored["signature"]), manifest_bytes)
        signer = identity_of(signed.certificate)
    except CareplanError as error:
        return [f"the signature is not a detached CMS SignedData (DER) over the manifest: {error.detail}"], evidence
    evidence["signer"] = {
        "office_number": signer.office_number,
        "kind": str(signer.kind),
        "serial": format(signer.serial, "x"),
        "fingerprint": signer.fingerprint,
        "connected_with": stored["connected_fingerprint"],
    }
    if signer.fingerprint != stored["connected_fingerprint"]:
        problems.append("signed with another certificate than the terminal's own (signer ≠ terminal)")
    if not signer.kind.accepted:
        problems.append(f"signed with a {signer.kind} (not accepted, R2.1)")
    if (manifest.sender, manifest.recipient) != (sender, recipient):
        problems.append(f"manifest {manifest.sender} → {manifest.recipient}, expected {sender} → {recipient}")
    start, end = window
    evidence["signed_at"] = {
        "manifest": manifest.signed_at.isoformat(),
        "hub_time": [start.isoformat(), end.isoformat()],
    }
    if not start - SIGNING_SLACK <= manifest.signed_at <= end + SIGNING_SLACK:
        problems.append(
            f"signed at {manifest.signed_at.isoformat()}, but the hub's time was {start.isoformat()}: "
            "sign with the hub's time"
        )
    evidence["files"] = _files_table(stored)
    if files is not None:
        want = [(name, len(data), hashlib.sha256(data).hexdigest()) for name, data in files]
        got = [(f["name"], f["size"], f["sha256"]) for f in stored["files"]]
        if sorted(n for n, _, _ in want) != sorted(n for n, _, _ in got):
            problems.append(f"file names {sorted(n for n, _, _ in got)}, expected {sorted(n for n, _, _ in want)}")
        else:
            changed = sorted(set(want) - set(got))
            problems += [
                f"{name} arrived changed ({size} bytes given): send the bytes as they are (Shift_JIS, 標準仕様 4)"
                for name, size, _ in changed
            ]
    return problems, evidence


def judge_sent(
    new: Sequence[dict[str, Any]],
    answer: Answer,
    *,
    sender: str,
    recipient: str,
    files: Sequence[tuple[str, bytes]],
    window: tuple[dt.datetime, dt.datetime],
) -> Verdict:
    expected = f"one transmission {sender} → {recipient} with {len(files)} files: " + ", ".join(n for n, _ in files)
    if not new:
        why = silent(answer) or (f"the client reported {answer.error()}" if answer.error() else "")
        return fail(
            "the hub stored no transmission from the office in this step" + (f"; {why}" if why else ""),
            expected=expected,
            arrived="nothing",
        )
    if len(new) > 1:
        ids = [t["transmission_id"] for t in new]
        return fail(
            f"the hub stored {len(new)} transmissions (duplicates?): {ids}", expected=expected, arrived=str(ids)
        )
    stored = new[0]
    problems, evidence = check_stored(stored, sender=sender, recipient=recipient, files=files, window=window)
    reported = answer.result.get("transmission_id")
    if reported and reported != stored["transmission_id"]:
        problems.append(f"the client reported transmission {reported}, the hub stored {stored['transmission_id']}")
    arrived = f"transmission {stored['transmission_id']}: " + ", ".join(f["name"] for f in stored["files"])
    if problems:
        return fail("; ".join(problems), expected=expected, arrived=arrived, evidence=evidence)
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
    expected = f"{code}: 「{message}」 shown, nothing stored"
    evidence: dict[str, Any] = {"hub_refusals": [{k: r[k] for k in ("at", "code", "detail")} for r in hub_refusals]}
    shown = answer.error()
    arrived = (
        f"{shown.get('code', '')}: 「{shown.get('message', '')}」"
        if shown
        else (silent(answer) or "no refusal reported")
    )
    if new:
        return fail(
            f"the hub stored {[t['transmission_id'] for t in new]}: this send should have been refused",
            expected=expected,
            arrived=arrived,
            evidence=evidence,
        )
    if not shown:
        why = silent(answer) or "the client reported no refusal"
        return fail(f"{why}; the office must see 「{message}」", expected=expected, arrived=arrived, evidence=evidence)
    if shown.get("code") and shown["code"] != code:
        return fail(
            f"refused with {shown['code']}, expected {code}", expected=expected, arrived=arrived, evidence=evidence
        )
    if hub_must_refuse and code not in {r["code"] for r in hub_refusals}:
        return fail(
            f"the hub recorded no {code} refusal in this step: the client must send and show the hub's answer",
            expected=expected,
            arrived=arrived,
            evidence=evidence,
        )
    if shown.get("message") != message:
        return fail("the message shown is not the real system's", expected=expected, arrived=arrived, evidence=evidence)
    return Verdict(status=PASS, expected=expected, arrived=arrived, evidence=evidence)


# --- receiving --------------------------------------------------------------------------------------
def files_under(folder: Path) -> dict[str, str]:
    """name → sha256 of every file under `folder` (where the client put its downloads)."""
    if not folder.is_dir():
        return {}
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def judge_downloaded(stored: dict[str, Any], answer: Answer, *, out: Path, office: Callable[[str], bool]) -> Verdict:
    tid = stored["transmission_id"]
    expected = f"{tid} downloaded into {out}, verified, then acknowledged (ダウンロード済)"
    written = files_under(out)
    evidence = {
        "hub": {k: stored[k] for k in ("downloaded_at", "downloaded_by")},
        "files": _files_table(stored),
        "written": sorted(written),
    }
    if not stored["downloaded_at"]:
        why = silent(answer) or (f"the client reported {answer.error()}" if answer.error() else "")
        return fail(
            f"the hub has no receipt for {tid}: the client did not acknowledge it" + (f" ({why})" if why else ""),
            expected=expected,
            arrived="未ダウンロード",
            evidence=evidence,
        )
    missing = [f["name"] for f in stored["files"] if written.get(f["name"]) != f["sha256"]]
    if missing:
        return fail(
            f"acknowledged, but not written (intact) under {out}: {missing}",
            expected=expected,
            arrived=f"ダウンロード済 by {stored['downloaded_by']}",
            evidence=evidence,
        )
    if not office(stored["downloaded_by"]):
        return fail(
            f"acknowledged by {stored['downloaded_by']}, not a user of the office", expected=expected, evidence=evidence
        )
    return Verdict(
        status=PASS, expected=expected, arrived=f"ダウンロード済 by {stored['downloaded_by']}", evidence=evidence
    )


TAMPERED = "a file does not match the sender's signed manifest"


def _shown(error: object) -> str:
    """An adapter's error as the office saw it: its code and message, not the whole object."""
    if not isinstance(error, dict):
        return str(error)
    return f"{error.get('code', '')}: 「{error.get('message', '')}」"


def judge_not_acknowledged(stored: dict[str, Any], answer: Answer, *, problem: str = TAMPERED) -> Verdict:
    """The client refused `stored` (it verified before acknowledging, and found `problem`)."""
    tid = stored["transmission_id"]
    expected = f"{tid} refused after verification ({problem}); no receipt"
    evidence = {"hub": {k: stored[k] for k in ("downloaded_at", "downloaded_by")}}
    refused = {
        r.get("transmission_id"): r.get("error") for r in answer.result.get("refused") or [] if isinstance(r, dict)
    }
    arrived = f"refused: {_shown(refused[tid])}" if tid in refused else (silent(answer) or "nothing reported")
    if stored["downloaded_at"]:
        return fail(
            f"the client acknowledged {tid} although {problem}",
            expected=expected,
            arrived="ダウンロード済",
            evidence=evidence,
        )
    if tid not in refused and not answer.result.get("manual"):
        return fail(
            f"no receipt, but the client did not report {tid} as refused: did it try to download?",
            expected=expected,
            arrived=arrived,
            evidence=evidence,
        )
    return Verdict(status=PASS, expected=expected, arrived=arrived, evidence=evidence)


def judge_send_list(answer: Answer, stored: Sequence[dict[str, Any]]) -> Verdict:
    want = {t["transmission_id"]: str(DownloadStatus.of(t["downloaded_at"])) for t in stored}
    expected = ", ".join(f"{tid[:8]}… {status}" for tid, status in want.items()) or "(empty)"
    rows = answer.result.get("transmissions")
    if not isinstance(rows, list):
        return fail(silent(answer) or "the client reported no send list", expected=expected, arrived="nothing")
    got = {r.get("transmission_id"): r.get("status") for r in rows if isinstance(r, dict)}
    arrived = ", ".join(f"{str(tid)[:8]}… {status}" for tid, status in got.items())
    wrong = [
        f"{tid} shows {got.get(tid)!r}, the hub says {status}" for tid, status in want.items() if got.get(tid) != status
    ]
    if wrong:
        return fail("; ".join(wrong), expected=expected, arrived=arrived)
    return Verdict(status=PASS, expected=expected, arrived=arrived)
