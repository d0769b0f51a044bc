"""The file side of snapshots (hub.control.snapshots): payload blobs kept by hard links (a blob is
never changed in place: a rewrite replaces the file, so a link keeps the old bytes), small files
copied. Both folders of a link are on one file system, so the same inode means the same file."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path


def link_tree(source: Path, target: Path) -> int:
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for entry in os.scandir(source):
        if entry.is_file() and not entry.name.startswith(".tmp-"):
            try:
                os.link(entry.path, target / entry.name)
            except FileNotFoundError:  # acknowledged (row deleted) on another node since the listing
                continue
            count += 1
    return count


def link_in(snapshot: Path, live: Path) -> None:
    """Give `live` every blob of the snapshot (links; same name and same inode = kept). A live
    file of the same name but another inode (re-encrypted since) is replaced atomically."""
    # Inode numbers come with the directory listing (no stat per file); both folders are on one
    # file system (links), so the same inode means the same file.
    present = {e.name: e.inode() for e in os.scandir(live)}
    for entry in os.scandir(snapshot):
        if present.get(entry.name) == entry.inode():
            continue
        if entry.name in present:
            tmp = live / f".tmp-restore-{entry.name}"
            os.link(entry.path, tmp)
            os.replace(tmp, live / entry.name)
        else:
            os.link(entry.path, live / entry.name)


def prune(snapshot: Path, live: Path) -> None:
    """Unlink the live blobs the snapshot does not hold (after the restore's commit)."""
    wanted = {e.name for e in os.scandir(snapshot)}
    for entry in os.scandir(live):
        if entry.name not in wanted:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)


def sync_payloads(snapshot: Path, live: Path) -> None:
    """Make `live` hold exactly the snapshot's blobs."""
    link_in(snapshot, live)
    prune(snapshot, live)


def copy_if_changed(source: Path, target: Path) -> None:
    if source.exists():
        if not target.exists() or target.read_bytes() != source.read_bytes():
            tmp = target.with_name(f".restore-{target.name}")
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
    elif target.exists():
        target.unlink()
