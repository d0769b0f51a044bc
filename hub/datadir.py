"""Files of the data directory a hub process makes before it serves: the admin token (made on first
use) and the ready file (the URL, port and pid of a hub that listens). Standard library only: the
supervisor of `serve --workers N` (hub.supervisor) writes both without importing the hub itself.
"""

from __future__ import annotations

import json
import os
import secrets

from hub.config import HubConfig


def admin_token(config: HubConfig) -> str:
    """The configured admin token, or the one kept in data_dir/admin-token (made on first use)."""
    if config.admin_token:
        return config.admin_token
    path = config.data_dir / "admin-token"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


def write_ready_file(config: HubConfig, *, url: str, port: int) -> None:
    tmp = config.ready_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # like every file of the data directory
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps({"url": url, "port": port, "pid": os.getpid()}))
    tmp.replace(config.ready_file)
