"""HubView: what the kit reads from the hub, how it degrades when the hub lacks issue 11's journal
and faults (not run, never failed), and the two stagings it undoes: the office under test without
a licence, and a download answered with a wrong signer's signature."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from careplan.errors import CareplanError
from careplan.signature import sign
from conformance.hubview import HubView, NotAvailable
from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest


async def test_journal_and_faults_answer_and_an_unknown_fault_is_not_available(hub: HubUnderTest) -> None:
    """The hub has issue 11's journal and faults now; a fault the faults API does not know still
    makes the step not run (NotAvailable), never fail."""
    view = HubView(hub.url, hub.config.data_dir)
    try:
        assert await view.journal("0" * 32) == []
        armed = await view.arm_fault({"kind": "http_error", "status": 503, "route": "POST /api/v1/transmissions"})
        assert armed["faults"][0]["rule"]["status"] == 503
        with pytest.raises(NotAvailable, match="does not offer"):
            await view.arm_fault({"kind": "meteor"})
        await view.clear_faults()
        assert await view.stored("0" * 32) is None
        assert await view.sent_by(KYOTAKU.number) == []
    finally:
        await view.close()


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_a_tampered_stored_file_is_refused_by_the_receivers_client(hub: HubUnderTest, tmp_path: Path) -> None:
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    async with hub.client(KYOTAKU) as sender:
        await sender.login(KYOTAKU.user, KYOTAKU.password)
        tid = (await sender.send(list(files.items()), to=HOUMON.number))["transmission_id"]
    view = HubView(hub.url, hub.config.data_dir)
    try:
        await view.tamper_stored_file(tid)
        async with hub.client(HOUMON) as receiver:
            await receiver.login(HOUMON.user, HOUMON.password)
            with pytest.raises(CareplanError) as refused:
                await receiver.download(tid, tmp_path)
        assert refused.value.code == "FILE_TAMPERED"
        stored = await view.stored(tid)
        assert stored is not None and stored["downloaded_at"] is None  # no receipt
        assert not (tmp_path / tid).exists()
    finally:
        await view.close()


# --- the two stagings: the office under test without a licence, a download with a wrong signer -----
async def _send_plan(hub: HubUnderTest) -> str:
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    async with hub.client(KYOTAKU) as sender:
        await sender.login(KYOTAKU.user, KYOTAKU.password)
        return str((await sender.send(list(files.items()), to=HOUMON.number))["transmission_id"])


async def test_a_withdrawn_licence_refuses_the_send_and_the_same_record_comes_back(hub: HubUnderTest) -> None:
    before = await hub.service.licence(KYOTAKU.number)
    view = HubView(hub.url, hub.config.data_dir)
    try:
        async with view.licence_withdrawn(KYOTAKU.number) as states:
            with pytest.raises(CareplanError) as refused:
                await _send_plan(hub)
            assert refused.value.code == "SENDER_NOT_APPLIED"
            assert refused.value.message.startswith(
                "送信に失敗しました。ケアプランデータ連携システムWebサイトより利用申請"
            )
        assert states == {"before": "有効", "during": "未申請", "restored": "有効"}
        assert await hub.service.licence(KYOTAKU.number) == before
        with pytest.raises(RuntimeError, match="the adapter died"):  # restored on the way out of a failure too
            async with view.licence_withdrawn(KYOTAKU.number):
                raise RuntimeError("the adapter died")
        assert await hub.service.licence(KYOTAKU.number) == before
        assert await _send_plan(hub)
    finally:
        await view.close()


async def test_the_licence_record_route_refuses_what_it_cannot_store(hub: HubUnderTest) -> None:
    path = f"/admin/v1/offices/{KYOTAKU.number}/licence/record"
    before = await hub.service.licence(KYOTAKU.number)
    admin = {"Authorization": "Bearer test-admin-token", "Accept-Language": "en"}
    other = {"version": 1, "office_number": HOUMON.number, "terms": []}
    for body, words in [
        ({}, 'field "licence"'),
        ({"licence": other}, f"the record is for {HOUMON.number}"),
        ({"licence": {"version": 1, "office_number": KYOTAKU.number, "terms": [{"start": "x"}]}}, "not a licence"),
        ({"licence": {"version": 2, "office_number": KYOTAKU.number, "terms": []}}, "not a licence"),
    ]:
        status, answer = await hub.raw("PUT", path, json=body, headers=admin)
        assert (status, answer["code"]) == (400, "BAD_REQUEST") and words in answer["detail"], answer
    status, answer = await hub.raw("PUT", "/admin/v1/offices/1370100990/licence/record", json={}, headers=admin)
    assert (status, answer["code"]) == (404, "OFFICE_NOT_FOUND")
    status, answer = await hub.raw("GET", path)  # no admin token
    assert (status, answer["code"]) == (403, "ADMIN_FORBIDDEN")
    assert await hub.service.licence(KYOTAKU.number) == before


async def test_a_substituted_signature_is_refused_by_the_receiver_and_the_store_keeps_the_real_one(
    hub: HubUnderTest, tmp_path: Path
) -> None:
    tid = await _send_plan(hub)
    view = HubView(hub.url, hub.config.data_dir)
    try:
        stored = await view.stored(tid)
        assert stored is not None
        other = hub.pki.terminals[HOUMON.number]  # a valid signature over the manifest, by the wrong office
        wrong = sign(stored["manifest"].encode("utf-8"), other.certificate, other.key)
        await view.serve_signature(tid, wrong)
        async with hub.client(HOUMON) as receiver:
            await receiver.login(HOUMON.user, HOUMON.password)
            with pytest.raises(CareplanError) as refused:
                await receiver.download(tid, tmp_path)
            assert refused.value.code == "SIGNER_MISMATCH"
            assert await view.stored(tid) == stored  # no receipt, the stored signature untouched
            marked = [e["fault"] for e in await view.journal(tid) if e["fault"]]
            assert [m["kind"] for m in marked] == ["substitute_signature"]
            assert marked[0]["signature_sha256"] == hashlib.sha256(wrong).hexdigest() and "signature" not in marked[0]
            await view.clear_faults()
            assert (await receiver.download(tid, tmp_path)).signer.office_number == KYOTAKU.number
    finally:
        await view.close()


async def test_a_substitute_signature_rule_names_its_transmission_and_a_der_signature(hub: HubUnderTest) -> None:
    admin = {"Authorization": "Bearer test-admin-token", "Accept-Language": "en"}
    status, answer = await hub.raw(
        "POST", "/admin/v1/faults", json={"kind": "substitute_signature", "signature": "not base64!"}, headers=admin
    )
    assert (status, answer["code"]) == (400, "BAD_REQUEST")
    assert "needs a transmission id" in answer["detail"] and "detached CMS SignedData" in answer["detail"]
    status, answer = await hub.raw(
        "POST", "/admin/v1/faults", json={"kind": "latency", "signature": "MA=="}, headers=admin
    )
    assert (status, answer["code"]) == (400, "BAD_REQUEST") and "substitute_signature only" in answer["detail"]
    rule = {"kind": "substitute_signature", "transmission": 7, "signature": "MA=="}
    status, answer = await hub.raw("POST", "/admin/v1/faults", json=rule, headers=admin)
    assert (status, answer["code"]) == (400, "BAD_REQUEST")
    assert "transmission must be a string (or null)" in answer["detail"]
    assert (await hub.raw("GET", "/admin/v1/faults", headers=admin))[1]["faults"] == []  # nothing was added
