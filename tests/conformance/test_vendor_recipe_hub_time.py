"""docs/vendor-recipe.sh keeps working when the hub's clock has moved (it signs with the hub's time)
and ends on a refusal with the hub's own JSON error, not a Python traceback."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from ca.authority import Issued
from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest
from tests.e2e.test_vendor_recipe import _tools, run_recipe


async def _recipe(hub: HubUnderTest, tmp_path: Path, *args: str, **env: str) -> tuple[int, str, str]:
    _tools()
    pair = hub.pki.issue(KYOTAKU)
    p12 = tmp_path / "kyotaku.p12"
    p12.write_bytes(Issued(certificate=pair.certificate, key=pair.key).to_p12("recipe"))
    return await run_recipe(hub, p12, KYOTAKU, *args, SENDER=KYOTAKU.number, RECIPIENT=HOUMON.number, **env)


def _files(tmp_path: Path) -> list[str]:
    paths = []
    for name, data in sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number).items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    return paths


async def test_the_recipe_signs_with_the_hubs_time_after_the_clock_moved(hub: HubUnderTest, tmp_path: Path) -> None:
    hub.clock.advance(dt.timedelta(days=3))  # the README's `clock advance` step
    code, out, err = await _recipe(hub, tmp_path, "send", *_files(tmp_path))
    assert code == 0, err
    sent = json.loads(out)
    assert dt.datetime.fromisoformat(sent["signed_at"]) - hub.clock.now() < dt.timedelta(minutes=1)


async def test_a_wrong_password_ends_with_the_hubs_json_error(hub: HubUnderTest, tmp_path: Path) -> None:
    code, _, err = await _recipe(hub, tmp_path, "send", *_files(tmp_path), PASSWORD="wrong")
    assert code == 1
    assert "Traceback" not in err and "KeyError" not in err
    prefix, _, body = err.strip().partition(": ")
    assert prefix.startswith("refused by the hub (HTTP 401")
    assert json.loads(body)["code"] == "LOGIN_FAILED"
    assert await hub.transmission_count() == 0
