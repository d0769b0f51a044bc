"""HubView: what the kit reads from the hub, and how it degrades when the hub lacks issue 11's
journal and faults (not run, never failed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from careplan.errors import CareplanError
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


async def test_a_tampered_stored_file_is_refused_by_the_receivers_client(hub: HubUnderTest, tmp_path: Path) -> None:
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    async with hub.client(KYOTAKU) as sender:
        await sender.login(KYOTAKU.user, KYOTAKU.password)
        tid = (await sender.send(list(files.items()), to=HOUMON.number))["transmission_id"]
    view = HubView(hub.url, hub.config.data_dir)
    try:
        view.tamper_stored_file(tid)
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
