"""The hub's configuration: one frozen object built from CLI flags and the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class HubConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8443
    admin_token: str = ""
    session_hours: int = 12
    max_upload_bytes: int = 10 * MIB  # R4.3: 10 MB per transmission
    max_files: int = 7  # R4.3
    max_meta_bytes: int = 64 * 1024  # manifest and signature parts

    @property
    def ca_dir(self) -> Path:
        return self.data_dir / "ca"

    @property
    def trusted_ca_file(self) -> Path:
        return self.ca_dir / "ca.pem"

    @property
    def crl_file(self) -> Path:
        return self.ca_dir / "crl.pem"

    @property
    def tls_dir(self) -> Path:
        return self.data_dir / "tls"

    @property
    def db_file(self) -> Path:
        return self.data_dir / "hub.sqlite3"

    @property
    def payload_dir(self) -> Path:
        return self.data_dir / "payloads"

    @property
    def key_file(self) -> Path:
        return self.data_dir / "keys" / "payload-keys.json"

    @property
    def ready_file(self) -> Path:
        """Written once the hub listens: its URL and PID, for scripts and tests."""
        return self.data_dir / "hub.json"

    @classmethod
    def from_env(cls, data_dir: Path, **overrides: object) -> HubConfig:
        values: dict[str, object] = {
            "host": os.environ.get("CAREPLAN_HUB_HOST", "127.0.0.1"),
            "port": int(os.environ.get("CAREPLAN_HUB_PORT", "8443")),
            "admin_token": os.environ.get("CAREPLAN_ADMIN_TOKEN", ""),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(data_dir=data_dir, **values)  # type: ignore[arg-type]
