"""`careplan demo --hub` on a running hub (in-process here): the month plays there, so the dashboard
shows it live; afterwards the hub is as the demo found it. Played twice, it left two more offices
each time (さくら居宅, ひまわり訪問介護 under new numbers), shown 期限切れ once the hub's clock was back
from April 2025, until a trainer ran `careplan hub reset`."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from controlkit import ok
from rich.cells import cell_len

from careplan_cli import demo
from scenarios.drivers import RemoteHub
from tests.conftest import HubUnderTest, Pki, run_careplan


def _demo(hub: HubUnderTest, *options: str) -> list[str]:
    return ["--hub", hub.url, "--data", str(hub.config.data_dir), *options]


async def _state(hub: HubUnderTest) -> tuple[Any, ...]:
    """The offices with their licences as the hub's clock has them, the transmissions, the clock's mode."""
    offices = (await ok(hub, "GET", "/admin/v1/offices"))["offices"]
    return offices, await hub.transmission_count(), (await ok(hub, "GET", "/admin/v1/clock"))["mode"]


async def test_played_twice_the_demo_leaves_no_office_behind(
    hub: HubUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    before = await _state(hub)
    for _ in range(2):
        status = await asyncio.to_thread(demo.main, _demo(hub))
        out = capsys.readouterr().out
        assert status == 0, out  # the month's 13 steps as the scenario expects, the second time too
        assert await _state(hub) == before  # no さくら居宅 again, none shown 期限切れ, the clock back
    assert out.splitlines()[-3:] == [
        "  ハブをデモの前の状態に戻しました（この月を残すには --keep）",
        "  the hub is back as the demo found it (--keep leaves the month there)",
        "✓ 一か月の流れを最後まで想定どおりに再生しました",
    ]


class _TrainerAtTheKeyboard:
    """A terminal where the trainer presses Enter at every prompt; at each, what the hub holds."""

    def __init__(self, hub: HubUnderTest, loop: asyncio.AbstractEventLoop) -> None:
        self.hub, self.loop = hub, loop
        self.transmissions: list[int] = []

    def isatty(self) -> bool:
        return True

    def readline(self) -> str:
        counted = asyncio.run_coroutine_threadsafe(self.hub.transmission_count(), self.loop)
        self.transmissions.append(counted.result(timeout=30))
        return "\n"


async def test_with_step_the_played_month_stays_on_the_hub_until_the_trainer_presses_enter(
    hub: HubUnderTest, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await hub.transmission_count()
    trainer = _TrainerAtTheKeyboard(hub, asyncio.get_running_loop())
    monkeypatch.setattr("sys.stdin", trainer)
    assert await asyncio.to_thread(demo.main, _demo(hub, "--step")) == 0
    out = capsys.readouterr().out
    assert out.count("（Enter で次へ）") == 12 and out.count("（Enter でデモを終え、ハブを元に戻します）") == 1
    assert trainer.transmissions[-1] == before + 5  # the whole month, for the dashboard, until Enter
    assert await hub.transmission_count() == before


async def test_keep_leaves_the_month_on_the_hub(hub: HubUnderTest, capsys: pytest.CaptureFixture[str]) -> None:
    offices, transmissions, _ = await _state(hub)
    assert await asyncio.to_thread(demo.main, _demo(hub, "--keep")) == 0
    assert "ハブをデモの前の状態に戻しました" not in capsys.readouterr().out
    kept, *_ = await _state(hub)
    assert {o["name"] for o in kept} - {o["name"] for o in offices} == {"さくら居宅", "ひまわり訪問介護"}
    assert await hub.transmission_count() == transmissions + 5


def test_keep_goes_with_hub(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        demo.main(["--keep"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "careplan demo: 使い方の誤り: --keep は --hub と一緒に指定します" in err
    assert "careplan demo: error: --keep goes with --hub" in err


def test_a_hub_it_cannot_reach_exits_3_with_the_refusal_every_command_gives(tmp_path: Path, pki: Pki) -> None:
    """No hub listens at the URL: exit 3 and HUB_UNREACHABLE on stderr as `careplan client` and
    `careplan load` say it (Japanese first, within 80 columns). It was exit 1, the status of a month
    that played otherwise, with the runner's one line of 250 columns on stdout."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "ca").symlink_to(pki.ca.directory)
    (data / "admin-token").write_text("t")
    done = run_careplan("demo", "--hub", "https://127.0.0.1:9", "--data", str(data), env={"COLUMNS": "80"})
    assert done.returncode == 3, done.stdout + done.stderr
    err = done.stderr.splitlines()
    assert err[0] == "エラー HUB_UNREACHABLE (load)", err
    assert "  対処: ハブが起動しているか（careplan up）と、URLを確かめてください。" in err
    assert any("https://127.0.0.1:9 に接続できません（Cannot connect" in line for line in err), err
    assert all(cell_len(line) <= 80 for line in err), err
    assert all(cell_len(line) <= 80 for line in done.stdout.splitlines()), done.stdout
    assert done.stdout.splitlines()[-1] == "× 想定どおりに進みませんでした"


async def test_a_hub_that_stops_during_the_month_exits_3_and_says_how_to_put_it_back(
    hub: HubUnderTest, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub stops at the month's clock step (May): that step reads HUB_UNREACHABLE, the demo
    says the hub could not be put back (and the snapshot that does it), then exits 3."""
    set_clock, loop = RemoteHub.set_clock, asyncio.get_running_loop()

    async def stop_in_may(self: RemoteHub, when: dt.datetime) -> dt.datetime:
        if when.month == 5:  # the demo runs in a thread of its own: the hub stops on its loop
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(hub.running.stop(), loop))
        return await set_clock(self, when)

    monkeypatch.setattr(RemoteHub, "set_clock", stop_in_may)
    assert await asyncio.to_thread(demo.main, _demo(hub)) == 3
    printed = capsys.readouterr()
    words = " ".join(printed.out.split())  # folded to the terminal's width
    assert "expected ok, refused with HUB_UNREACHABLE" in words  # step 6, the clock step
    assert "error: ハブを実行前の状態に戻せませんでした（careplan hub snapshot restore _scenario-run-" in words
    assert "HUB_UNREACHABLE" in printed.err and "に接続できません" in printed.err
