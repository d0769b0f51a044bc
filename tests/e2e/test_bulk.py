"""一括送信 (R4.3): many files for many offices, sorted by destination and sent as one transmission each."""

from __future__ import annotations

import pytest

from careplan.errors import CareplanError
from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, MISHINSEI, TSUSHO, HubUnderTest


def _sets(*offices: tuple[str, str]) -> list[tuple[str, bytes]]:
    files: list[tuple[str, bytes]] = []
    for number, kind in offices:
        files += sample_plan_set(sender=KYOTAKU.number, recipient=number, recipient_kind=kind).items()
    return files


async def test_bulk_send_sorts_by_destination_and_reports_each(hub: HubUnderTest) -> None:
    files = _sets((HOUMON.number, "11"), (TSUSHO.number, "15"), (MISHINSEI.number, "13"))
    async with hub.client(KYOTAKU) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        result = await client.bulk_send(files)
    assert sorted(t["recipient"]["office_number"] for t in result.sent) == sorted([HOUMON.number, TSUSHO.number])
    assert all(t["file_count"] == 3 for t in result.sent)
    [(recipient, names, error)] = result.failed
    assert (recipient, error.code) == (MISHINSEI.number, "RECIPIENT_NOT_LICENSED")
    assert len(names) == 3
    assert await hub.transmission_count() == 2


async def test_an_unplaceable_file_changes_nothing_unless_asked(hub: HubUnderTest) -> None:
    files = [*_sets((HOUMON.number, "11")), ("memo.docx", b"PK\x03\x04 a Word file is a zip")]
    async with hub.client(KYOTAKU) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        with pytest.raises(CareplanError) as caught:
            await client.bulk_send(files)
        assert caught.value.code == "DATA_LOAD_FAILED"
        assert any(f.get("file") == "memo.docx" for f in caught.value.findings)
        assert await hub.transmission_count() == 0

        result = await client.bulk_send(files, send_valid=True)
    assert [t["recipient"]["office_number"] for t in result.sent] == [HOUMON.number]
    assert [name for name, _ in result.unplaced] == ["memo.docx"]
    assert not result.ok
