"""`--database postgresql://…` from the command line, and a hub whose database is unreachable: a
clear refusal at start (one line in Japanese and English, the URL without its password, no
traceback) and, while running, 503 DATABASE_UNAVAILABLE with Retry-After on the requests that need
it, until the database is back."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from careplan.errors import CareplanError
from client.hubclient import client_ssl_context
from client.retry import RetryPolicy
from fixtures.samples import sample_plan_set
from hub.storage import CommitOutcomeUnknown
from tests.conftest import (
    HOUMON,
    KYOTAKU,
    HubUnderTest,
    PgCluster,
    Pki,
    careplan_up,
    hub_with,
    prepare_data_dir,
    run_careplan,
    running_pg_cluster,
)
from tests.conftest import _free_port as free_port


def test_careplan_up_on_postgresql_keeps_everything_in_the_database(tmp_path: Path, pg_cluster: PgCluster) -> None:
    url = pg_cluster.new_database()
    with careplan_up(tmp_path, "--database", url) as (hub_url, data, _):
        offices = json.loads((data / "demo" / "offices.json").read_text("utf-8"))
        assert offices and hub_url.startswith("https://")
    assert not (data / "hub.sqlite3").exists() and not (data / "control.sqlite3").exists()
    count = asyncio.run(_count(url, "SELECT count(*) FROM careplan.offices"))
    assert count == len(offices), "the demo offices are rows of the schema careplan"
    assert asyncio.run(_count(url, "SELECT count(*) FROM careplan_control.faults")) == 0, "the control schema"


async def _count(url: str, sql: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return int(await connection.fetchval(sql))
    finally:
        await connection.close()


@pytest.mark.parametrize("command", [["hub", "--data", "{data}", "serve"], ["up", "--data", "{data}"]])
def test_an_unreachable_database_is_one_line_at_start(tmp_path: Path, pki: Pki, command: list[str]) -> None:
    data = tmp_path / "data"  # not "hub": the command runs in tmp_path, where it would shadow the package
    prepare_data_dir(data, pki)
    url = f"postgresql://careplan:s3cret@127.0.0.1:{free_port()}/careplan"  # nobody listens there
    args = [part.format(data=data) for part in command]
    done = run_careplan(*args, "--port", "0", "--database", url, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "データベース" in lines[0] and "cannot reach the database" in lines[0]
    assert "postgresql://careplan:***@127.0.0.1" in lines[0]
    assert "s3cret" not in done.stderr + done.stdout and "Traceback" not in done.stderr
    assert not (data / "hub.json").exists()


async def _admin_offices(hub: HubUnderTest) -> tuple[int, dict[str, object], str | None]:
    connector = aiohttp.TCPConnector(ssl=client_ssl_context(hub.config.trusted_ca_file, None))
    headers = {"Authorization": "Bearer test-admin-token", "Accept-Language": "en"}
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(hub.url + "/admin/v1/offices", headers=headers) as response,
    ):
        return response.status, await response.json(), response.headers.get("Retry-After")


async def test_a_database_outage_is_503_and_the_hub_serves_again(
    tmp_path: Path, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    with running_pg_cluster() as cluster:  # its own cluster: stopping it leaves the session's alone
        async with hub_with(tmp_path, pki, database_url=cluster.new_database()) as hub:
            async with hub.client(KYOTAKU) as kyotaku:
                await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
                await kyotaku.send(list(files.items()), to=HOUMON.number)
                cluster.stop()
                try:
                    status, answer, retry_after = await _admin_offices(hub)
                    assert (status, answer["code"], retry_after) == (503, "DATABASE_UNAVAILABLE", "5")
                    assert "***" not in str(answer) and "Traceback" not in str(answer)
                    kyotaku.retry = type(kyotaku.retry)(attempts=1)
                    with pytest.raises(CareplanError) as refused:
                        await kyotaku.send(list(files.items()), to=HOUMON.number)
                    assert refused.value.code == "DATABASE_UNAVAILABLE"
                finally:
                    cluster.start()
                status, answer, _ = await _admin_offices(hub)  # the pool reconnects
                assert status == 200
                await kyotaku.send(list(files.items()), to=HOUMON.number)
            async with hub.client(HOUMON) as houmon:
                await houmon.login(HOUMON.user, HOUMON.password)
                assert len(await houmon.inbox()) == 2, "the refused send left nothing behind"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "no internal error was logged"


async def test_a_commit_whose_answer_is_lost_keeps_its_files_for_the_retry(
    hub: HubUnderTest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The connection drops while PostgreSQL commits a submission: the sender hears 503, yet the
    rows are stored. Their payload files must stay, so the retry with the same id is answered
    already_stored and the recipient receives every byte (hub.storage rule 8)."""
    db = hub.service.db
    commit = db.commit_together
    lost: list[str] = []

    async def commit_then_lose_the_answer(work: Any) -> Any:
        result = await commit(work)
        if not lost:  # the first submission only
            lost.append("COMMIT")
            raise CommitOutcomeUnknown(hub.config.database_url)
        return result

    monkeypatch.setattr(db, "commit_together", commit_then_lose_the_answer)
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    async with hub.client(KYOTAKU) as kyotaku:
        kyotaku.retry = RetryPolicy(attempts=2, base_delay=0, max_delay=0, max_retry_after=0)
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        sent = await kyotaku.send(list(files.items()), to=HOUMON.number)
    assert lost == ["COMMIT"] and kyotaku.retries == 1
    assert sent["already_stored"] is True, "the retry found the rows the lost COMMIT stored"
    async with hub.client(HOUMON) as houmon:
        await houmon.login(HOUMON.user, HOUMON.password)
        got = await houmon.download(sent["transmission_id"], tmp_path / "received")  # checks every SHA-256
    assert {p.name: p.read_bytes() for p in got.files} == dict(files)
