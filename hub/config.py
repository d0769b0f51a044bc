"""The hub's configuration: one frozen object built from CLI flags and the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hub.dburl import without_password

MIB = 1024 * 1024
ADMIN_TOKEN_ENV = "CAREPLAN_ADMIN_TOKEN"  # the hub's admin token when set (else data_dir/admin-token)


@dataclass(frozen=True, slots=True, kw_only=True)
class HubConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8443
    admin_token: str = ""
    # postgresql://user:password@host:port/database (hub.db_postgres); empty: SQLite at db_file
    database_url: str = ""
    metrics_token: str = ""  # GET /metrics from any address with it (README "Metrics and logs")
    session_hours: int = 12
    max_upload_bytes: int = 10 * MIB  # R4.3: 10 MB per transmission
    max_files: int = 7  # R4.3
    max_meta_bytes: int = 64 * 1024  # manifest and signature parts
    max_form_bytes: int = 1 * MIB  # any other body: JSON, web forms (BODY_TOO_LARGE)

    # --- slow and flooding clients (README "Malformed input, slow clients, retention") ----------
    header_timeout: float = 10.0  # seconds for the TLS handshake, and for a request line + headers
    body_min_rate: int = 2048  # bytes/s a body must keep up on average after body_grace…
    body_grace: float = 10.0  # …seconds (10 MB at 2 KiB/s: about 85 minutes)
    keepalive_timeout: float = 30.0  # an idle keep-alive connection is closed after this
    lingering_time: float = 2.0  # how long an unread body is drained after an early answer
    max_connections: int = 1000  # beyond it: 503 HUB_BUSY (clamped below the process's file limit)
    retry_after: int = 5  # seconds, in Retry-After of HUB_BUSY and RATE_LIMITED
    web_login_per_minute: int = 60  # POST /web/login per address
    correction_per_minute: int = 10  # POST /directory/correction per address
    certless_per_minute: int = 300  # /api/ requests without a client certificate, per address
    corrections_per_address_per_day: int = 20  # stored correction requests (hub clock)
    corrections_per_day: int = 500  # stored correction requests of all addresses (hub clock)
    log_interval: float = 60.0  # identical warnings and refusals are logged once per interval
    audit_burst: int = 5  # refusal rows per (peer, code) per audit_interval; the rest are counted
    audit_interval: float = 60.0

    # --- retention (hub clock; purged at start and every purge_interval seconds) ----------------
    audit_retention_days: int = 90
    login_failure_retention_days: int = 7  # longer than any throttle window
    correction_retention_days: int = 180
    session_grace_days: int = 1  # expired sessions are deleted this long after they expire
    purge_interval: float = 3600.0

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
    def where(self) -> str:
        """Where this hub keeps its state, for start-up lines: the data directory and, on
        PostgreSQL, the database (its URL without the password)."""
        if not self.database_url:
            return f"data: {self.data_dir}"
        return f"data: {self.data_dir}, database: {without_password(self.database_url)}"

    @property
    def ready_file(self) -> Path:
        """Written once the hub listens: its URL and PID, for scripts and tests."""
        return self.data_dir / "hub.json"

    @classmethod
    def from_env(cls, data_dir: Path, **overrides: object) -> HubConfig:
        values: dict[str, object] = {
            "host": os.environ.get("CAREPLAN_HUB_HOST", "127.0.0.1"),
            "port": int(os.environ.get("CAREPLAN_HUB_PORT", "8443")),
            "admin_token": os.environ.get(ADMIN_TOKEN_ENV, ""),
            "metrics_token": os.environ.get("CAREPLAN_HUB_METRICS_TOKEN", ""),
            "database_url": os.environ.get("CAREPLAN_HUB_DATABASE", ""),
        }
        for name, field in cls.__dataclass_fields__.items():  # CAREPLAN_HUB_MAX_CONNECTIONS=… etc.
            raw = os.environ.get(f"CAREPLAN_HUB_{name.upper()}")
            if raw is not None and field.type in ("int", "float") and name not in values:
                values[name] = int(raw) if field.type == "int" else float(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(data_dir=data_dir, **values)  # type: ignore[arg-type]
