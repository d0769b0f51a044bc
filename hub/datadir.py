"""Files of the data directory a hub process makes before it serves: the admin token (made on first
use; read, never made, by the commands that reach a running hub: `presented_admin_token`) and the
ready file (the URL, port and pid of a hub that listens); and `DataDirProblem`, what a
file of the data directory the hub cannot use at start becomes. Standard library only: the
supervisor of `serve --workers N` (hub.supervisor) uses them without importing the hub itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

from careplan.folding import fold
from careplan.helptext import os_error_text
from hub.config import ADMIN_TOKEN_ENV, HubConfig

# What to do about a file the hub cannot use at start (DataDirProblem), by the kind of file.
FROM_BACKUP_JA = "バックアップから戻すか、新しいデータディレクトリで始めてください"
FROM_BACKUP_JA += "（careplan up --data 新しいフォルダ）。"
FROM_BACKUP_EN = "Restore it from a backup, or start with a new data directory (careplan up --data NEW_FOLDER)."
KEYS_LOST_JA = "バックアップから戻してください。この鍵がないと、保存済みの送信データは読めません。"
KEYS_LOST_EN = "Restore it from a backup: without these keys the stored transmissions cannot be read."
TLS_AGAIN_JA = "tls フォルダを削除して careplan up を実行すると、ハブのTLS証明書が発行し直されます。"
TLS_AGAIN_EN = "Delete the tls folder and run careplan up: it issues the hub's TLS certificate again."
CA_LOST_JA = "バックアップから ca フォルダを戻してください（CAを作り直すと、発行済みの証明書は使えなくなります）。"
CA_LOST_EN = "Restore the ca folder from a backup (a new CA makes every certificate it issued unusable)."
CANNOT_OPEN_JA = "種類（ファイルかフォルダか）と権限を確かめてください。"
CANNOT_OPEN_JA += "ハブを動かすユーザーが読み書きできる必要があります。"
CANNOT_OPEN_EN = "Check its kind (file or folder) and permissions: the user that runs the hub must read and write it."


def admin_token(config: HubConfig) -> str:
    """The configured admin token, or the one kept in data_dir/admin-token (made on first use)."""
    if config.admin_token:
        return config.admin_token
    path = config.data_dir / "admin-token"
    with using(path, CANNOT_OPEN_JA, CANNOT_OPEN_EN):
        return made_once(path, lambda: secrets.token_urlsafe(24))


def made_once(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in `path` (the admin token, the trainer passcode), made with `make` on first
    use: whole or not at all (a staging file, fsynced, then linked into place, which fails if
    another process or node made it first: theirs is kept). One left empty by a crash of a version
    that created it before writing it is made anew: no one can present ""."""
    with contextlib.suppress(FileNotFoundError):
        kept = path.read_text().strip()
        if kept:  # the common case: one read (the dashboard asks at each passcode given)
            return kept
        path.unlink()
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(make())
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(staging, path)
    finally:
        staging.unlink()
    return path.read_text().strip()


def admin_token_needs() -> tuple[str, ...]:
    """The files of a data directory `presented_admin_token` reads (for hub.cli.not_hub_data's
    `needs`): the admin-token, unless $CAREPLAN_ADMIN_TOKEN gives the token."""
    return () if os.environ.get(ADMIN_TOKEN_ENV) else ("admin-token",)


def presented_admin_token(data_dir: Path) -> str:
    """The admin token a command presents to the running hub of `data_dir` (careplan load,
    scenarios run --hub, demo --hub, conformance run): $CAREPLAN_ADMIN_TOKEN when set, as the hub
    itself takes it (HubConfig.from_env), else data_dir/admin-token. Never made here, unlike
    `admin_token`: a token the hub did not make is one it refuses. Raises OSError when the file is
    missing; callers check first (hub.cli.not_hub_data with `admin_token_needs()`)."""
    return os.environ.get(ADMIN_TOKEN_ENV) or (data_dir / "admin-token").read_text().strip()


def write_ready_file(config: HubConfig, *, url: str, port: int) -> None:
    tmp = config.ready_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # like every file of the data directory
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps({"url": url, "port": port, "pid": os.getpid()}))
    tmp.replace(config.ready_file)


class DataDirProblem(Exception):
    """A file or folder of the data directory a hub cannot use at start (corrupt, of the wrong kind,
    unreadable): which one, why and what to do, in Japanese and English. The commands that start a
    hub (`careplan up`, `careplan hub serve`) print `lines()` and exit 2, never a traceback."""

    def __init__(self, path: Path, why: str, fix_ja: str, fix_en: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path, self.why, self.fix_ja, self.fix_en = path, why, fix_ja, fix_en

    def lines(self, program: str, cells: int = 80) -> str:
        """For stderr, within `cells` columns (the path whole on its own line)."""
        head = [f"{program}: データディレクトリのファイルを使えません", "  cannot use a file of the data directory"]
        body = [f"（{self.why}）", self.fix_ja, self.fix_en]
        return "\n".join([*head, f"  {self.path}", *(f"  {line}" for text in body for line in fold(text, cells - 2))])


@contextlib.contextmanager
def using(
    path: Path, fix_ja: str, fix_en: str, errors: tuple[type[BaseException], ...] = (OSError, ValueError)
) -> Iterator[None]:
    """`errors` raised inside, while a data-directory file is read or opened, become DataDirProblem
    for `path` (the exception's type and first 160 characters: positions and reasons, no content)."""
    try:
        yield
    except errors as exc:
        raise problem(path, exc, fix_ja, fix_en) from exc


def problem(path: Path, exc: BaseException, fix_ja: str, fix_en: str) -> DataDirProblem:
    if isinstance(exc, OSError):  # the reason in both languages; the path is shown on its own line
        why = os_error_text(OSError(exc.errno, exc.strerror))
    else:
        why = f"{type(exc).__name__}: {exc}"
    return DataDirProblem(path, why[:160] + ("…" if len(why) > 160 else ""), fix_ja, fix_en)


class UnreadableAnnouncement(ValueError):
    """A ready file (hub.json) that holds no URL: `ja` and `en` say which file and why."""

    def __init__(self, ja: str, en: str) -> None:
        super().__init__(f"{ja} / {en}")
        self.ja, self.en = ja, en


def announced_url(ready: Path) -> str:
    """The URL a running hub announced in its ready file (hub.json), for the commands that reach it;
    UnreadableAnnouncement for one that holds none (cut short, edited: a hub writes it anew when it
    starts). A missing file is the caller's to say (OSError)."""
    try:
        url = json.loads(ready.read_text("utf-8"))["url"]
        if not isinstance(url, str):
            raise TypeError(type(url).__name__)
    except (ValueError, KeyError, TypeError) as exc:
        why = type(exc).__name__
        raise UnreadableAnnouncement(
            f"{ready} からハブの URL を読めません（{why}）。ハブを起動し直すと書き直されます",
            f"cannot read the hub's URL from {ready} ({why}): a hub writes it anew when it starts",
        ) from None
    return url
