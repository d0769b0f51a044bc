"""Sending: `send` (through the client's own checks, or straight to the hub with the attacks a
scenario may stage) and `bulk_send` (the client's 一括送信)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from careplan.manifest import Manifest
from careplan.signature import sign
from scenarios.actions.base import Action, Checker, Outcome, delta, is_count, is_delta
from scenarios.files import new_id, serials
from scenarios.messages import not_one_of
from scenarios.model import FORGE_KEYS, TAMPER
from scenarios.pki import OTHER_CERTIFICATE
from scenarios.results import StepFailed

if TYPE_CHECKING:
    from scenarios.context import Run
    from scenarios.model import Step

SOURCES = ("plan_to", "actuals_to", "files", "broken", "generated")
MAX_BULK_COUNT = 1000  # transmissions per office: past 50 (R4.3) only the memory the files take grows


async def send(run: Run, step: Step, argument: Mapping[str, Any]) -> Outcome:
    actor = run.actor(step.actor or "")
    if "replay" in argument:  # the stored signed manifest and files again, under another signature
        earlier = str(argument["replay"])
        if earlier not in run.uploads:
            raise StepFailed(
                f"{earlier} はこの実行でアップロードされていないため replay できません"
                "（precheck: false の送信が必要です）"
                f" / nothing to replay: {earlier} was not uploaded in this run (precheck: false)"
            )
        manifest, _, files = run.uploads[earlier]
        client = await run.session(actor)
        # Byte-identical bytes would be an idempotent retry (answered as already stored); a
        # replay is the same manifest under other signature bytes.
        signature = sign(manifest, client.keypair.certificate, client.keypair.key, capabilities=False)
        result = await client.upload(manifest, signature, files)
        return result["transmission_id"], f"{earlier} を再送しました / replayed {earlier}"
    forge = argument.get("forge") or {}
    sender = run.actor(str(forge["claim_sender"])) if "claim_sender" in forge else actor
    files, to = run.files_for(sender, argument)
    client = await run.session(actor)
    attack = {"forge", "tamper", "signed_at", "manifest_to"} & set(argument)
    precheck = bool(argument.get("precheck", "broken" not in argument and "files" not in argument)) and not attack
    if precheck:
        result = await client.send(files, to=to, transmission_id=argument.get("id"))
    else:  # straight to the hub: its own checks answer
        signed_at = await run.driver.now()
        if "signed_at" in argument:
            signed_at += delta(argument["signed_at"])
        tid = str(argument.get("id") or new_id())
        manifest = Manifest.build(
            transmission_id=tid,
            sender=sender.office.number,
            recipient=run.number(str(argument["manifest_to"])) if "manifest_to" in argument else to,
            signed_at=signed_at,
            files=files,
        ).to_bytes()
        signer = actor.keypair
        if "signed_by" in forge:
            signer = run.actor(str(forge["signed_by"])).keypair
        elif forge.get("other_certificate"):
            signer = run.driver.pki.terminal(actor.office, OTHER_CERTIFICATE)
        signature = sign(manifest, signer.certificate, signer.key)
        if argument.get("tamper") == "file":
            name, data = files[0]
            files = [(name, data + b" "), *files[1:]]
        elif argument.get("tamper") == "manifest":  # after signing: the signature no longer fits
            manifest = manifest.replace(tid.encode("ascii"), new_id().encode("ascii"))
        result = await client.upload(manifest, signature, files)
        run.uploads[str(result["transmission_id"])] = (manifest, signature, files)
    tid = result["transmission_id"]
    return tid, f"{tid} を送信しました（{len(files)} ファイル） / transmission {tid} ({len(files)} files)"


def check_send(argument: Any, check: Checker) -> None:
    if not isinstance(argument, Mapping):
        raise check.fail(
            "send には {plan_to: X}、{actuals_to: X}、{files: [...], to: X}、{broken: 名前, to: X} のいずれかを書きます"
            " / send needs {plan_to: X}, {actuals_to: X}, {files: [...], to: X}, {broken: name, to: X}"
        )
    if "replay" in argument:
        if len(argument) != 1:
            raise check.fail(
                "send: replay にはほかの項目を書けません（以前の送信をそのまま送り直します）"
                " / replay takes nothing else (it re-uploads an earlier send exactly)"
            )
        return
    _check_forgery(argument, check)
    sources = [k for k in SOURCES if k in argument]
    if len(sources) != 1:
        raise check.fail(
            f"send には {', '.join(SOURCES)} のどれか 1 つだけを書きます / send needs exactly one of those listed"
        )
    for key in ("plan_to", "actuals_to", "to"):
        if key in argument:
            check.office(argument[key])
    if sources[0] in ("files", "broken", "generated") and "to" not in argument:
        raise check.fail(f"send: {sources[0]} には送信先の 'to' も書きます / {sources[0]} needs 'to'")
    if sources[0] == "broken":
        from fixtures.broken import by_name

        try:
            by_name(str(argument["broken"]))
        except KeyError:
            name = argument["broken"]
            raise check.fail(
                f"send: 壊れたデータ {name!r} はありません（careplan fixtures broken で一覧できます）"
                f" / no broken variant {name!r} (careplan fixtures broken)"
            ) from None


def _check_forgery(argument: Mapping[str, Any], check: Checker) -> None:
    """send's attack options: forge {signed_by | claim_sender | other_certificate}, tamper, signed_at,
    manifest_to."""
    forge = argument.get("forge")
    if forge is not None:
        if not isinstance(forge, Mapping) or len(forge) != 1 or set(forge) - FORGE_KEYS:
            raise check.fail(
                f"send: forge には {', '.join(sorted(FORGE_KEYS))} のどれか 1 つを書きます"
                " / forge takes one of those listed"
            )
        for key in ("signed_by", "claim_sender"):
            if key in forge:
                check.office(forge[key])
        if "other_certificate" in forge and forge["other_certificate"] is not True:
            raise check.fail(
                "send: forge の other_certificate には true を書きます / forge other_certificate takes true"
            )
    if "tamper" in argument and argument["tamper"] not in TAMPER:
        raise check.fail(not_one_of("send: tamper", argument["tamper"], TAMPER, what_en="tamper"))
    if "signed_at" in argument and not is_delta(argument["signed_at"]):
        raise check.fail(
            "send: signed_at にはハブの時計からのずれを {days, hours, minutes, seconds} で書きます"
            " / signed_at takes {days, hours, minutes, seconds} relative to the hub's clock"
        )
    if "manifest_to" in argument:
        check.office(argument["manifest_to"])


async def bulk_send(run: Run, step: Step, argument: Mapping[str, Any]) -> Outcome:
    actor = run.actor(step.actor or "")
    files: list[tuple[str, bytes]] = []
    for created in serials(int(argument.get("count", 1))):  # `count` transmissions per office
        for label in argument.get("plans_to") or ():
            files += run.files_for(actor, {"plan_to": label, "created": created})[0]
    if argument.get("files"):
        files += run.files_for(actor, {"files": argument["files"], "to": actor.office.label})[0]
    client = await run.session(actor)
    result = await client.bulk_send(files, send_valid=bool(argument.get("send_valid", False)))
    sent, failed = len(result.sent), len(result.failed)
    for key, got, done in (("expect_sent", sent, "送信できた"), ("expect_failed", failed, "送信できなかった")):
        if key in argument and int(argument[key]) != got:
            raise StepFailed(
                f"{done}のは {got} 件でした（想定は {argument[key]} 件） / {key} {argument[key]}, got {got}"
            )
    note = f"送信 {sent} 件、失敗 {failed} 件でした / sent {sent}, failed {failed}"
    return [r["transmission_id"] for r in result.sent], note


def check_bulk_send(argument: Any, check: Checker) -> None:
    if not isinstance(argument, Mapping) or not ({"plans_to", "files"} & set(argument)):
        raise check.fail(
            "bulk_send には {plans_to: [事業所]} か {files: [パス]} を書きます"
            " / bulk_send needs {plans_to: [offices]} or {files: [paths]}"
        )
    for value in argument.get("plans_to") or []:
        check.office(value)
    count = argument.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_BULK_COUNT:
        raise check.fail(
            f"bulk_send: count {count!r} は 1〜{MAX_BULK_COUNT} の整数ではありません"
            f" / count {count!r} is not a whole number from 1 to {MAX_BULK_COUNT}"
        )
    for key in ("expect_sent", "expect_failed"):
        if key in argument and not is_count(argument[key]):
            raise check.fail(
                f"bulk_send: {key} {argument[key]!r} は 0 以上の整数ではありません"
                f" / {key} {argument[key]!r} is not a whole number ≥ 0"
            )


EXCHANGE = (
    Action(
        name="send",
        run=send,
        keys=frozenset(
            {*SOURCES, "to", "month", "precheck", "id", "created", "forge", "tamper", "signed_at", "replay"}
            | {"manifest_to"}
        ),
        check=check_send,
    ),
    Action(
        name="bulk_send",
        run=bulk_send,
        keys=frozenset({"plans_to", "count", "files", "send_valid", "expect_sent", "expect_failed"}),
        check=check_bulk_send,
    ),
)
