"""Times as Japan reads them: one JST, and the two ways every command shows a time.

- For people: `2026-12-01 15:04:05` in JST, with seconds (`for_people`).
- In JSON: ISO 8601 in JST with its offset and whole seconds, `2026-12-01T15:04:05+09:00`
  (`for_json`, and `json_times` for a whole answer). The instant is the same either way; the hub
  itself may speak UTC with microseconds on the wire, the commands translate.
Pure functions: times come in as ISO strings, nothing reads a clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

JST = dt.timezone(dt.timedelta(hours=9), "JST")
TIME_KEYS = frozenset({"hub_time", "expires_at", "signed_at", "at", "now", "not_before", "not_after"})


def _parse(iso: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(iso)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def in_jst(iso: str) -> dt.datetime:
    """The instant `iso` names (UTC when it gives no zone), in JST."""
    return _parse(iso).astimezone(JST)


def for_people(iso: str | None) -> str:
    """`2026-12-01 15:04:05` (JST); `-` for nothing."""
    if not iso or iso == "-":
        return "-"
    return in_jst(iso).strftime("%Y-%m-%d %H:%M:%S")


def for_json(iso: str) -> str:
    """`2026-12-01T15:04:05+09:00`."""
    return in_jst(iso).replace(microsecond=0).isoformat()


def _is_time(key: str, value: object) -> bool:
    if not isinstance(value, str) or not value or not (key.endswith("_at") or key in TIME_KEYS):
        return False
    try:
        _parse(value)
    except ValueError:
        return False
    return True


def json_times(value: Any) -> Any:
    """`value` with every time (keys ending in `_at`, and TIME_KEYS) as `for_json` gives it."""
    if isinstance(value, Mapping):
        return {k: for_json(v) if _is_time(k, v) else json_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_times(v) for v in value]
    return value
