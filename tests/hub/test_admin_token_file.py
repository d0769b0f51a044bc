"""The admin-token file a hub makes at its first start is whole or absent: a crash between its
creation and its write left it empty, and a hub then took "" as its token, so that every admin
command (reset, snapshots, the clock, careplan load) was refused as ADMIN_FORBIDDEN for good."""

from __future__ import annotations

import os
from pathlib import Path

from hub.config import HubConfig
from hub.datadir import admin_token


def _config(data: Path) -> HubConfig:
    data.mkdir(parents=True, exist_ok=True)
    return HubConfig.from_env(data, admin_token="")


def test_a_new_token_is_made_once_and_kept(tmp_path: Path) -> None:
    config = _config(tmp_path / "data")
    first = admin_token(config)
    assert len(first) >= 24 and admin_token(config) == first
    path = tmp_path / "data" / "admin-token"
    assert path.read_text().strip() == first and path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["admin-token"]  # no staging file left


def test_an_empty_token_file_is_made_anew(tmp_path: Path) -> None:
    config = _config(tmp_path / "data")
    path = tmp_path / "data" / "admin-token"
    for left in ("", "\n", "   \n"):
        path.write_text(left)
        os.chmod(path, 0o600)
        made = admin_token(config)
        assert made.strip() and path.read_text().strip() == made, repr(left)


def test_a_token_given_by_the_environment_makes_no_file(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    config = HubConfig.from_env(tmp_path / "data", admin_token="from-the-environment")
    assert admin_token(config) == "from-the-environment"
    assert not (tmp_path / "data" / "admin-token").exists()


def test_an_empty_trainer_passcode_file_is_made_anew(tmp_path: Path) -> None:
    """The same crash window left the passcode `careplan up` prints empty: the dashboard's
    passcode could never be given."""
    from hub.control.dashboard import trainer_passcode

    config = _config(tmp_path / "data")
    (tmp_path / "data" / "trainer-passcode").write_text("")
    passcode = trainer_passcode(config)
    assert len(passcode) == 8 and passcode.isdigit() and trainer_passcode(config) == passcode
