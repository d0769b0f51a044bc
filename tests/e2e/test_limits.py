"""Limits enforced by the hub itself while streaming, for clients that skip the pre-check:
a clear catalogue refusal, never a broken connection, and nothing stored (R4.3)."""

from __future__ import annotations

import datetime as dt

import pytest

from careplan.errors import CareplanError
from careplan.manifest import Manifest
from careplan.signature import sign
from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest, Office


def signed(
    hub: HubUnderTest,
    files: list[tuple[str, bytes]],
    *,
    sender: Office = KYOTAKU,
    recipient: Office = HOUMON,
    transmission_id: str = "c" * 32,
) -> tuple[bytes, bytes]:
    """A manifest of `files` from `sender` to `recipient`, signed by the sender's terminal (no client
    pre-check: what the hub alone decides)."""
    pair = hub.pki.terminals[sender.number]
    manifest = Manifest.build(
        transmission_id=transmission_id,
        sender=sender.number,
        recipient=recipient.number,
        signed_at=dt.datetime.now(dt.UTC),
        files=files,
    ).to_bytes()
    return manifest, sign(manifest, pair.certificate, pair.key)


async def _refused(hub: HubUnderTest, files: list[tuple[str, bytes]]) -> CareplanError:
    manifest, signature = signed(hub, files)
    async with hub.client(KYOTAKU) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        with pytest.raises(CareplanError) as caught:
            await client.upload(manifest, signature, files)
    assert await hub.transmission_count() == 0
    assert hub.payload_files() == []
    return caught.value


async def test_over_ten_megabytes_is_refused_while_streaming(hub: HubUnderTest) -> None:
    files = [(f"big{i}.pdf", b"%PDF-1.4\n" + bytes(4 * 1024 * 1024)) for i in range(3)]
    error = await _refused(hub, files)
    assert (error.code, error.status) == ("TRANSMISSION_TOO_LARGE", 413)
    assert "big2.pdf" in error.detail


async def test_more_than_seven_files_is_refused(hub: HubUnderTest) -> None:
    files = [(f"note{i}.txt", f"メモ{i}".encode("cp932")) for i in range(8)]
    error = await _refused(hub, files)
    assert (error.code, error.status) == ("TOO_MANY_FILES", 413)


async def test_a_zip_is_refused_with_the_data_load_message(hub: HubUnderTest) -> None:
    plan = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    files = [("plans.CSV", b"PK\x03\x04" + bytes(100))]  # a zip, whatever its name says
    error = await _refused(hub, files)
    assert "plans.CSV" in error.detail or any(f.get("file") == "plans.CSV" for f in error.findings)
    assert plan  # the same files unzipped would be accepted: see test_exchange
    assert error.code == "DATA_LOAD_FAILED"
    assert error.message.startswith("データの読み込みに失敗しました。")
