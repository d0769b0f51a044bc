"""`careplan conformance` refuses bad options with one clear line and status 2."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import run_careplan


def _run(data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    hub = ("--hub", "https://127.0.0.1:9", "--data", str(data), "--office", "1370100016")
    return run_careplan("conformance", "run", *hub, "--report", str(data / "r"), *extra)


def _ca(data: Path) -> None:
    """A CA and an admin token, as a hub's data folder has them (no hub runs with them)."""
    assert run_careplan("ca", "--dir", str(data / "ca"), "init").returncode == 0
    (data / "admin-token").write_text("not-the-hubs")


def test_bad_options_end_with_a_clear_message_and_status_2(tmp_path: Path) -> None:
    done = _run(tmp_path)
    lines = done.stderr.splitlines()
    assert done.returncode == 2 and f"  {tmp_path}" in lines
    assert "ハブのデータディレクトリではありません" in lines[0]  # Japanese first
    assert lines[1:3] == ["  not a hub's data directory", f"  {tmp_path}"]
    assert lines[3] == "  見つからないファイル / missing: ca/ca.pem, admin-token"
    assert not (tmp_path / "admin-token").exists()
    _ca(tmp_path)
    done = _run(tmp_path, "--only", "nope")
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "careplan conformance: client スイートに手順 nope はありません / no step nope in the client suite",
    )
    done = run_careplan("conformance", "csv", str(tmp_path / "missing"), "--report", str(tmp_path / "r"))
    assert done.returncode == 2 and "is not a folder" in done.stderr and "フォルダではありません" in done.stderr


def test_a_hub_it_cannot_reach_is_said_in_japanese_then_english_within_80_columns_and_exits_3(
    tmp_path: Path,
) -> None:
    """It was two lines of 105 and 204 columns (the URL, the folder and aiohttp's whole reason),
    and exit status 2, a bad option's, where every other command that reaches a hub exits 3."""
    from rich.cells import cell_len

    _ca(tmp_path)  # no hub listens at the URL: the admin API cannot be reached
    done = _run(tmp_path)
    lines = done.stderr.splitlines()
    assert done.returncode == 3 and lines[0] == "careplan conformance:", lines
    assert lines[1].startswith("  https://127.0.0.1:9 のハブの管理 API に"), lines
    assert any(line.startswith("  cannot reach the hub's admin API") for line in lines[2:]), lines
    assert all(cell_len(line) <= 80 or " " not in line.strip() for line in lines), lines  # a lone path stays whole


def test_a_data_folder_with_a_corrupt_ca_is_named_not_an_unexpected_error(tmp_path: Path) -> None:
    """A ca.pem that is no PEM ended conformance, scenarios --hub and demo --hub with exit 70
    ('想定外のエラー … ValueError') where the hub's own start says which file and what to do."""
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / "ca.pem").write_text("not a certificate")
    (tmp_path / "admin-token").write_text("t")  # present: the CA is what is wrong
    hub = ("--hub", "https://127.0.0.1:9", "--data", str(tmp_path))
    for done in (_run(tmp_path), run_careplan("scenarios", "run", *hub), run_careplan("demo", *hub)):
        assert done.returncode == 2 and "データディレクトリのファイルを使えません" in done.stderr, done.stderr
        assert str(tmp_path / "ca" / "ca.pem") in done.stderr and "想定外" not in done.stderr


def test_a_compare_file_of_another_shape_is_named_not_an_unexpected_error(tmp_path: Path) -> None:
    """`--compare` given JSON that is not a conformance.json (a list, `steps` not a list, a step
    without its id): an AttributeError or TypeError, exit 70 'unexpected error'; now status 2
    and what is wrong with it, before any hub is asked."""
    _ca(tmp_path)
    for name, text in {
        "list.json": "[1, 2]",
        "steps.json": '{"steps": 5}',
        "step.json": '{"steps": [{"status": "pass"}]}',
        "text.json": "not json",
    }.items():
        baseline = tmp_path / name
        baseline.write_text(text)
        done = _run(tmp_path, "--compare", str(baseline))
        assert done.returncode == 2, (name, done.stderr)
        assert "conformance.json ではありません" in done.stderr and "is not a conformance.json" in done.stderr
        assert "想定外" not in done.stderr, done.stderr
