"""The README's vendor recipe (docs/vendor-recipe.sh): openssl and curl alone send to the hub and
receive from it over mutual TLS, with no careplan-sim code on the office side."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from ca.authority import Issued
from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest

RECIPE = Path(__file__).resolve().parents[2] / "docs" / "vendor-recipe.sh"


def _tools() -> None:
    missing = [tool for tool in ("openssl", "curl") if shutil.which(tool) is None]
    if missing and os.environ.get("CI") == "true":
        pytest.fail(f"CI must have {missing} (.ci/run installs them)")
    if missing:
        pytest.skip(f"{missing} not installed here: the vendor recipe is not exercised")


async def run_recipe(hub: HubUnderTest, p12: Path, office: object, *args: str, **env: str) -> tuple[int, str, str]:
    """docs/vendor-recipe.sh as an office runs it: (exit status, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        "bash",
        str(RECIPE),
        *args,
        env={
            **os.environ,
            "HUB": hub.url,
            "CA": str(hub.config.trusted_ca_file),
            "P12": str(p12),
            "P12_PASSWORD": "recipe",
            "USER_ID": office.user,
            "PASSWORD": office.password,
            **env,
        },  # type: ignore[attr-defined]
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def _recipe(hub: HubUnderTest, p12: Path, office: object, *args: str, **env: str) -> str:
    code, out, err = await run_recipe(hub, p12, office, *args, **env)
    assert code == 0, err + out
    return out


async def test_openssl_and_curl_send_and_receive(hub: HubUnderTest, tmp_path: Path) -> None:
    _tools()
    p12s = {}
    for office in (KYOTAKU, HOUMON):
        pair = hub.pki.issue(office)
        p12s[office.number] = tmp_path / f"{office.number}.p12"
        p12s[office.number].write_bytes(Issued(certificate=pair.certificate, key=pair.key).to_p12("recipe"))
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)

    sent = await _recipe(
        hub,
        p12s[KYOTAKU.number],
        KYOTAKU,
        "send",
        *(str(tmp_path / n) for n in files),
        SENDER=KYOTAKU.number,
        RECIPIENT=HOUMON.number,
    )
    assert '"status": "未ダウンロード"' in sent

    out = tmp_path / "received"
    received = await _recipe(hub, p12s[HOUMON.number], HOUMON, "receive", OUT=str(out))
    [transmission_id] = received.split()
    assert {p.name: p.read_bytes() for p in (out / transmission_id).iterdir()} == files
    rows = await hub.service.db.fetch_all("SELECT downloaded_at FROM transmissions")
    assert [r[0] is not None for r in rows] == [True]
