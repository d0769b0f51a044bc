"""The receiving side and the send list: inbox, download (and a later acknowledge), sent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from client.hubclient import HubClient
from scenarios.actions.base import Action, Checker, Outcome, is_count, is_variable
from scenarios.results import StepFailed

if TYPE_CHECKING:
    from scenarios.context import Run
    from scenarios.model import Step


async def inbox(run: Run, step: Step, argument: Mapping[str, Any] | None) -> Outcome:
    argument = argument or {}
    if "steal_session" in argument:  # this terminal's certificate with another office's session token
        owner = await run.session(run.actor(str(argument["steal_session"])))
        actor = run.actor(step.actor or "")
        async with HubClient(
            url=run.driver.url, ca_file=run.ca_file(), keypair=actor.keypair, token=owner.token
        ) as thief:
            rows = await thief.inbox(include_downloaded=bool(argument.get("all", False)))
    else:
        client = await run.session(run.actor(step.actor or ""))
        rows = await client.inbox(include_downloaded=bool(argument.get("all", False)))
    ids = [r["transmission_id"] for r in rows]
    if "expect_ids" in argument and sorted(argument["expect_ids"]) != sorted(ids):
        raise StepFailed(
            f"受信一覧の送信 ID が想定と違います / inbox holds {ids}, expected {list(argument['expect_ids'])}"
        )
    if "expect_count" in argument and int(argument["expect_count"]) != len(ids):
        expected = argument["expect_count"]
        raise StepFailed(
            f"受信一覧は {len(ids)} 件でした（想定は {expected} 件） / inbox holds {len(ids)}, expected {expected}"
        )
    return ids, f"受信待ち {len(ids)} 件 / {len(ids)} waiting"


def check_inbox(argument: Any, check: Checker) -> None:
    if not isinstance(argument, Mapping):
        return
    if "steal_session" in argument:
        check.office(argument["steal_session"])
    _check_count(argument, check)
    ids = argument.get("expect_ids", [])
    if not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)) and not is_variable(ids):
        raise check.fail(
            f"inbox: expect_ids {ids!r} は送信 ID のリストではありません（例: [${{tid}}]）"
            f" / expect_ids {ids!r} is not a list of transmission ids (e.g. [${{tid}}])"
        )
    _check_flag(argument, "all", check)


def _check_count(argument: Mapping[str, Any], check: Checker) -> None:
    if "expect_count" in argument and not is_count(argument["expect_count"]):
        count = argument["expect_count"]
        raise check.fail(
            f"expect_count {count!r} は 0 以上の整数ではありません / expect_count {count!r} is not a whole number ≥ 0"
        )


def _check_flag(argument: Mapping[str, Any], key: str, check: Checker) -> None:
    if key in argument and not isinstance(argument[key], bool):
        raise check.fail(f"{key} には true か false を書きます / {key} takes true or false")


async def download(run: Run, step: Step, argument: Any) -> Outcome:
    """`download: ID | all`, or `{id: ID, acknowledge: false}`: fetched and verified but not
    acknowledged, as when a download is cut off; the hub keeps it (see `acknowledge`)."""
    acknowledge = True
    if isinstance(argument, Mapping):
        acknowledge = bool(argument.get("acknowledge", True))
        argument = argument.get("id", "all")
    client = await run.session(run.actor(step.actor or ""))
    ids = [r["transmission_id"] for r in await client.inbox()] if argument == "all" else [str(argument)]
    out = run.data / "downloads" / (step.actor or "")
    names: list[str] = []
    for tid in ids:
        downloaded = await client.download(tid, out, acknowledge=acknowledge)
        names += [p.name for p in downloaded.files]
    listed = f"（{', '.join(names)}）" if names else ""
    if acknowledge:
        note = f"{len(names)} ファイルをダウンロードしました{listed} / downloaded {len(names)} files"
    else:  # fetched, as when a download is cut off before its receipt
        note = (
            f"{len(names)} ファイルを受け取りました{listed}、受領の確認はまだ"
            f" / fetched {len(names)} files, not acknowledged"
        )
    return (ids if argument == "all" else ids[0]), note


def check_download(argument: Any, check: Checker) -> None:
    if argument is None:
        raise check.fail(
            "download には送信 ID（例: ${tid}）か 'all' を書きます"
            " / download needs a transmission id (e.g. ${tid}) or 'all'"
        )
    if isinstance(argument, Mapping):
        _check_flag(argument, "acknowledge", check)  # acknowledge: "no" would have acknowledged


def check_sent(argument: Any, check: Checker) -> None:
    if not isinstance(argument, Mapping):
        return
    _check_count(argument, check)
    if not isinstance(argument.get("expect_status", {}), Mapping):
        raise check.fail(
            "sent: expect_status には {送信ID: 状態} を書きます（例: {${tid}: ダウンロード済}）"
            " / expect_status maps transmission ids to a status (e.g. {${tid}: ダウンロード済})"
        )


async def acknowledge(run: Run, step: Step, argument: Any) -> Outcome:
    """The receipt for a transmission fetched earlier: the hub then forgets its data (R5.2)."""
    client = await run.session(run.actor(step.actor or ""))
    receipt = await client.acknowledge(str(argument))
    return receipt["transmission_id"], (
        f"受領を確認しました: {receipt['status']}（{receipt['downloaded_at']}）"
        f" / acknowledged: {receipt['status']} at {receipt['downloaded_at']}"
    )


async def sent(run: Run, step: Step, argument: Mapping[str, Any] | None) -> Outcome:
    argument = argument or {}
    client = await run.session(run.actor(step.actor or ""))
    rows = {r["transmission_id"]: r for r in await client.sent()}
    for tid, status in (argument.get("expect_status") or {}).items():
        if tid not in rows:
            raise StepFailed(f"{tid} は送信一覧にありません / {tid} is not in the send list")
        if rows[tid]["status"] != status:
            got = rows[tid]["status"]
            raise StepFailed(f"{tid} の状態は {got} でした（想定は {status}） / {tid} is {got}, expected {status}")
    if "expect_count" in argument and int(argument["expect_count"]) != len(rows):
        expected = argument["expect_count"]
        raise StepFailed(
            f"送信一覧は {len(rows)} 件でした（想定は {expected} 件）"
            f" / send list holds {len(rows)}, expected {expected}"
        )
    listed = "".join(f"、{tid[:8]}… {r['status']}" for tid, r in rows.items())
    note = f"送信一覧には {len(rows)} 件{listed} / send list holds {len(rows)}"
    return {tid: r["status"] for tid, r in rows.items()}, note


MAILBOX = (
    Action(
        name="inbox",
        run=inbox,
        keys=frozenset({"expect_ids", "expect_count", "all", "steal_session"}),
        check=check_inbox,
    ),
    Action(name="download", run=download, keys=frozenset({"id", "acknowledge"}), check=check_download),
    Action(name="acknowledge", run=acknowledge),
    Action(name="sent", run=sent, keys=frozenset({"expect_status", "expect_count"}), check=check_sent),
)
