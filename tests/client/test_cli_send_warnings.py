"""`careplan client send` and `bulk-send` show the local pre-check's warnings (a BOM, a blank line)
that `careplan validate` shows for the same files, before the upload, and still send; with --json
the warnings are a field of their own beside the hub's answer."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
from rich.cells import cell_len

from fixtures.samples import sample_plan_set
from tests.client.test_cli_offline import terminal
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest, run_careplan
from tests.test_cli_hostile_input import unfolded

pytestmark = pytest.mark.slow

WARNED = ["encoding.bom", "csv.blank_line"]


def _files_with_warnings(folder: Path) -> list[str]:
    """A valid plan set whose UPPLAN starts with a UTF-8 BOM and ends with a blank line."""
    folder.mkdir()
    for name, data in sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number).items():
        (folder / name).write_bytes(b"\xef\xbb\xbf" + data + b"\r\n\r\n" if name.startswith("UPPLAN_") else data)
    return sorted(str(p) for p in folder.iterdir())


async def test_send_and_bulk_send_show_the_prechecks_warnings_and_still_send(hub: HubUnderTest, tmp_path: Path) -> None:
    home = tmp_path / "home"
    terminal(hub.pki, home, hub.url, token="")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        done = run_careplan("client", "--home", str(home), "--profile", "kyotaku", *args)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
        return done

    await asyncio.to_thread(cli, "login", "--user", KYOTAKU.user, "--password", KYOTAKU.password)
    paths = _files_with_warnings(tmp_path / "files")
    validated = json.loads((await asyncio.to_thread(run_careplan, "validate", "--json", *paths)).stdout)
    assert [f["rule"] for e in validated["entries"] for f in e["findings"]] == WARNED

    human = await asyncio.to_thread(cli, "send", *paths, "--to", HOUMON.number)
    said = unfolded(human.stderr)
    assert said.index("注意:送信前の確認で警告が2件") < said.index("warning:thepre-checkfound2warning(s)")
    assert "ファイルの先頭にUTF-8のBOMがあります。" in said and "空行を読み飛ばしました" in said
    assert "対処:BOMなしのMS932(Shift_JIS)で保存してください。" in said
    assert all(cell_len(line) <= 80 for line in human.stderr.splitlines()), human.stderr
    assert "送信しました" in human.stdout  # a warning does not stop the send

    sent = json.loads((await asyncio.to_thread(cli, "--json", "send", *paths, "--to", HOUMON.number)).stdout)
    assert sent["status"] == "未ダウンロード" and [f["rule"] for f in sent["warnings"]] == WARNED
    assert all(f["severity"] == "warning" for f in sent["warnings"])

    bulk = json.loads((await asyncio.to_thread(cli, "--json", "bulk-send", *paths)).stdout)
    assert len(bulk["sent"]) == 1 and bulk["failed"] == []
    [warned] = bulk["warnings"]
    assert warned["recipient"] == HOUMON.number and [f["rule"] for f in warned["findings"]] == WARNED
    english = await asyncio.to_thread(cli, "--lang", "en", "bulk-send", *paths)
    assert "thefilestartswithaUTF-8byteordermark" in unfolded(english.stderr)  # the finding's own English
