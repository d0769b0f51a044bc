"""Payloads at rest: each file encrypted (AES-256-GCM) and written atomically.

Rules this module keeps:
1. No plaintext payload byte touches the disk: a file is encrypted in memory, written to a
   temporary name, fsynced, renamed into place and the directory fsynced, all before the database
   commit that makes the transmission visible. An upload is never held whole in memory: its files
   are staged (`stage`) while they stream in, sealed chunk by chunk (CPS2: AES-256-GCM per
   CHUNK bytes, the nonce counting chunks, the blob name, chunk number and a last-chunk flag in the
   associated data, so chunks can be neither reordered, moved to another blob nor cut off) and
   hashed as they come; `publish` fsyncs them, renames them into place and fsyncs the directory
   once for the whole transmission.
2. Blobs no committed row references are garbage (a crash between write and commit, or between
   an acknowledgement's commit and the unlink); `collect_garbage` removes them at start-up.
3. Keys live in one 0600 file, newest first; each blob names its key id, so a rotation adds a key
   without losing old data, and retiring old keys re-encrypts every blob first. The key file is
   re-read when it changes (one stat per write; a read with an unknown key id), so the worker
   processes of `serve --workers N` (hub.workers) follow a rotation made through any one of them.
4. A blob's name says which machine and process wrote it. Nodes on a shared database share this
   directory, so an unreferenced file may be another node's upload between its write and its
   commit; but one written by a process of this machine that no longer runs (a crash, a SIGKILL)
   never will be committed, and is garbage at once (`collect_garbage` with a grace).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import struct
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from careplan.standard.source import HEAD, Content, Streamed
from hub.datadir import CANNOT_OPEN_EN, CANNOT_OPEN_JA, KEYS_LOST_EN, KEYS_LOST_JA, using
from hub.processes import runs


# This machine in blob names (rule 4): a hash of its hostname and machine id, so nodes on one
# shared directory never read each other's names as their own.
def _machine() -> str:
    try:
        machine_id = Path("/etc/machine-id").read_text().strip()
    except OSError:
        machine_id = ""
    return hashlib.sha256(f"{os.uname().nodename}/{machine_id}".encode()).hexdigest()[:8]


WRITER = _machine()


MAGIC = b"CPS1"  # one AES-GCM message (PayloadStore.write)
MAGIC_CHUNKED = b"CPS2"  # sealed chunk by chunk (StagedPayload)
CHUNK = 64 * 1024  # plaintext bytes per sealed chunk: what a part's read hands over (hub.routes), so
# an upload in flight holds at most one read and one chunk (256 KiB held up to ~320 KiB each: 32
# concurrent 10 MB uploads took ~6 MB more, bench/load.py); files written with another size read as
# they are
KEPT_BYTES = 64 * 1024  # the files of an upload that stay within this in all also keep their
# plaintext in memory while the upload is judged (its standard check, inline at this size, reads
# them without opening and decrypting the files again); past it they drop it (hub.routes), so an
# upload in flight holds at most about twice this in plaintext
_LENGTH = struct.Struct(">I")


def _fsync(path: Path) -> None:
    """fsync a file, or a directory (its entries), by name."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """`path` holds `data` whole, or what it held before: a staging file, fsynced, renamed into
    place, and the folder fsynced (a crash never leaves a file cut short)."""
    tmp = path.with_name(f".tmp-{path.name}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync(path.parent)


class PayloadStore:
    """Encrypted blobs in one directory. All methods block: call them off the loop, but for reading
    a small file (hub.service.INLINE_BYTES: less than a hop to a thread costs)."""

    def __init__(self, directory: Path, key_file: Path) -> None:
        self.directory = directory
        self.key_file = key_file
        with using(directory, CANNOT_OPEN_JA, CANNOT_OPEN_EN):
            directory.mkdir(parents=True, exist_ok=True)
        self._stamp: tuple[int, int, int] | None = None
        self._keys: dict[str, bytes] = {}
        self._keys = self._load_or_create_keys()

    def _load_or_create_keys(self) -> dict[str, bytes]:
        if not self.key_file.exists():
            self.key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._save_keys({secrets.token_hex(4): AESGCM.generate_key(bit_length=256)})
        with using(self.key_file, KEYS_LOST_JA, KEYS_LOST_EN, (OSError, ValueError, LookupError, TypeError)):
            stat = self.key_file.stat()
            entries = json.loads(self.key_file.read_text())
            self._stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            keys = {str(e["id"]): base64.b64decode(e["key"], validate=True) for e in entries}
        # Keys this process knew and the file no longer lists stay readable here (rule 3).
        return keys | {key_id: key for key_id, key in self._keys.items() if key_id not in keys}

    def _follow_key_file(self) -> None:
        """Take in a key file another process rewrote (a rotation made through another worker)."""
        stat = self.key_file.stat()
        if (stat.st_ino, stat.st_mtime_ns, stat.st_size) != self._stamp:
            self._keys = self._load_or_create_keys()

    def _save_keys(self, keys: dict[str, bytes]) -> None:
        entries = [{"id": key_id, "key": base64.b64encode(key).decode()} for key_id, key in keys.items()]
        write_atomic(self.key_file, json.dumps(entries).encode())

    def add_key(self) -> str:
        """Make a new key the active one; everything stored stays readable with its own key."""
        self._follow_key_file()
        new_id = secrets.token_hex(4)
        self._keys = {new_id: AESGCM.generate_key(bit_length=256), **self._keys}
        self._save_keys(self._keys)
        return new_id

    def retire_old_keys(self) -> int:
        """Re-encrypt every blob with the active key, then keep only that key in the key file (old
        keys stay in this process's memory, so a read racing the rewrite still succeeds). Callers
        re-seal their own sealed values first. Returns how many blobs were rewritten."""
        rewritten = 0
        for path in sorted(self.directory.iterdir()):
            if path.name.startswith(".tmp-"):
                continue
            try:
                self.write(path.name, self.read(path.name))
            except FileNotFoundError:  # acknowledged (deleted) meanwhile
                continue
            rewritten += 1
        self._save_keys({self.active_key_id: self._keys[self.active_key_id]})
        return rewritten

    def key_ids(self) -> list[str]:
        return list(self._keys)

    @property
    def active_key_id(self) -> str:
        return next(iter(self._keys))

    def write(self, name: str, plaintext: bytes) -> None:
        self._follow_key_file()
        key_id = self.active_key_id
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self._keys[key_id]).encrypt(nonce, plaintext, name.encode())
        write_atomic(self.directory / name, MAGIC + key_id.encode() + nonce + sealed)

    def read(self, name: str) -> bytes:
        return self._open(self.directory / name, name)

    def _key(self, key_id: str) -> bytes:
        if key_id not in self._keys:
            self._follow_key_file()
        return self._keys[key_id]

    def _open(self, path: Path, name: str) -> bytes:
        with path.open("rb") as handle:
            head = handle.read(20)
            if head[:4] == MAGIC_CHUNKED:  # read chunk by chunk: the file is never in memory twice
                return b"".join(self._chunks(handle, head, name))
            data = head + handle.read()
        if data[:4] != MAGIC:
            raise ValueError(f"payload {name} is not a careplan-sim blob")
        key_id, nonce, sealed = data[4:12].decode(), data[12:24], data[24:]
        return AESGCM(self._key(key_id)).decrypt(nonce, sealed, name.encode())

    # --- uploads, streamed ------------------------------------------------------------------------
    def stage(self) -> StagedPayload:
        """A new payload to receive chunk by chunk (rule 1); not visible until `publish`."""
        self._follow_key_file()
        name = self.new_name()
        return StagedPayload(self.directory / f".tmp-{name}", name, self.active_key_id, self._keys[self.active_key_id])

    def staged_content(self, staged: StagedPayload) -> Content:
        """A staged payload for the standard check: its kept plaintext, else `Streamed` from its
        staging file, decrypted one chunk (CHUNK) at a time as the check reads it, so that a 10 MB
        unit is never whole in memory (careplan.standard.source)."""
        if staged.kept is not None:
            return bytes(staged.kept)
        return Streamed(size=staged.size, head=bytes(staged.head), chunks=lambda: self.staged_chunks(staged))

    def staged_chunks(self, staged: StagedPayload) -> Iterator[bytes]:
        """The plaintext of a staging file, chunk by chunk; the file is open while they are read."""
        with staged.path.open("rb") as handle:
            head = handle.read(20)
            if head[:4] != MAGIC_CHUNKED:
                raise ValueError(f"staged payload {staged.name} is not a chunked careplan-sim blob")
            yield from self._chunks(handle, head, staged.name)

    def _chunks(self, handle: BinaryIO, head: bytes, name: str) -> Iterator[bytes]:
        """The plaintext chunks of the CPS2 file `handle`, whose 20-byte header is `head`."""
        return _chunks(handle, head[12:20], name, self._key(head[4:12].decode()))

    def publish(self, staged: Sequence[StagedPayload]) -> None:
        """Make staged payloads durable under their names: fsync each, rename, fsync the directory
        once. Blocking: call off the loop, before the commit that names them."""
        for payload in staged:
            fd = os.open(payload.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for payload in staged:
            os.replace(payload.path, self.directory / payload.name)
            payload.published = True
        _fsync(self.directory)

    def seal(self, plaintext: bytes, *, context: str) -> bytes:
        """Encrypt a small secret for the database (e.g. an initial password shown once, R1.3)."""
        key_id = self.active_key_id
        nonce = secrets.token_bytes(12)
        return key_id.encode() + nonce + AESGCM(self._keys[key_id]).encrypt(nonce, plaintext, context.encode())

    def unseal(self, sealed: bytes, *, context: str) -> bytes:
        key_id, nonce, body = sealed[:8].decode(), sealed[8:20], sealed[20:]
        if key_id not in self._keys:
            self._follow_key_file()
        return AESGCM(self._keys[key_id]).decrypt(nonce, body, context.encode())

    def delete(self, names: Iterable[str]) -> None:
        self.forget(names)
        _fsync(self.directory)

    def forget(self, names: Iterable[str]) -> None:
        """Unlink blobs no committed row names any more (an acknowledgement), without the
        directory's fsync `delete` adds: an unlink a crash undoes leaves a blob that no row
        references, which `collect_garbage` removes when the hub starts again (rule 2; in a
        directory shared by nodes, once its writer is gone or its grace passed: rule 4), so making
        the unlink durable would buy nothing but a journal commit per receipt."""
        for name in names:
            (self.directory / name).unlink(missing_ok=True)

    def collect_garbage(self, referenced: set[str], *, grace: float | None = None) -> list[str]:
        """Remove blobs and temporary files no committed row references; returns their names.
        With `grace` (seconds; a directory shared by nodes, rule 4) only those whose writer, a
        process of this machine, is gone, or that nobody wrote for `grace` seconds: any other may
        be another process's upload between its write and its commit."""
        limit = None if grace is None else time.time() - grace
        removed = []
        for entry in os.scandir(self.directory):
            try:
                if entry.name in referenced:
                    continue
                if limit is None or self.writer_is_gone(entry.name) or entry.stat().st_mtime < limit:
                    removed.append(entry.name)
            except FileNotFoundError:  # acknowledged and unlinked meanwhile
                continue
        self.delete(removed)
        return removed

    @staticmethod
    def new_name() -> str:
        """A fresh blob name that says which process wrote it (rule 4): `<machine>-<pid>-<random>`."""
        return f"{WRITER}-{os.getpid()}-{secrets.token_hex(16)}"

    @staticmethod
    def writer_is_gone(name: str) -> bool:
        """Whether `name` (a blob or a staged `.tmp-` file) was written by a process of this
        machine that no longer runs: nothing of it can still be on its way to a commit (rule 4).
        Names of another machine, or of the random form of earlier versions, are never judged."""
        machine, _, rest = name.removeprefix(".tmp-").partition("-")
        pid, _, _ = rest.partition("-")
        if machine != WRITER or not pid.isdigit():
            return False
        return not runs(int(pid))


def _chunks(handle: BinaryIO, prefix: bytes, name: str, key: bytes) -> Iterator[bytes]:
    """The plaintext chunks of a CPS2 file after its header, each checked (rule 1) as it is read."""
    aead, number = AESGCM(key), 0
    length = handle.read(_LENGTH.size)
    while True:
        size = _LENGTH.unpack(length)[0]
        if size > CHUNK + _TAG:  # a chunk of another size than this version writes: read as it is
            sealed: bytes | memoryview = handle.read(size)
        else:  # into this thread's buffer (`_sealing_buffer` says why), decrypted from there
            buffer = memoryview(_sealing_buffer())
            sealed = buffer[: handle.readinto(buffer[:size])]
        length = handle.read(_LENGTH.size)
        last = not length
        yield aead.decrypt(prefix + number.to_bytes(4, "big"), sealed, _aad(name, number, last))
        if last:
            return
        number += 1


_TAG = 16  # AES-GCM's tag, after each sealed chunk
_sealing = threading.local()


def _sealing_buffer() -> bytearray:
    """This thread's buffer for one sealed chunk (CHUNK and its tag), used again and again: a
    fresh object per chunk is fresh memory and its page faults (a 256 KiB one was a fresh mapping
    and 64 faults, hub.workers setting glibc's mmap threshold there)."""
    buffer: bytearray | None = getattr(_sealing, "buffer", None)
    if buffer is None:
        buffer = _sealing.buffer = bytearray(CHUNK + _TAG)
    return buffer


def _aad(name: str, number: int, last: bool) -> bytes:
    return name.encode() + number.to_bytes(8, "big") + (b"\x01" if last else b"\x00")


class StagedPayload:
    """One file of an upload as it streams in: sealed by CHUNK into `path` (never whole in memory),
    its plaintext size and SHA-256 counted on the way. `write` as parts arrive, `close` at the end
    of the part, then PayloadStore.publish — or `discard`. Up to KEPT_BYTES the plaintext is also
    kept (`kept`), for the judgement of the upload it belongs to, until `forget_plaintext`; its first
    HEAD bytes always (`head`: what the type sniffing of a bigger one reads, without opening it again)."""

    def __init__(self, path: Path, name: str, key_id: str, key: bytes) -> None:
        self.path = path
        self.name = name
        self.size = 0
        self.published = False
        self.kept: bytearray | None = bytearray()
        self.head = bytearray()
        self._hash = hashlib.sha256()
        self._aead = AESGCM(key)
        self._prefix = secrets.token_bytes(8)
        self._number = 0
        self._pending = bytearray()
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._write(MAGIC_CHUNKED + key_id.encode() + self._prefix)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)
        self._pending += data
        if len(self.head) < HEAD:
            self.head += data[: HEAD - len(self.head)]
        if self.kept is not None:
            if self.size <= KEPT_BYTES:
                self.kept += data
            else:
                self.kept = None
        while len(self._pending) > CHUNK:  # the last chunk is sealed by close(), flagged as last
            with memoryview(self._pending) as pending:  # sealed where it lies, not copied first
                self._seal(pending[:CHUNK], last=False)
            del self._pending[:CHUNK]

    def close(self) -> None:
        """The part is complete: seal its last chunk and close the file (an upload holds one open
        staging file at a time: hub.connections counts one descriptor per connection)."""
        self._seal(self._pending, last=True)
        self._pending.clear()
        self._close_fd()

    def forget_plaintext(self) -> None:
        """Drop the kept plaintext (the upload passed KEPT_BYTES): read back when needed."""
        self.kept = None

    def discard(self) -> None:
        """Forget the file (a refusal, a retry already stored); a no-op once published."""
        self._close_fd()
        self.kept = None
        self.head.clear()
        if not self.published:
            self.path.unlink(missing_ok=True)

    def _seal(self, chunk: bytes | bytearray | memoryview, *, last: bool) -> None:
        nonce = self._prefix + self._number.to_bytes(4, "big")
        size = len(chunk) + _TAG
        with memoryview(_sealing_buffer())[:size] as sealed:
            self._aead.encrypt_into(nonce, chunk, _aad(self.name, self._number, last), sealed)
            self._write(_LENGTH.pack(size), sealed)
        self._number += 1

    def _write(self, *parts: bytes | memoryview) -> None:
        """Write `parts` in order, in one system call when the kernel takes them whole (never a
        copy of a sealed chunk joined to its length)."""
        assert self._fd is not None, "written after close"
        written = os.writev(self._fd, parts)
        if written < sum(map(len, parts)):  # a short write: the rest one write at a time
            view = memoryview(b"".join(parts))[written:]
            while view:
                view = view[os.write(self._fd, view) :]

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
