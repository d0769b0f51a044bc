"""The backbone, over a real hub on loopback with mutual TLS and two real clients:
send → receiver's inbox → download → sender's list shows ダウンロード済 → second download refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from careplan.errors import CareplanError
from careplan.transmission import DownloadStatus
from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest, PgCluster


async def test_send_inbox_download_once_and_sender_sees_it(hub: HubUnderTest, tmp_path: Path) -> None:
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    async with hub.client(KYOTAKU) as kyotaku, hub.client(HOUMON) as houmon:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await houmon.login(HOUMON.personal_user, HOUMON.password + "-c")

        sent = await kyotaku.send(list(files.items()), to=HOUMON.number)
        assert sent["status"] == DownloadStatus.PENDING == "未ダウンロード"
        assert sent["downloaded_at"] is None
        tid = sent["transmission_id"]

        inbox = await houmon.inbox()
        assert [t["transmission_id"] for t in inbox] == [tid]
        assert inbox[0]["sender"]["office_number"] == KYOTAKU.number
        assert sorted(f["name"] for f in inbox[0]["files"]) == sorted(files)

        got = await houmon.download(tid, tmp_path / "received")
        assert got.signer.office_number == KYOTAKU.number
        for path in got.files:
            assert path.read_bytes() == files[path.name]
        assert (tmp_path / "received" / f"{tid}.manifest.p7s").exists()

        [row] = await kyotaku.sent()
        assert row["transmission_id"] == tid
        assert row["status"] == "ダウンロード済"
        assert row["downloaded_at"] is not None

        with pytest.raises(CareplanError) as refused:
            await houmon.download(tid, tmp_path / "again")
        assert refused.value.code == "ALREADY_DOWNLOADED"
        assert refused.value.status == 410
        assert "送信元事業所に再送" in refused.value.message
        assert await houmon.inbox() == []
        assert [t["status"] for t in await houmon.inbox(include_downloaded=True)] == ["ダウンロード済"]
    assert hub.payload_files() == [], "the hub must forget the payload after the receipt (R5.2)"


async def test_interrupted_download_loses_nothing(hub: HubUnderTest, tmp_path: Path) -> None:
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    async with hub.client(KYOTAKU) as kyotaku, hub.client(HOUMON) as houmon:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await houmon.login(HOUMON.user, HOUMON.password)
        tid = (await kyotaku.send(list(files.items()), to=HOUMON.number))["transmission_id"]

        await houmon.download(tid, tmp_path / "first", acknowledge=False)  # cut off before the receipt
        assert (await kyotaku.sent())[0]["status"] == "未ダウンロード"

        again = await houmon.download(tid, tmp_path / "second")
        assert {p.name: p.read_bytes() for p in again.files} == files
        assert (await kyotaku.sent())[0]["status"] == "ダウンロード済"


def _database_bytes(hub: HubUnderTest, request: pytest.FixtureRequest) -> bytes:
    """Everything the hub's database wrote: SQLite's file and WAL, or PostgreSQL's WAL (every
    committed row passes through it, whatever the checkpoints did)."""
    if not hub.config.database_url:
        return hub.config.db_file.read_bytes() + Path(str(hub.config.db_file) + "-wal").read_bytes()
    assert not hub.config.db_file.exists(), "a hub on PostgreSQL made a SQLite file"
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    return b"".join(p.read_bytes() for p in sorted((cluster.directory / "data" / "pg_wal").glob("0*")))


async def test_payloads_are_encrypted_at_rest(hub: HubUnderTest, request: pytest.FixtureRequest) -> None:
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await kyotaku.send(list(files.items()), to=HOUMON.number)
    stored = b"".join(p.read_bytes() for p in hub.payload_files())
    assert len(hub.payload_files()) == len(files)
    for data in files.values():
        assert data[:32] not in stored
    db = _database_bytes(hub, request)
    assert db
    for data in files.values():
        assert data[:32] not in db


async def test_send_history_is_shared_by_terminals_of_one_office(hub: HubUnderTest) -> None:
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    second_terminal = hub.pki.issue(KYOTAKU)
    async with hub.client(KYOTAKU) as first, hub.client(second_terminal) as second:
        await first.login(KYOTAKU.user, KYOTAKU.password)
        await second.login(KYOTAKU.personal_user, KYOTAKU.password + "-c")
        sent = await first.send(list(files.items()), to=HOUMON.number)
        assert [t["transmission_id"] for t in await second.sent()] == [sent["transmission_id"]]


async def test_whoami_shows_office_and_licence(hub: HubUnderTest) -> None:
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        me = await kyotaku.whoami()
    assert me["office"]["office_number"] == KYOTAKU.number
    assert me["office"]["licence"]["state"] == "有効"
    assert me["office"]["licence"]["expires"] != "-"  # the demo licence has its deduction done
    assert me["user_id"] == KYOTAKU.user


async def test_sha256_of_received_files_matches_signed_manifest(hub: HubUnderTest, tmp_path: Path) -> None:
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    async with hub.client(KYOTAKU) as kyotaku, hub.client(HOUMON) as houmon:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await houmon.login(HOUMON.user, HOUMON.password)
        tid = (await kyotaku.send(list(files.items()), to=HOUMON.number))["transmission_id"]
        got = await houmon.download(tid, tmp_path)
    signed = {f.name: f.sha256 for f in got.manifest.files}
    assert signed == {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


async def test_attachment_with_a_japanese_name_travels_intact(hub: HubUnderTest, tmp_path: Path) -> None:
    note = ("説明 資料.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n")
    async with hub.client(KYOTAKU) as kyotaku, hub.client(HOUMON) as houmon:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        await houmon.login(HOUMON.user, HOUMON.password)
        sent = await kyotaku.send([note], to=HOUMON.number)
        assert [f["name"] for f in sent["files"]] == ["説明 資料.pdf"]
        got = await houmon.download(sent["transmission_id"], tmp_path)
    assert [(p.name, p.read_bytes()) for p in got.files] == [note]
