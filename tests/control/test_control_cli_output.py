"""What `careplan hub …` prints, over a real hub in this process: by default lines for people that
fit 80 display columns (a CJK glyph counts 2) with long Japanese office names, IDs and cursors whole,
empty lists saying so; with --json exactly the admin API's answer as before (times in JST); --limit
bounded by the API's own maximum as a usage error; `transmissions --all` across pages."""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from controlkit import admin, ok, plan, with_seed
from rich.cells import cell_len

from careplan.errors import CATALOGUE, CareplanError, Lang
from careplan.jst import for_people, json_times
from fixtures.samples import sample_plan_set
from hub import cli as hub_cli
from hub.control import cli as control_cli
from hub.control import render
from hub.listing import PAGE_MAX
from hub.logs import Bursts
from tests.conftest import HOUMON, KYOTAKU, MISHINSEI, HubUnderTest, Pki, prepare_data_dir
from tests.test_cli_hostile_input import unfolded

LONG_NAMES = {
    KYOTAKU.number: "社会福祉法人さくら福祉会 指定居宅介護支援事業所さくらケアプランセンター本町二丁目",
    HOUMON.number: "医療法人社団ひまわり会 ひまわり訪問介護ステーション駅前通り第二営業所",
}


def parse(*argv: str) -> argparse.Namespace:
    return hub_cli._parser().parse_args(list(argv))


def caller(hub: HubUnderTest) -> control_cli.Call:
    async def call(method: str, path: str, body: object | None) -> object:
        return (await admin(hub, method, path, body))[1]  # as hub.cli._admin: the JSON whatever the status

    return call


def fits(text: str, columns: int = 80, *, cursor: str = "") -> list[str]:
    """The lines of `text`, each checked to fit `columns` cells (except a page's cursor: about 100
    characters that must stay whole to be pasted after --cursor, alone on its line)."""
    lines = text.splitlines()
    assert lines, "nothing printed"
    too_wide = [line for line in lines if cell_len(line) > columns and line != cursor]
    assert not too_wide, "\n".join(too_wide)
    return lines


async def prepared(hub: HubUnderTest) -> list[str]:
    """Long Japanese office names, three transmissions (one downloaded), a refused send, a fault rule,
    open sessions, a directory correction request; the transmission ids, newest first."""
    for number, name in LONG_NAMES.items():
        async with hub.service.db.transaction() as tx:
            await tx.execute("UPDATE offices SET name = ? WHERE office_number = ?", (name, number))
    async with hub.client(KYOTAKU) as kyotaku, hub.client(HOUMON) as houmon:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await houmon.login(HOUMON.user, HOUMON.password)
        tids = [(await kyotaku.send(plan(f"2025042009300{i}"), to=HOUMON.number))["transmission_id"] for i in range(3)]
        await houmon.download(tids[0], hub.config.data_dir / "downloads")
        status, _ = await admin(
            hub, "POST", "/admin/v1/faults", {"kind": "latency", "latency_ms": 1, "operation": "list"}
        )
        assert status == 201
        await houmon.inbox()  # a journal entry with a fault
        unlicensed = sample_plan_set(sender=KYOTAKU.number, recipient=MISHINSEI.number, created="20250420094000")
        with pytest.raises(CareplanError) as refused:
            await kyotaku.send(list(unlicensed.items()), to=MISHINSEI.number)
        assert refused.value.code == "RECIPIENT_NOT_LICENSED"
    async with hub.service.db.transaction() as tx:
        await tx.execute(
            "INSERT INTO directory_corrections (office_number, field, value, contact, received_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                KYOTAKU.number,
                "事業所名",
                LONG_NAMES[KYOTAKU.number],
                "担当 山田太郎 03-1234-5678",
                "2025-04-20T01:00:00+00:00",
            ),
        )
    return tids[::-1]


