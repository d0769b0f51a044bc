"""A terminal's saved state: which hub, which certificate, which user, the session token.

One JSON file per profile under the client home (CAREPLAN_CLIENT_HOME, default
~/.careplan-sim/client), mode 0600: it holds the .p12 password and the session token, as the
real client keeps its installed certificate and login on the terminal.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path


def client_home(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return explicit
    return Path(os.environ.get("CAREPLAN_CLIENT_HOME", Path.home() / ".careplan-sim" / "client"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    name: str
    hub_url: str
    ca_file: str
    p12_file: str
    p12_password: str
    user_id: str = ""
    token: str = ""

    @staticmethod
    def path(home: Path, name: str) -> Path:
        return home / "profiles" / f"{name}.json"

    @classmethod
    def load(cls, home: Path, name: str) -> Profile:
        path = cls.path(home, name)
        if not path.exists():
            raise FileNotFoundError(
                f"プロファイル {name!r} が {home} にありません。先に `careplan client --profile {name} login …` を"
                f"実行してください / no profile {name!r} in {home}: "
                f"run `careplan client --profile {name} login …` first"
            )
        return cls(**json.loads(path.read_text("utf-8")))

    def save(self, home: Path) -> Path:
        path = self.path(home, self.name)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(self), handle, ensure_ascii=False, indent=1)
        tmp.replace(path)
        return path

    def with_token(self, token: str, user_id: str | None = None) -> Profile:
        return replace(self, token=token, user_id=user_id if user_id is not None else self.user_id)
