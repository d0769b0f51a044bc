"""The submit path's shortcuts (issue 10, throughput): each must answer exactly what the longer way
answered before it.

- A new submission's answer is built from what was written (hub.service._new_row), not read back:
  it equals the stored row as the send list and a retry show it.
- One query reads the replay check's row and the sender's and recipient's offices
  (hub.service._stored_and_offices).
- Content-Disposition in its plain form is read by a regex, as aiohttp reads it (hub.routes).
- Units up to INLINE_BYTES are judged on the event loop, bigger ones in a thread: the same
  refusals either way (broken variants of fixtures.broken), and downloads read either way.
- The journal writes a batch in one statement, each row built by hand (hub.control.journal._row).
- Whether a licence lets an office send or receive on a day is memoised by (licence, day)
  (hub.offices.judge_send_licences): another day or a changed licence is judged afresh.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import warnings
from dataclasses import asdict
from pathlib import Path
from unittest import mock

import pytest
from aiohttp import BodyPartReader, MultipartReader
from aiohttp import multipart as aiohttp_multipart
from aiohttp.multipart import content_disposition_filename, parse_content_disposition
from aiohttp.streams import StreamReader
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

import hub.service as service_module
from careplan import licence as lic
from careplan.errors import CareplanError
from careplan.manifest import Manifest
from fixtures.broken import by_name
from fixtures.samples import sample_plan_set
from hub.control.journal import _COLUMNS, Decision, Entry, _row
from hub.offices import judge_send_licences, licence_of
from hub.routes import FormParts, disposition_names
from tests.conftest import HOUMON, KYOTAKU, MISHINSEI, HubUnderTest
from tests.e2e.test_limits import signed
from tests.e2e.test_standard_round2 import RULES, _retarget
from tests.hub.test_metrics import scrape, value


async def test_new_submission_answer_equals_the_stored_row(hub: HubUnderTest) -> None:
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        sent = await kyotaku.send(list(files.items()), to=HOUMON.number)
        assert sent.pop("already_stored") is False
        stored = await hub.service._sent_row(sent["transmission_id"])
        assert json.dumps(sent, ensure_ascii=False) == json.dumps(stored, ensure_ascii=False)  # keys in order too
        [listed] = await kyotaku.sent()
        assert listed == stored


async def test_stored_and_offices_in_one_query(hub: HubUnderTest) -> None:
    """The replay check's row and both offices' rows come from one query, each kind apart."""
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        tid = (await kyotaku.send(list(files.items()), to=HOUMON.number))["transmission_id"]
    row = await hub.service.db.fetch_one("SELECT manifest, signature FROM transmissions WHERE id = ?", (tid,))
    assert row is not None
    manifest = Manifest.from_bytes(row["manifest"])
    stored, offices = await hub.service._stored_and_offices(manifest)
    assert stored is not None and stored["id"] == tid and bytes(stored["signature"]) == bytes(row["signature"])
    assert set(offices) == {KYOTAKU.number, HOUMON.number}
    assert offices[HOUMON.number]["name"] == HOUMON.name
    for number, office in offices.items():
        assert licence_of(number, office["licence_json"]) == await hub.service.licence(number)


def test_journal_row_is_what_asdict_gave() -> None:
    full = Entry(
        at="2026-12-01T00:00:00+00:00", method="POST", route="/api/v1/transmissions", path="/api/v1/transmissions",
        status=422, duration_ms=12.5, code="FORMAT_INVALID", office="1370100016", user_id="KJ1370100016",
        serial="4e1f", transmission="abc", fault={"kind": "delay", "ms": 5},
        decisions=(Decision(step="manifest", outcome="ok", note="3 files"), Decision(step="standard", outcome="x")),
    )  # fmt: skip
    for entry in (full, Entry(at="t", method="GET", route="/r", path="/p", status=200, duration_ms=0.1)):
        values = asdict(entry)
        values["fault"] = json.dumps(entry.fault, ensure_ascii=False) if entry.fault else None
        values["decisions"] = (
            json.dumps([asdict(d) for d in entry.decisions], ensure_ascii=False) if entry.decisions else None
        )
        assert _row(entry) == tuple(values[c] for c in _COLUMNS)


def _both(header: str) -> tuple[tuple[str | None, str | None], tuple[str | None, str | None]]:
    """(ours, aiohttp's) names of `header`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # aiohttp warns about the malformed ones
        _, params = parse_content_disposition(header)
        ours = disposition_names(header)
    return ours, (content_disposition_filename(params, "name"), content_disposition_filename(params, "filename"))


_TEXT = st.text(st.sampled_from(["a", "Z", ".", "/", "\\", '"', ";", " ", "=", "*", "'", "%", "\x00", "\n", "計"]))


@settings(max_examples=400, deadline=None)
@given(name=_TEXT, filename=st.one_of(st.none(), _TEXT), head=st.sampled_from(["form-data", "Form-Data", "attachment"]))
def test_disposition_names_read_as_aiohttp_reads_them(name: str, filename: str | None, head: str) -> None:
    header = f'{head}; name="{name}"' + ("" if filename is None else f'; filename="{filename}"')
    ours, theirs = _both(header)
    assert ours == theirs


def test_disposition_names_of_what_clients_send() -> None:
    for header in (
        'form-data; name="manifest"',
        'form-data; name="file"; filename="UPPLAN_202504_1370100016_43_1370100024_11_20250420093000.CSV"',
        'form-data; name="file"; filename="/etc/passwd"',
        'form-data; name="file"; filename="ケアプラン.csv"',
        "form-data; name=file; filename=a.csv",
        'form-data; filename="a.csv"; name="file"',
        "form-data; name=\"file\"; filename*=utf-8''%E8%A8%88.csv",
        'form-data; name="file"; filename="a\\".csv"',
        'form-data; name=""',
        "",
    ):
        ours, theirs = _both(header)
        assert ours == theirs, header


# --- small units judged on the event loop (hub.service.INLINE_BYTES) -------------------------------
_VARIANTS = [*sorted(RULES), "unit-combination", "warn-csv-blank-line"]


async def _outcome(hub: HubUnderTest, name: str, inline: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[object, ...]:
    monkeypatch.setattr(service_module, "INLINE_BYTES", 10**9 if inline else 0)
    sender, recipient, files = _retarget(by_name(name).make())
    tid = ("a" if inline else "b") * 31 + format(_VARIANTS.index(name), "x")
    manifest, signature = signed(hub, files, sender=sender, recipient=recipient, transmission_id=tid)
    async with hub.client(sender) as client:
        await client.login(sender.user, sender.password)
        try:
            await client.upload(manifest, signature, files)
        except CareplanError as refusal:
            return refusal.code, refusal.message, refusal.detail, refusal.fix, refusal.findings
    return ("stored",)


@pytest.mark.parametrize("name", _VARIANTS)
async def test_inline_and_threaded_checks_refuse_alike(
    name: str, hub: HubUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    threaded = await _outcome(hub, name, False, monkeypatch)
    assert threaded[0] == (by_name(name).code or "stored")
    assert await _outcome(hub, name, True, monkeypatch) == threaded


async def test_small_downloads_read_inline_and_big_in_a_thread(
    hub: HubUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    async with hub.client(KYOTAKU) as kyotaku, hub.client(HOUMON) as houmon:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await houmon.login(HOUMON.user, HOUMON.password)
        for inline in (True, False):
            monkeypatch.setattr(service_module, "INLINE_BYTES", 10**9 if inline else 0)
            tid = (await kyotaku.send(list(files.items()), to=HOUMON.number))["transmission_id"]
            got = await houmon.download(tid, tmp_path / str(inline))
            assert {p.name: p.read_bytes() for p in got.files} == files


async def test_a_licence_change_is_judged_at_once_despite_the_parse_cache(hub: HubUnderTest) -> None:
    """Parsed licences are memoised by their stored text (hub.offices.licence_of): a change is new
    text, so the next submit judges the new licence (未申請 → 申請済 lets the office send)."""
    files = sample_plan_set(sender=MISHINSEI.number, recipient=HOUMON.number)
    async with hub.client(MISHINSEI) as client:
        await client.login(MISHINSEI.user, MISHINSEI.password)
        with pytest.raises(CareplanError) as refused:
            await client.send(list(files.items()), to=HOUMON.number)
        assert refused.value.code == "SENDER_NOT_APPLIED"
        await hub.service.change_licence(MISHINSEI.number, "apply", "deduction")
        assert (await client.send(list(files.items()), to=HOUMON.number))["already_stored"] is False


def test_memoised_licence_judgements_follow_the_day_and_the_licence() -> None:
    """The same licences judged on a day in force, the day after their term (期限切れ), and again
    in force: each answer is the day's, not the first one memoised; so is a changed licence."""
    applied = lic.apply(lic.new_licence(KYOTAKU.number), on=dt.date(2024, 1, 5))
    unapplied = lic.new_licence(HOUMON.number)

    def offices(sender: lic.Licence, recipient: lic.Licence) -> dict[str, dict[str, str]]:
        return {
            KYOTAKU.number: {"name": KYOTAKU.name, "licence_json": json.dumps(sender.to_json())},
            HOUMON.number: {"name": HOUMON.name, "licence_json": json.dumps(recipient.to_json())},
        }

    def judged(day: dt.date, sender: lic.Licence = applied, recipient: lic.Licence = applied) -> str:
        try:
            judge_send_licences(KYOTAKU.number, HOUMON.number, offices(sender, recipient), day)  # type: ignore[arg-type]
        except CareplanError as error:
            return error.code
        return "ok"

    in_force, lapsed = dt.date(2024, 6, 1), dt.date(2025, 1, 2)
    assert (lic.may_send(applied, in_force), lic.may_send(applied, lapsed)) == (True, False)
    assert [judged(in_force), judged(lapsed), judged(in_force)] == ["ok", "SENDER_NOT_APPLIED", "ok"]
    assert judged(in_force, recipient=unapplied) == "RECIPIENT_NOT_LICENSED"
    assert judged(in_force, sender=unapplied) == "SENDER_NOT_APPLIED"
    assert judged(in_force) == "ok"


async def test_kept_metric_instruments_count_every_request(hub: HubUnderTest) -> None:
    """hub.metrics keeps the labelled instruments per (route, status, code): the same kind of
    answer twice counts twice, another kind gets its own."""
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        for _ in range(2):
            await kyotaku.send(list(files.items()), to=HOUMON.number)
        manifest, signature = signed(hub, list(files.items()), recipient=KYOTAKU, transmission_id="d" * 32)
        with pytest.raises(CareplanError):
            await kyotaku.upload(manifest, signature, list(files.items()))  # to itself: refused
    samples = await scrape(hub)
    submit = "POST /api/v1/transmissions"
    assert value(samples, "careplan_hub_requests_total", route=submit, status="201", code="") == 2
    assert value(samples, "careplan_hub_submit_duration_seconds_count", outcome="stored") == 2
    assert value(samples, "careplan_hub_submit_duration_seconds_count", outcome="refused") == 1
    assert value(samples, "careplan_hub_request_duration_seconds_count", route=submit) == 3


def _form(*parts: tuple[str, bytes]) -> bytes:
    body = b"".join(
        b"--bnd\r\nContent-Disposition: " + head.encode() + b"\r\n\r\n" + data + b"\r\n" for head, data in parts
    )
    return body + b"--bnd--\r\n"


async def _read_form(reader_class: type[MultipartReader], body: bytes) -> list[tuple[str | None, bytes]]:
    protocol = mock.Mock(_reading_paused=False)
    stream = StreamReader(protocol, 2**16, loop=asyncio.get_running_loop())
    stream.feed_data(body)
    stream.feed_eof()
    reader = MultipartReader(
        CIMultiDictProxy(CIMultiDict({"Content-Type": "multipart/form-data; boundary=bnd"})), stream
    )
    reader.__class__ = reader_class
    parts = []
    while (part := await reader.next()) is not None:
        assert isinstance(part, BodyPartReader)
        parts.append((disposition_names(part.headers.get("Content-Disposition"))[0], await part.read()))
    return parts


@pytest.mark.parametrize(
    "parts",
    [
        [('form-data; name="manifest"', b"{}"), ('form-data; name="file"; filename="a.csv"', b"x" * 70_000)],
        [('form-data; name="_charset_"', b"shift_jis"), ('form-data; name="manifest"', b"{}")],
        [("form-data; name=_charset_", b"utf-8"), ('form-data; name="file"; filename="b"', b"1")],
        [('form-data; name="/_charset_"', b"utf-8"), ('form-data; name="x\\"y"', b"2")],
    ],
)
async def test_form_parts_read_what_aiohttp_reads(parts: list[tuple[str, bytes]]) -> None:
    body = _form(*parts)

    async def outcome(reader_class: type[MultipartReader]) -> object:
        try:
            return await _read_form(reader_class, body)
        except Exception as exc:  # aiohttp reads a _charset_ part and then fails on the next header
            return repr(exc)

    assert await outcome(FormParts) == await outcome(MultipartReader)


async def test_form_parts_skip_the_charset_parse_for_plain_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    parse = aiohttp_multipart.parse_content_disposition
    monkeypatch.setattr(aiohttp_multipart, "parse_content_disposition", lambda h: calls.append(h) or parse(h))
    body = _form(('form-data; name="manifest"', b"{}"), ('form-data; name="file"; filename="a.csv"', b"x"))
    await _read_form(FormParts, body)
    assert calls == []
    await _read_form(MultipartReader, body)
    assert len(calls) == 2, "aiohttp's own reader parses every part's header for _charset_"