COMMANDS = [
    ("transmissions",),
    ("transmissions", "--limit", "2"),
    ("sessions",),
    ("corrections",),
    ("corrections", "--set", "1", "対応中"),
    ("faults", "list"),
    ("faults", "add", "--kind", "http_error", "--status", "503", "--operation", "download", "--count", "2"),
    ("snapshot", "save", "研修用_月初の状態_さくら居宅介護支援事業所とひまわり訪問介護の送受信前"),
    ("snapshot", "list"),
    ("snapshot", "restore", "研修用_月初の状態_さくら居宅介護支援事業所とひまわり訪問介護の送受信前"),
    ("snapshot", "delete", "研修用_月初の状態_さくら居宅介護支援事業所とひまわり訪問介護の送受信前"),
    ("faults", "clear"),
    ("reset",),
]


async def test_every_command_fits_80_columns_for_people_and_keeps_its_json(
    hub: HubUnderTest, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: still 80 columns at most
    with_seed(hub)
    tids = await prepared(hub)
    call = caller(hub)
    for argv in COMMANDS:
        command = argv[0]
        args = parse(*argv)
        before = await control_cli.COMMANDS[command](call, args) if _read_only(argv) else None
        status = control_cli.show(
            await control_cli.COMMANDS[command](call, args), args, control_cli.lines_of(command, args)
        )
        printed = capsys.readouterr()
        assert status == 0, printed
        cursor = printed.out.splitlines()[-1] if "--cursor" in printed.out else ""
        lines = fits(printed.out, cursor=cursor)
        assert "{" not in printed.out, printed.out  # people's lines, not JSON
        if command == "transmissions":
            for tid in tids[: int(args.limit)]:
                assert tid in printed.out  # each ID whole on one line
            assert "社会福祉法人" in printed.out and "送信 " in printed.out
        if argv == ("transmissions", "--limit", "2"):
            assert cursor == (await control_cli.COMMANDS[command](call, args))["next_cursor"]  # type: ignore[index]
            assert lines[-1] == cursor  # whole, alone on its line
        if before is not None:  # the same command with --json: exactly the answer, as before
            as_json = parse(*argv, "--json")
            assert control_cli.show(before, as_json, control_cli.lines_of(command, as_json)) == 0
            assert capsys.readouterr().out == json.dumps(json_times(before), ensure_ascii=False, indent=2) + "\n"


def _read_only(argv: tuple[str, ...]) -> bool:
    return argv[0] in ("transmissions", "sessions") or argv in (
        ("corrections",),
        ("faults", "list"),
        ("snapshot", "list"),
    )


async def test_the_audit_reads_japanese_first_and_its_json_is_as_before(
    hub: HubUnderTest, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub's own words in a detail (a burst held back, a window's summary) read in Japanese, each
    code's meaning in Japanese above its detail, the certificate's peer whole; --json unchanged."""
    now = [0.0]
    monkeypatch.setattr(hub.service, "_refusal_bursts", Bursts(interval=60, burst=2, now=lambda: now[0]))
    pair = hub.pki.terminals[KYOTAKU.number]
    peer = f"{KYOTAKU.number}/{pair.certificate.serial_number:x}"
    replay = CareplanError("REPLAY", detail="送信ID dddd は送信済みです", detail_en="transmission dddd was sent")
    # at 0 s: two rows, two held back; at 61 s: a row saying so, a row, one held back (summed up at 122 s)
    for at, times in ((0.0, 4), (61.0, 3)):
        now[0] = at
        for _ in range(times):
            await hub.service.record_refusal(peer=peer, office_number=KYOTAKU.number, error=replay)
    now[0] = 122.0
    assert await hub.service.flush_refusals() == 1
    answer = await ok(hub, "GET", "/admin/v1/audit")
    assert len(answer["refusals"]) == 5
    for columns, cells in ((200, 80), (40, 40)):  # a wide terminal: 80 columns at most; a narrow one: its width
        out = _printed(columns, answer, capsys, monkeypatch)
        fits(out, cells)
        flat = unfolded(out)
        assert "同様の拒否がほかに1件ありました" in flat and "これより前の同様の拒否2件は個別に記録していません" in flat
        assert "refusal(s)" not in out and "送信/send" in flat and "REPLAY" in out
        assert unfolded(CATALOGUE["REPLAY"].explanation_in(Lang.JA)) in flat
    lines = fits(_printed(80, answer, capsys, monkeypatch))
    assert lines[1].split() == ["日時（JST）", "操作", "コード", "接続元"]
    assert sum(line.strip() == peer for line in lines) == 5  # whole, on its own line under the row
    assert control_cli.show(answer, parse("audit", "--json"), render.audit) == 0
    rows = json.loads(capsys.readouterr().out)["refusals"]
    assert rows == json_times(answer)["refusals"]  # exactly the admin API's answer
    assert all({"id", "at", "peer", "office_number", "operation", "code", "detail"} <= set(r) for r in rows)
    assert rows[0]["detail"] == "1 more refusal(s) like this"  # stored in English, as before


def _printed(columns: int, answer: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    """`careplan hub audit`'s lines for people on a terminal `columns` wide."""
    monkeypatch.setenv("COLUMNS", str(columns))
    assert control_cli.show(answer, parse("audit"), render.audit) == 0
    return capsys.readouterr().out


async def test_the_clock_and_keys_answers_for_people_and_as_json(
    hub: HubUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    moved = await ok(hub, "POST", "/admin/v1/clock", {"set": "2027-04-16T09:00:00+09:00", "frozen": True})
    args = parse("clock", "show")
    assert control_cli.show(moved, args, render.clock) == 0
    lines = fits(capsys.readouterr().out)
    assert "  ハブ時刻 / hub time      2027-04-16 09:00:00 JST" in lines and any("固定 / frozen" in x for x in lines)
    assert control_cli.show(moved, parse("clock", "show", "--json"), render.clock) == 0
    assert json.loads(capsys.readouterr().out)["now"] == "2027-04-16T09:00:00+09:00"
    rotated = await ok(hub, "POST", "/admin/v1/keys/rotate", {"retire_old": False})
    assert control_cli.show(rotated, parse("keys", "rotate"), render.keys) == 0
    text = capsys.readouterr().out
    fits(text)
    assert rotated["active_key"] in text and all(k in text for k in rotated["keys_on_disk"])


async def test_refusals_read_for_people_on_stderr_and_stay_json_with_json(
    hub: HubUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    call = caller(hub)
    args = parse("snapshot", "restore", "ない名前")
    refused = await control_cli.COMMANDS["snapshot"](call, args)
    assert control_cli.show(refused, args, control_cli.lines_of("snapshot", args)) == 1
    printed = capsys.readouterr()
    assert printed.out == "" and printed.err.startswith("エラー / error SNAPSHOT_NOT_FOUND")
    assert "対処 / fix" in printed.err and "careplan hub snapshot list" in printed.err
    fits(printed.err)
    as_json = parse("snapshot", "restore", "ない名前", "--json")
    assert control_cli.show(refused, as_json, control_cli.lines_of("snapshot", as_json)) == 1
    assert json.loads(capsys.readouterr().out)["code"] == "SNAPSHOT_NOT_FOUND"


@pytest.mark.parametrize(
    ("command", "fix"),
    [
        ("save", "careplan hub snapshot save 月初 のように"),
        ("restore", "careplan hub snapshot list で保存済みの名前"),
        ("delete", "careplan hub snapshot list で保存済みの名前"),
    ],
)
async def test_a_refused_snapshot_name_gives_the_fix_as_a_command_and_the_api_keeps_its_own(
    hub: HubUnderTest, capsys: pytest.CaptureFixture[str], command: str, fix: str
) -> None:
    """`careplan hub snapshot save 'a/b'` said: {"name": "月初"} のように名前を付けてください — the
    admin API's words, a body a person at the shell never typed."""
    args = parse("snapshot", command, "a/b")
    refused = await control_cli.COMMANDS["snapshot"](caller(hub), args)
    assert control_cli.show(refused, args, control_cli.lines_of("snapshot", args)) == 1
    err = capsys.readouterr().err
    fits(err)
    assert err.startswith("エラー / error BAD_REQUEST") and "スナップショット名 'a/b' は使えません" in err
    assert fix in "".join(line.strip() for line in err.splitlines()) and '{"name"' not in err
    status, api = await admin(hub, "POST", "/admin/v1/snapshots", {"name": "a/b"})
    assert (status, api["code"]) == (400, "BAD_REQUEST") and '{"name": "' in api["fix"]


async def test_faults_add_with_a_route_the_hub_lacks_is_refused_with_close_routes(
    hub: HubUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    """`careplan hub faults add --route 'GET /nothing'` stored a rule that never fired."""
    args = parse("faults", "add", "--kind", "latency", "--route", "POST /api/v1/transmision")
    refused = await control_cli.COMMANDS["faults"](caller(hub), args)
    assert control_cli.show(refused, args, control_cli.lines_of("faults", args)) == 1
    err = capsys.readouterr().err
    fits(err)
    said = "".join(line.strip() for line in err.splitlines())
    assert err.startswith("エラー / error BAD_REQUEST")
    assert "route 'POST /api/v1/transmision' に合うハブの経路がありません" in said
    assert "近い経路: POST /api/v1/transmissions" in said


async def test_empty_lists_say_so(hub: HubUnderTest, capsys: pytest.CaptureFixture[str]) -> None:
    call = caller(hub)
    for argv in (("transmissions",), ("sessions",), ("corrections",), ("faults", "list"), ("snapshot", "list")):
        args = parse(*argv)
        assert (
            control_cli.show(await control_cli.COMMANDS[argv[0]](call, args), args, control_cli.lines_of(argv[0], args))
            == 0
        )
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].endswith("（0件）") and lines[1] == render.EMPTY, (argv, lines)
    assert await control_cli._journal(call, parse("journal", "--code", "NO_SUCH_CODE")) == 0
    assert capsys.readouterr().out == "（0件）該当なし / no entries\n"


async def test_the_journal_two_lines_an_entry_decisions_folded_json_as_before(
    hub: HubUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    await prepared(hub)
    call = caller(hub)
    assert await control_cli._journal(call, parse("journal", "--limit", str(PAGE_MAX))) == 0
    lines = fits(capsys.readouterr().out)
    entries = (await ok(hub, "GET", f"/admin/v1/journal?limit={PAGE_MAX}"))["entries"]
    heads = [i for i, line in enumerate(lines) if line[:2].isdigit()]
    assert len(heads) == len(entries)
    for i, entry in zip(heads, entries, strict=True):  # the entry's own lines: at most two
        own = [line for line in lines[i + 1 : i + 3] if line.startswith("  ") and not line.startswith("    ")]
        assert len(own) <= 1, lines[i : i + 3]
        assert for_people(entry["at"])[11:] == lines[i][:8]  # JST, the date on its own line above
    assert lines[0].startswith("── ") and "（JST）" in lines[0]
    refused = [line for line in lines if "refused: RECIPIENT_NOT_LICENSED" in line]
    assert refused and any("⚡latency" in line for line in lines)
    assert await control_cli._journal(call, parse("journal", "--limit", str(PAGE_MAX), "--json")) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == (
        await ok(hub, "GET", f"/admin/v1/journal?limit={PAGE_MAX}")
    )["entries"][: len(entries)]


NOTE = "介護保険証明書, serial " + "ab" * 20 + ": trusted, valid, not revoked"


def test_a_crowded_journal_entry_keeps_to_two_lines_and_its_notes_fold() -> None:
    entry: dict[str, Any] = {
        "at": "2026-12-01T06:04:05.123+00:00", "status": 503, "method": "GET",
        "route": "/api/v1/inbox/{transmission_id}/files/{position:[0-9]+}", "code": "HUB_BUSY",
        "office": "1370100016", "user_id": "C137010001601", "transmission": "8736d338f4444865abfb508c07c07b88",
        "fault": {"kind": "http_error"}, "duration_ms": 1234.5,
        "decisions": [{"step": "certificate", "outcome": "ok", "note": NOTE}],
    }  # fmt: skip
    lines = render.journal_entry(entry, 80)
    assert lines[0] == "── 2026-12-01（JST） ──"
    assert lines[1] == "15:04:05 503 GET    /api/v1/inbox/{transmission_id}/files/{position:[0-9]+}"
    assert lines[2].split() == ["HUB_BUSY", "C137010001601", entry["transmission"], "⚡http_error", "1234ms"]
    assert lines[3].startswith("    certificate   ok  介護保険証明書") and "ab" * 20 in lines[4]
    assert all(cell_len(line) <= 80 for line in lines)
    assert render.journal_entry(entry, 80, day="2026-12-01")[0].startswith("15:04:05")  # same day: no date line


@pytest.mark.parametrize("command", ["journal", "transmissions"])
def test_limit_is_one_to_the_api_maximum_else_a_usage_error(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert parse(command, "--limit", "1").limit == 1 and parse(command, "--limit", str(PAGE_MAX)).limit == PAGE_MAX
    for bad in ("0", str(PAGE_MAX + 1), "-1", "ten", "1e3"):
        with pytest.raises(SystemExit) as stopped:
            parse(command, "--limit", bad)
        assert stopped.value.code == 2
        err = capsys.readouterr().err
        joined = unfolded(err)  # usage errors fold within the terminal's width
        assert unfolded(f"1〜{PAGE_MAX}の整数ではありません") in joined
        assert unfolded(f"not a whole number from 1 to {PAGE_MAX}") in joined
        assert "Traceback" not in err


async def test_the_cli_bound_is_the_apis_own(hub: HubUnderTest) -> None:
    for path in ("/admin/v1/journal", "/admin/v1/inspector/transmissions"):
        assert (await admin(hub, "GET", f"{path}?limit={PAGE_MAX}"))[0] == 200
        assert (await admin(hub, "GET", f"{path}?limit={PAGE_MAX + 1}"))[0] == 400


async def test_all_walks_every_page(hub: HubUnderTest, capsys: pytest.CaptureFixture[str]) -> None:
    tids = await prepared(hub)
    call = caller(hub)
    walked = await control_cli.COMMANDS["transmissions"](call, parse("transmissions", "--all", "--limit", "1"))
    assert walked == {"transmissions": (await ok(hub, "GET", "/admin/v1/inspector/transmissions"))["transmissions"],
                      "next_cursor": None}  # fmt: skip
    assert [t["transmission_id"] for t in walked["transmissions"]] == tids  # type: ignore[index]
    args = parse("transmissions", "--all", "--limit", "2")
    assert control_cli.show(await control_cli.COMMANDS["transmissions"](call, args), args, render.transmissions) == 0
    text = capsys.readouterr().out
    assert text.startswith("送信一覧（全事業所） / transmissions（3件）") and "--cursor" not in text


async def test_all_stops_when_a_page_repeats_a_cursor() -> None:
    pages = 0

    async def looping(method: str, path: str, body: object | None) -> object:
        nonlocal pages
        pages += 1
        assert pages < 10, "the walk did not stop"
        return {"transmissions": [{"transmission_id": f"t{pages}"}], "next_cursor": "same"}

    walked = await control_cli.COMMANDS["transmissions"](looping, parse("transmissions", "--all"))
    assert pages == 2 and walked == {"transmissions": [{"transmission_id": "t1"}, {"transmission_id": "t2"}],
                                     "next_cursor": "same"}  # fmt: skip


def test_an_entry_with_everything_at_once_still_keeps_each_item_whole_within_80_columns() -> None:
    """A long route, a code, a user, a transmission id and a fault at once overflow two lines: the
    rest goes on a third, no item broken (the README says so)."""
    entry = {
        "at": "2026-12-01T06:04:05+00:00", "status": 409, "method": "GET",
        "route": "/api/v1/inbox/{transmission_id}/files/{position:[0-9]+}", "code": "ALREADY_DOWNLOADED",
        "office": "1370100016", "user_id": "C137010001601", "transmission": "8736d338f4444865abfb508c07c07b88",
        "fault": {"kind": "cut_download"}, "duration_ms": 12.0, "decisions": [],
    }  # fmt: skip
    lines = render.journal_entry(entry, 80, day="2026-12-01")
    assert len(lines) == 3 and all(cell_len(line) <= 80 for line in lines)
    assert " ".join(lines[1:]).split() == [
        "ALREADY_DOWNLOADED", "C137010001601", entry["transmission"], "⚡cut_download", "12ms"
    ]  # fmt: skip


def test_a_terminal_too_narrow_for_the_table_gets_one_block_a_row() -> None:
    session = {"user_id": "C137010001601", "office_number": "1370100016",
               "created_at": "2026-12-01T06:04:05+00:00", "expires_at": "2026-12-01T18:04:05+00:00"}  # fmt: skip
    answer = {"client": [session], "website": []}
    assert render.sessions(answer, 80)[1].startswith("種別")  # 80 columns: the table
    lines = render.sessions(answer, 50)
    assert all(cell_len(line) <= 50 for line in lines)
    assert lines[0] == "開いているセッション / open sessions（1件）" and "  C137010001601" in lines
    assert "開始 / since" in lines and "  2026-12-01 15:04:05" in lines  # whole, in JST


def test_snapshot_names_and_times_stay_whole_in_the_list() -> None:
    """`careplan hub snapshot list`: a name is typed back after `restore`; the name a scenario run
    leaves when its hub went away (`_scenario-run-…`) was cut in two, its time too."""
    clock = {"mode": "frozen", "now": "2026-04-10T01:00:00+00:00"}
    saved = "2026-12-02T13:31:21+00:00"
    answer = {
        "snapshots": [
            {"name": "_scenario-run-439a739bbd82", "saved_at": saved, "offices": 5, "transmissions": 0,
             "clock": {"mode": "real"}},
            {"name": "月初", "saved_at": saved, "offices": 7, "transmissions": 0, "clock": clock},
        ]
    }  # fmt: skip
    lines = render.snapshot_list(answer, 80)
    assert all(cell_len(line) <= 80 for line in lines), lines
    assert any(line.split()[:3] == ["_scenario-run-439a739bbd82", "2026-12-02", "22:31:21"] for line in lines), lines


def test_the_audit_and_the_crl_read_within_80_columns() -> None:
    """`careplan hub audit` and `crl-status` for people: the refusal's detail (up to 300 characters
    of places and rules) folds below its line; the CRL's state in label lines, a refusal's why below."""
    detail = "3 finding(s): " + "; ".join(
        f"UPPLAN_202504_1370100016_43_1370100024_11_20250420093000.CSV:{n} No.10 サービス利用日 [field.date]"
        for n in range(3)
    )
    refusal = {"at": "2026-12-01T06:04:05+00:00", "operation": "send", "code": "FORMAT_INVALID",
               "peer": "203.0.113.7", "detail": detail}  # fmt: skip
    lines = render.audit({"refusals": [refusal]}, 80)
    assert lines[0] == "拒否の記録 / refusals（1件）"
    assert lines[1].split() == ["日時（JST）", "操作", "コード", "接続元"]  # Japanese first, as every table
    assert lines[2].split() == ["at", "operation", "code", "peer"] and set(lines[3]) == {"─"}
    assert lines[4].split() == ["2026-12-01", "15:04:05", "送信", "/", "send", "FORMAT_INVALID", "203.0.113.7"]
    assert all(cell_len(line) <= 80 for line in lines) and len(lines) > 6
    meaning = CATALOGUE["FORMAT_INVALID"].explanation_in(Lang.JA)
    notes = "".join(line.strip() for line in lines[5:]).replace(" ", "")
    assert notes == (meaning + detail.replace("3 finding(s): ", "指摘3件: ")).replace(" ", "")
    assert render.audit({"refusals": []}, 80) == ["拒否の記録 / refusals（0件）", render.EMPTY]
    force = {"crl_number": 7, "revoked_count": 2, "last_update": "2026-12-01T00:00:00+00:00", "next_update": None}
    refused = {"reason": "not-newer", "noticed_at": "2026-12-01T01:00:00+00:00",
               "detail": "CRL number 6 is not newer than the CRL in force (7): the hub keeps 7 " * 2}  # fmt: skip
    for answer in (
        {"file": "/srv/careplan/ca/crl.pem", "in_force": force, "refused": refused},
        {"file": "/srv/careplan/ca/crl.pem", "in_force": None, "refused": None},
    ):
        shown = render.crl(answer, 80)
        assert shown[0] == "失効リスト / CRL" and all(cell_len(line) <= 80 for line in shown), shown
    assert any("CRL number 7, 2 revoked" in line for line in render.crl({"file": "f", "in_force": force,
                                                                          "refused": None}, 80))  # fmt: skip


@pytest.mark.parametrize("stale", [True, False], ids=["hub.json left by a stopped hub", "no hub.json"])
def test_a_hub_that_does_not_answer_is_exit_3_and_stays_json_with_json(
    stale: bool, tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    """hub.json left behind (a hub killed, crashed): 'ファイルまたはフォルダを使えません / cannot
    use a file or folder … Connect call failed', exit 2; and with --json nothing on stdout at all."""
    data = tmp_path / "hub"
    prepare_data_dir(data, pki)
    if stale:
        with socket.socket() as probe:  # a loopback port nobody listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        (data / "hub.json").write_text(json.dumps({"url": f"https://127.0.0.1:{port}", "port": port, "pid": 1}))
    for argv in (["snapshot", "list", "--json"], ["clock", "show", "--json"], ["journal", "--limit", "1"]):
        assert hub_cli.main(["--data", str(data), *argv]) == 3, argv
        printed = capsys.readouterr()
        if "--json" in argv:
            assert json.loads(printed.out)["code"] == "HUB_UNREACHABLE", printed.out
        else:
            assert printed.out == ""
        assert "使えません / Connect" not in printed.err and printed.err.strip(), printed.err
        if stale:
            assert "エラー / error HUB_UNREACHABLE" in printed.err and "careplan up" in printed.err
        fits(printed.err)


def test_a_clock_advance_of_nothing_is_a_usage_error_before_any_hub(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        hub_cli.main(["--data", str(tmp_path), "clock", "advance"])
    assert stopped.value.code == 2
    err = unfolded(capsys.readouterr().err)
    assert unfolded("--days、--hours、--seconds のどれかに 0 でない値を指定してください") in err
    assert unfolded("give --days, --hours or --seconds a value other than 0") in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["snapshot", "list", "--data", "D"],
        ["snapshot", "--data", "D", "list"],
        ["clock", "show", "--json", "--data", "D"],
        ["transmissions", "--all", "--data", "D"],
        ["serve", "--port", "0", "--data", "D"],
        ["--data", "elsewhere", "journal", "--data", "D"],
    ],
)
def test_data_also_works_after_the_command_as_the_clients_profile_does(argv: list[str]) -> None:
    """`careplan hub snapshot list --data DIR` (as `careplan demo --hub URL --data DIR` is typed)
    names the same hub as `careplan hub --data DIR snapshot list`, not a usage error; given in both
    places, the later one counts."""
    assert parse(*argv).data == Path("D")


def test_data_before_the_command_is_not_undone_by_the_commands_own_default() -> None:
    assert parse("--data", "D", "snapshot", "list").data == Path("D")
    assert parse("snapshot", "list").data == hub_cli.DEFAULT_DATA


@pytest.mark.parametrize("text", ["{}", "[1]", "garbage", '{"url": 5}'])
def test_a_damaged_hub_json_is_exit_3_with_the_file_named_not_an_unexpected_error(
    text: str, tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    """hub.json cut short or edited: KeyError or TypeError, exit 70 'unexpected error'; now the
    hub cannot be reached as far as the command can tell: which file, why, restart the hub."""
    data = tmp_path / "hub"
    prepare_data_dir(data, pki)
    (data / "hub.json").write_text(text)
    assert hub_cli.main(["--data", str(data), "clock", "show", "--json"]) == 3
    printed = capsys.readouterr()
    error = json.loads(printed.out)
    assert error["code"] == "HUB_UNREACHABLE" and "hub.json からハブの URL を読めません" in error["detail"], error
    assert hub_cli.main(["--data", str(data), "snapshot", "list"]) == 3
    said = unfolded(capsys.readouterr().err)
    assert unfolded("ハブを止めて起動し直してください") in said and "想定外" not in said
