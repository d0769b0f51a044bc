"""A terminal's saved state: which hub, which certificate, which user, the session token.

One JSON file per profile under the client home (CAREPLAN_CLIENT_HOME, default
~/.careplan-sim/client), mode 0600: it holds the .p12 password and the session token, as the
real client keeps its installed certificate and login on the terminal.
"""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path

from careplan.helptext import json_file_reason


def client_home(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return explicit
    return Path(os.environ.get("CAREPLAN_CLIENT_HOME", Path.home() / ".careplan-sim" / "client"))


class DamagedProfile(ValueError):
    """A profile file that is not one (cut short, edited by hand, another program's): said with the
    login that writes it anew (a local problem, exit 2); `login` itself starts over without it."""


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
        try:
            return cls._of(json.loads(path.read_text("utf-8")))
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError too
            why = json_file_reason(exc)
            raise DamagedProfile(
                f"プロファイル {path} が壊れています（{why}）。`careplan client --profile {name} login --hub … --ca …"
                f" --p12 …` でログインし直してください / the profile {path} is damaged ({why}): log in again with"
                f" `careplan client --profile {name} login --hub … --ca … --p12 …`"
            ) from None

    @classmethod
    def _of(cls, value: object) -> Profile:
        """A profile from its JSON, or ValueError naming what is missing or wrong; keys it does not
        know are left (a profile another version wrote)."""
        if not isinstance(value, dict):
            raise ValueError(f"not an object but {type(value).__name__}")
        known = {f.name: value[f.name] for f in fields(cls) if f.name in value}
        missing = [f.name for f in fields(cls) if f.name not in value and f.default is MISSING]
        if missing:
            raise ValueError(f"no {', '.join(missing)}")
        wrong = [key for key, item in known.items() if not isinstance(item, str)]
        if wrong:
            raise ValueError(f"{', '.join(wrong)} not text")
        return cls(**known)

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
