"""The client suite: what a care-management client must do right, one step per behaviour, each
naming the requirements (R-numbers) and 標準仕様 §s it covers.

Order matters where a step builds on an earlier one: login first; the send list after a partner
has downloaded one of the office's transmissions so both statuses appear. The sender-licence step
(R3.6) runs last: it is the only one that changes the office under test (its licence, restored
exactly in a `finally`), so even a hub that failed while it was staged leaves no later step
judged on a changed office.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from careplan import standard
from conformance.judges import (
    PASS,
    Verdict,
    fail,
    judge_refused,
    judge_send_list,
    judge_sent,
    reported,
)
from conformance.kit import Kit, SuiteStep
from conformance.receiving import download_once, download_tampered, wrong_signer
from conformance.units import UNITS, Party, unit_files, with_serial
from conformance.wording import Said, joined

Files = list[tuple[str, bytes]]
StepRun = Callable[[Kit, SuiteStep], Awaitable[Verdict]]


def _t(ja: str, en: str) -> dict[str, str]:
    return {"ja": ja, "en": en}


# --- login ------------------------------------------------------------------------------------------
async def login(kit: Kit, step: SuiteStep) -> Verdict:
    before = {(s["created_at"], s["cert_fingerprint"]) for s in await kit.view.sessions(kit.office)}
    answer = await kit.ask(step)
    new = [s for s in await kit.view.sessions(kit.office) if (s["created_at"], s["cert_fingerprint"]) not in before]
    expected = Said(
        f"インストールした証明書による事業所 {kit.office} の新しいセッション",
        f"a new session of office {kit.office}, opened with its installed certificate",
    )
    if not new:
        none = Said(
            f"ハブは事業所 {kit.office} のセッションを開始していません",
            f"the hub opened no session for office {kit.office}",
        )
        return fail(none.then(reported(answer)), expected=expected, arrived=Said("セッションなし", "no session"))
    session = new[-1]
    user, certificate = session["user_id"], session["cert_fingerprint"][:16]
    arrived = Said(
        f"証明書 {certificate}… に結び付いた {user} のセッション",
        f"session of {user} bound to certificate {certificate}…",
    )
    return Verdict(status=PASS, expected=expected, arrived=arrived, evidence={"session": session})


# --- sending ----------------------------------------------------------------------------------------
async def _send(kit: Kit, step: SuiteStep, files: Files, to: Party) -> Verdict:
    before = await kit.sent_ids()
    start = await kit.now()
    answer = await kit.ask(step, to=to.number, files=kit.write_files(step, files))
    end = await kit.now()
    new = await kit.new_sent(before)
    return judge_sent(new, answer, sender=kit.office, recipient=to.number, files=files, window=(start, end))


def send_unit(key: str) -> StepRun:
    async def run(kit: Kit, step: SuiteStep) -> Verdict:
        to = kit.partners["yobou" if UNITS[key].preventive else "houmon"].party
        return await _send(kit, step, unit_files(key, kit.sut, to), to)

    return run


async def attachment(kit: Kit, step: SuiteStep) -> Verdict:
    files = [
        ("連絡メモ.txt", "ケアプランの変更について連絡します。\r\n".encode("cp932")),
        ("週間予定.pdf", b"%PDF-1.4\n%conformance\n"),
    ]
    return await _send(kit, step, files, kit.partners["houmon"].party)


async def bulk_send(kit: Kit, step: SuiteStep) -> Verdict:
    """Two sending units for two offices in one 一括送信: the client sorts them (R4.3)."""
    houmon, yobou = kit.partners["houmon"].party, kit.partners["yobou"].party
    units = {houmon.number: unit_files("plan-6-7", kit.sut, houmon), yobou.number: unit_files("yobo", kit.sut, yobou)}
    before = await kit.sent_ids()
    start = await kit.now()
    answer = await kit.ask(step, files=kit.write_files(step, [f for files in units.values() for f in files]))
    end = await kit.now()
    new = await kit.new_sent(before)
    verdicts = [
        judge_sent(
            [t for t in new if t["recipient"] == number],
            answer,
            sender=kit.office,
            recipient=number,
            files=files,
            window=(start, end),
        )
        for number, files in units.items()
    ]
    failed = [v for v in verdicts if v.status != PASS]
    expected = joined((v.expected for v in verdicts), ja="；")
    arrived = joined((v.arrived for v in verdicts), ja="；")
    evidence = {"transmissions": [v.evidence for v in verdicts]}
    if failed or len(new) != len(units):
        reason = joined(dict.fromkeys(v.reason for v in failed)) or Said(  # the same reason once
            f"ハブに保存された送信は {len(new)} 件でした（想定は {len(units)} 件）",
            f"{len(new)} transmissions stored, expected {len(units)}",
        )
        return fail(reason, expected=expected, arrived=arrived, evidence=evidence)
    return Verdict(status=PASS, expected=expected, arrived=arrived, evidence=evidence)


async def bulk_limit(kit: Kit, step: SuiteStep) -> Verdict:
    """51 transmissions in one 一括送信: over the limit of 50 (R4.3); nothing may be sent."""
    houmon = kit.partners["houmon"].party
    limit = standard.standard().limits.max_transmissions
    base = unit_files("delete-plan-1", kit.sut, houmon)
    files = [f for i in range(limit + 1) for f in with_serial(base, f"202504201{i // 60:01d}{i % 60:02d}00")]
    return await _refused(kit, step, files, "BULK_TOO_MANY_TRANSMISSIONS")


# --- refusals ---------------------------------------------------------------------------------------
async def _refused(
    kit: Kit, step: SuiteStep, files: Files, code: str, *, to: Party | None = None, hub_must_refuse: bool = False
) -> Verdict:
    before = await kit.sent_ids()
    refusals_before = {r["id"] for r in await kit.view.refusals(kit.office)}
    args: dict[str, Any] = {"files": kit.write_files(step, files)}
    if to is not None:
        args["to"] = to.number
    answer = await kit.ask(step, **args)
    new = await kit.new_sent(before)
    hub_refusals = [r for r in await kit.view.refusals(kit.office) if r["id"] not in refusals_before]
    return judge_refused(new, answer, code=code, hub_refusals=hub_refusals, hub_must_refuse=hub_must_refuse)


async def recipient_licence(kit: Kit, step: SuiteStep) -> Verdict:
    to = kit.partners["unlicensed"].party
    return await _refused(kit, step, unit_files("plan-1-3", kit.sut, to), "RECIPIENT_NOT_LICENSED", to=to)


async def combination(kit: Kit, step: SuiteStep) -> Verdict:
    to = kit.partners["houmon"].party
    files = unit_files("plan-1-3", kit.sut, to)[:2]  # 第1表 and 第2表 without 第3表 and 補足
    return await _refused(kit, step, files, "COMBINATION_INVALID", to=to)


async def format_error(kit: Kit, step: SuiteStep) -> Verdict:
    to = kit.partners["houmon"].party
    name, data = unit_files("delete-plan-1", kit.sut, to)[0]
    broken = data.replace(b"202407", b"202413", 1)  # CSVバージョン 202413 is no month (レイアウト定義書)
    return await _refused(kit, step, [(name, broken)], "FORMAT_INVALID", to=to)


async def file_type(kit: Kit, step: SuiteStep) -> Verdict:
    to = kit.partners["houmon"].party
    return await _refused(
        kit, step, [("議事録.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1conformance")], "FILE_TYPE_NOT_ALLOWED", to=to
    )


async def too_many_files(kit: Kit, step: SuiteStep) -> Verdict:
    """Eight documents in one transmission: over the limit of 7 files (R4.3)."""
    limit = standard.standard().limits.max_files
    files = [(f"連絡メモ{i + 1}.txt", f"連絡事項 {i + 1}\r\n".encode("cp932")) for i in range(limit + 1)]
    return await _refused(kit, step, files, "TOO_MANY_FILES", to=kit.partners["houmon"].party)


async def sender_licence(kit: Kit, step: SuiteStep) -> Verdict:
    """The office under test without a licence for this one send (R3.6); its licence is restored
    before the verdict is returned, whatever the client did."""
    to = kit.partners["houmon"].party
    files = unit_files("delete-plan-1", kit.sut, to)
    async with kit.view.licence_withdrawn(kit.office) as licence:
        verdict = await _refused(kit, step, files, "SENDER_NOT_APPLIED", to=to, hub_must_refuse=True)
    return dataclasses.replace(verdict, evidence=verdict.evidence | {"licence": licence})


# --- retries (the hub's faults) ----------------------------------------------------------------------
def retry(fault: dict[str, Any]) -> StepRun:
    async def run(kit: Kit, step: SuiteStep) -> Verdict:
        await kit.view.arm_fault(fault)
        try:
            return await send_unit("delete-plan-6")(kit, step)
        finally:
            await kit.view.clear_faults()

    return run


# --- the send list ------------------------------------------------------------------------------------
async def send_list(kit: Kit, step: SuiteStep) -> Verdict:
    partner = await kit.partner("houmon")
    waiting = {r["transmission_id"] for r in await partner.inbox()}
    first = next((tid for tid in kit.sent if tid in waiting), None)
    if first is not None:  # one transmission ダウンロード済, the rest 未ダウンロード
        await partner.download(first, kit.folder(step, "partner"))
    answer = await kit.ask(step)
    stored = [s for tid in kit.sent if (s := await kit.view.stored(tid)) is not None]
    return judge_send_list(answer, stored)


CLIENT: Sequence[SuiteStep] = (
    SuiteStep(
        id="login",
        refs=("R2.1", "R2.3"),
        action="login",
        run=login,
        title=_t(
            "端末にインストールした事業所の電子証明書でログインしてください。",
            "Log in with the office certificate installed on the terminal.",
        ),
    ),
    *(
        SuiteStep(
            id=f"send.{key}",
            refs=(f"標準仕様 {unit.section}", "R2.4", "R4.1"),
            action="send",
            run=send_unit(key),
            title=_t(
                f"送信単位 {unit.section}（{'・'.join(unit.file_ids)}）を指定の事業所へ送信してください。",
                f"Send the sending unit {unit.section} ({', '.join(unit.file_ids)}) to the given office.",
            ),
        )
        for key, unit in UNITS.items()
    ),
    SuiteStep(
        id="send.attachment",
        refs=("R4.2",),
        action="send",
        run=attachment,
        title=_t(
            "標準仕様外の文書（txt・pdf）を添付ファイルとして送信してください。",
            "Send the documents (txt, pdf) as attachments.",
        ),
    ),
    SuiteStep(
        id="bulk.sort",
        refs=("R4.3", "標準仕様 2.5"),
        action="bulk_send",
        run=bulk_send,
        title=_t(
            "これらのファイルを一括送信してください（送信先ごとに振り分け）。",
            "Bulk-send these files (sorted by destination).",
        ),
    ),
    SuiteStep(
        id="bulk.limit",
        refs=("R4.3",),
        action="bulk_send",
        run=bulk_limit,
        title=_t(
            "51件分のファイルを一括送信してください（上限50件: 拒否されるはずです）。",
            "Bulk-send files for 51 transmissions (limit 50: expect a refusal).",
        ),
    ),
    SuiteStep(
        id="refusal.recipient-licence",
        refs=("R3.7",),
        action="send",
        run=recipient_licence,
        title=_t(
            "利用申請していない事業所へ送信してください（拒否されます）。",
            "Send to an office without a licence (refused).",
        ),
    ),
    SuiteStep(
        id="refusal.combination",
        refs=("R4.4", "標準仕様 2.4"),
        action="send",
        run=combination,
        title=_t(
            "送信単位にならない組み合わせを送信してください（拒否されます）。",
            "Send files that do not form a sending unit (refused).",
        ),
    ),
    SuiteStep(
        id="refusal.format",
        refs=("R4.5",),
        action="send",
        run=format_error,
        title=_t("書式の誤ったCSVを送信してください（拒否されます）。", "Send a CSV that breaks the format (refused)."),
    ),
    SuiteStep(
        id="refusal.too-many-files",
        refs=("R4.3",),
        action="send",
        run=too_many_files,
        title=_t(
            "8つのファイルを1回で送信してください（上限7: 拒否されます）。", "Send 8 files at once (limit 7: refused)."
        ),
    ),
    SuiteStep(
        id="refusal.file-type",
        refs=("R4.2",),
        action="send",
        run=file_type,
        title=_t("Word文書（doc）を送信してください（拒否されます）。", "Send a Word document (refused)."),
    ),
    SuiteStep(
        id="download.once",
        refs=("R5.2", "R2.4"),
        action="download",
        run=download_once,
        title=_t("受信しているデータをすべてダウンロードしてください。", "Download everything waiting."),
    ),
    SuiteStep(
        id="download.verify",
        refs=("R2.4",),
        action="download",
        run=download_tampered,
        title=_t(
            "受信しているデータをすべてダウンロードしてください（改ざんされたファイルは受け取らないこと）。",
            "Download everything waiting (a tampered file must not be acknowledged).",
        ),
    ),
    SuiteStep(
        id="download.wrong-signer",
        refs=("R2.4",),
        action="download",
        run=wrong_signer,
        title=_t(
            "受信しているデータをすべてダウンロードしてください（送信元以外の署名は受け取らないこと）。",
            "Download everything waiting (a wrong signer must not be acknowledged).",
        ),
    ),
    SuiteStep(
        id="retry.503",
        refs=("R2.3",),
        action="send",
        run=retry({"kind": "http_error", "status": 503, "route": "POST /api/v1/transmissions", "count": 1}),
        title=_t(
            "送信してください（一度目は503で失敗します。同じIDで再送すること）。",
            "Send (the first try answers 503: retry with the same id).",
        ),
    ),
    SuiteStep(
        id="retry.lost-answer",
        refs=("R2.3",),
        action="send",
        run=retry({"kind": "lost_answer", "route": "POST /api/v1/transmissions", "count": 1}),
        title=_t(
            "送信してください（一度目は応答が失われます。重複させずに再送すること）。",
            "Send (the first answer is lost: retry without a duplicate).",
        ),
    ),
    SuiteStep(
        id="send-list",
        refs=("R5.1", "R4.7"),
        action="send_list",
        run=send_list,
        title=_t("送信一覧（ダウンロード状況つき）を表示してください。", "Show the send list with download status."),
    ),
    SuiteStep(
        id="refusal.sender-licence",
        refs=("R3.6",),
        action="send",
        run=sender_licence,
        title=_t(
            "この手順の間だけ事業所の利用申請を外しました。指定の事業所へ送信してください（拒否されます）。",
            "The office's licence is taken away for this step: send to the given office (refused).",
        ),
    ),
)

SUITES = {"client": CLIENT}
