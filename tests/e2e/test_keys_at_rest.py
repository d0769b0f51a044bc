"""Payload keys at rest (issue 4 §3): rotation loses no data, and no plaintext payload byte is ever
written anywhere under the data directory."""

from __future__ import annotations

from pathlib import Path

from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest


async def _rotate(hub: HubUnderTest, retire_old: bool) -> dict[str, object]:
    status, answer = await hub.raw(
        "POST",
        "/admin/v1/keys/rotate",
        json={"retire_old": retire_old},
        headers={"Authorization": "Bearer test-admin-token"},
    )
    assert status == 200
    return dict(answer)


async def test_rotation_keeps_every_payload_readable(hub: HubUnderTest, tmp_path: Path) -> None:
    first = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    second = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number, created="20250421093000")
    async with hub.client(KYOTAKU) as kyotaku, hub.client(HOUMON) as houmon:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await houmon.login(HOUMON.user, HOUMON.password)
        one = (await kyotaku.send(list(first.items()), to=HOUMON.number))["transmission_id"]
        added = await _rotate(hub, retire_old=False)
        assert len(added["keys_on_disk"]) == 2  # type: ignore[arg-type]
        two = (await kyotaku.send(list(second.items()), to=HOUMON.number))["transmission_id"]
        retired = await _rotate(hub, retire_old=True)
        assert retired["keys_on_disk"] == [retired["active_key"]]
        assert retired["rewritten"] == len(first) + len(second)
        for tid, files in ((one, first), (two, second)):
            got = await houmon.download(tid, tmp_path)
            assert {p.name: p.read_bytes() for p in got.files} == files


async def test_no_plaintext_payload_byte_anywhere_in_the_data_directory(hub: HubUnderTest) -> None:
    marker = "秘密の記録ＸＹＺ123".encode("cp932")
    files = {"memo.txt": marker * 20}
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await kyotaku.send(list(files.items()), to=HOUMON.number)
    await _rotate(hub, retire_old=True)
    for path in hub.config.data_dir.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert marker not in path.read_bytes(), f"plaintext found in {path}"
