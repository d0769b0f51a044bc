"""The database's URL as it may be shown, and the one line a command prints when the database cannot
be reached at start. Text only: the supervisor of `serve --workers N` (hub.supervisor) imports this
without the storage layer (asyncpg, sqlite3) that hub.storage brings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:  # an annotation only: the supervisor need not load the catalogue
    from careplan.errors import CareplanError


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def without_password(url: str) -> str:
    """The URL as it may be printed or logged: any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def refusal_line(program: str, error: CareplanError) -> str | None:
    """The one stderr line a command prints when its database cannot be reached at start: why and
    what to do (Japanese, then English; the URL without its password), or None for any other refusal."""
    if error.code != "DATABASE_UNAVAILABLE":
        return None
    fix_en = f" {error.fix_en}" if error.fix_en else ""
    return f"{program}: {error.detail}。{error.fix} / {error.detail_en}.{fix_en}"
