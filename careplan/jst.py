"""Times as Japan reads them: one JST, and the two ways every command shows a time.

- For people: `2026-12-01 15:04:05` in JST, with seconds (`for_people`).
- In JSON: ISO 8601 in JST with its offset and whole seconds, `2026-12-01T15:04:05+09:00`
  (`for_json`, and `json_times` for a whole answer). The instant is the same either way; the hub
  itself may speak UTC with microseconds on the wire, the commands translate.
- A length of time in a message: `2日15時間` / `2 days 15 hours`, whole seconds (`span`), never
  Python's `2 days, 15:00:00`.
Pure functions: times come in as ISO strings, nothing reads a clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

JST = dt.timezone(dt.timedelta(hours=9), "JST")
TIME_KEYS = frozenset({"hub_time", "expires_at", "signed_at", "at", "now", "not_before", "not_after"})


def instant(iso: str) -> dt.datetime:
    """The instant `iso` names, aware: UTC when it gives no zone (the hub speaks UTC). ValueError
    when it is no ISO 8601 time."""
    moment = dt.datetime.fromisoformat(iso)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def in_jst(iso: str) -> dt.datetime:
    """The instant `iso` names (UTC when it gives no zone), in JST."""
    return instant(iso).astimezone(JST)


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
        instant(value)
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


_UNITS = ((86400, "日", "day"), (3600, "時間", "hour"), (60, "分", "minute"), (1, "秒", "second"))


def span(delta: dt.timedelta) -> tuple[str, str]:
    """(Japanese, English) for how long `delta` is, its sign dropped and its seconds whole (cut,
    not rounded: 14 min 59.5 s stays under 15 min), zero units left out: (`2日15時間`,
    `2 days 15 hours`), (`10分`, `10 minutes`), (`0秒`, `0 seconds`)."""
    left = int(abs(delta).total_seconds())
    ja: list[str] = []
    en: list[str] = []
    for size, unit_ja, unit_en in _UNITS:
        count, left = divmod(left, size)
        if count:
            ja.append(f"{count}{unit_ja}")
            en.append(f"{count} {unit_en}{'' if count == 1 else 's'}")
    return ("".join(ja), " ".join(en)) if ja else ("0秒", "0 seconds")
