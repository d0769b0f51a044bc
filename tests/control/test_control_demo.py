"""`careplan demo --hub` on a running hub (in-process here): the month plays there, so the dashboard
shows it live; afterwards the hub is as the demo found it. Played twice, it left two more offices
each time (さくら居宅, ひまわり訪問介護 under new numbers), shown 期限切れ once the hub's clock was back
from April 2025, until a trainer ran `careplan hub reset`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from controlkit import ok

from careplan_cli import demo
from tests.conftest import HubUnderTest


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
