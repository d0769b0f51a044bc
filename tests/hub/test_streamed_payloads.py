"""Uploads staged chunk by chunk (hub.payloads rule 1): what streams in is what reads back, its
size and SHA-256 are counted on the way, and a blob cut off, reordered or moved does not open."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import tomllib
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from packaging.requirements import Requirement

from bench.load import unit
from careplan.errors import Finding
from careplan.standard.source import HEAD, Streamed
from careplan.standard.transmission import check_transmission
from hub.payloads import CHUNK, KEPT_BYTES, MAGIC_CHUNKED, PayloadStore, StagedPayload
from tests.conftest import HOUMON, KYOTAKU


@pytest.fixture
def store(tmp_path: Path) -> PayloadStore:
    return PayloadStore(tmp_path / "payloads", tmp_path / "keys" / "payload-keys.json")


def _read_back(store: PayloadStore, staged: StagedPayload) -> bytes:
    """A staged file's plaintext as the standard check gets it (PayloadStore.staged_content):
    kept from the upload, or read back and decrypted chunk by chunk."""
    content = store.staged_content(staged)
    if isinstance(content, bytes):
        return content
    whole = b"".join(content.chunks())
    assert content.head == whole[:HEAD] and content.size == len(whole), "the sniffed head is the file's"
    return whole


def _staged(store: PayloadStore, data: bytes, piece: int = 64 * 1024) -> str:
    staged = store.stage()
    for start in range(0, len(data), piece):
        staged.write(data[start : start + piece])
    staged.close()
    assert (staged.size, staged.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert _read_back(store, staged) == data
    store.publish([staged])
    staged.discard()  # after publish: a no-op
    return staged.name


@pytest.mark.parametrize("size", [0, 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17])
@pytest.mark.parametrize("piece", [1000, 64 * 1024])  # parts arrive in pieces smaller and bigger than HEAD
def test_what_streams_in_reads_back(store: PayloadStore, size: int, piece: int) -> None:
    data = os.urandom(size)
    name = _staged(store, data, piece)
    assert store.read(name) == data
    assert size < 64 or data[:64] not in (store.directory / name).read_bytes(), "no plaintext at rest"


def test_a_short_write_of_the_kernel_loses_nothing(store: PayloadStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sealed chunk goes out with its length in one writev (no joined copy); should the kernel
    take less, the rest follows, and the blob reads back whole."""
    real = os.writev

    def short(fd: int, parts: list[bytes]) -> int:
        return real(fd, [bytes(parts[0])[:3]])  # 3 bytes of the first part only

    monkeypatch.setattr("hub.payloads.os.writev", short)
    data = os.urandom(2 * CHUNK + 5)
    assert store.read(_staged(store, data)) == data


def test_a_chunk_sealed_from_a_reused_buffer_stays_its_own(store: PayloadStore) -> None:
    """Chunks are sealed into and read back through one buffer per thread: two uploads staged in
    turns, and read back in turns, each read back as itself."""
    first, second = os.urandom(3 * CHUNK + 1), os.urandom(2 * CHUNK + 7)
    a, b = store.stage(), store.stage()
    for start in range(0, 3 * CHUNK + 1, 50_000):
        a.write(first[start : start + 50_000])
        b.write(second[start : start + 50_000])
    a.close()
    b.close()
    one, two = store.staged_chunks(a), store.staged_chunks(b)
    read_a, read_b = bytearray(), bytearray()
    for chunk_a, chunk_b in itertools.zip_longest(one, two, fillvalue=b""):
        read_a += chunk_a
        read_b += chunk_b
    assert (bytes(read_a), bytes(read_b)) == (first, second)


def test_a_read_back_resumed_in_another_thread_between_sealings_stays_its_own(store: PayloadStore) -> None:
    """A read-back generator holds no chunk in the buffer while it is suspended: advanced in turns
    on this thread and on an executor thread (as the standard check reads in asyncio.to_thread),
    with other uploads sealed on both threads between its steps, it reads back as itself."""
    first, other = os.urandom(4 * CHUNK + 3), os.urandom(CHUNK + 9)
    staged = store.stage()
    staged.write(first)
    staged.close()
    chunks = store.staged_chunks(staged)
    read, sealed = bytearray(), []
    with ThreadPoolExecutor(max_workers=1) as thread:
        for turn in itertools.count():
            step = thread.submit(next, chunks, None).result() if turn % 2 else next(chunks, None)
            if step is None:
                break
            read += step
            sealer = thread.submit(_staged, store, other, 100_000).result() if turn % 2 else _staged(store, other)
            sealed.append(sealer)
    assert bytes(read) == first
    assert len(sealed) == 5 and all(store.read(name) == other for name in sealed)


def test_the_cryptography_the_project_requires_can_seal_into_a_buffer() -> None:
    """AESGCM.encrypt_into, which seals every staged chunk, came with cryptography 47.0 (46.0 lacks
    it): a requirement that let pip keep an older release would fail every upload (even a small
    file's one chunk is sealed by StagedPayload.close)."""
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text("utf-8"))["project"]
    wanted = Requirement(next(d for d in project["dependencies"] if d.startswith("cryptography")))
    assert not wanted.specifier.contains("46.0.3"), f"{wanted} admits a cryptography without encrypt_into"
    assert hasattr(AESGCM, "encrypt_into")


def _with_first_length(store: PayloadStore, name: str, length: int) -> None:
    """The blob `name` with its first chunk's length field (after the 20-byte header) set to `length`."""
    path = store.directory / name
    blob = bytearray(path.read_bytes())
    blob[20:24] = length.to_bytes(4, "big")
    path.write_bytes(bytes(blob))


@pytest.mark.parametrize("length", [0, 15, CHUNK + 15, CHUNK + 17, 3 * CHUNK, 64 * CHUNK])
def test_a_chunk_length_that_lies_never_opens_nor_spoils_the_buffer(store: PayloadStore, length: int) -> None:
    """A corrupt length, shorter or longer than the chunk and than the buffer chunks are read into
    (CHUNK and the tag), fails the tag check; it neither overruns nor spoils the buffer: the next
    blob read on this thread opens."""
    data = os.urandom(2 * CHUNK + 5)
    name, fine = _staged(store, data), _staged(store, data[::-1])
    _with_first_length(store, name, length)
    with pytest.raises(InvalidTag):
        store.read(name)
    assert store.read(fine) == data[::-1]


@pytest.mark.parametrize("cut", [1, 16, CHUNK])
def test_a_blob_cut_inside_a_chunk_does_not_open(store: PayloadStore, cut: int) -> None:
    """A short read (the file ends inside a sealed chunk) is a tag failure, never a shorter file."""
    name = _staged(store, os.urandom(2 * CHUNK + 5))
    path = store.directory / name
    blob = path.read_bytes()
    second_chunk_start = 20 + 4 + CHUNK + 16 + 4
    path.write_bytes(blob[: second_chunk_start + cut])
    with pytest.raises(InvalidTag):
        store.read(name)


def test_a_chunk_bigger_than_this_version_seals_reads_back(store: PayloadStore) -> None:
    """A blob whose chunks are bigger than the buffer (written with a larger CHUNK) is read as it is,
    not into the buffer."""
    name, prefix, data = PayloadStore.new_name(), os.urandom(8), os.urandom(3 * CHUNK)
    key_id = store.active_key_id
    key = base64.b64decode(next(e["key"] for e in json.loads(store.key_file.read_text()) if e["id"] == key_id))
    blob = MAGIC_CHUNKED + key_id.encode() + prefix
    pieces = [data[: 2 * CHUNK], data[2 * CHUNK :]]
    for number, piece in enumerate(pieces):
        last = number == len(pieces) - 1
        aad = name.encode() + number.to_bytes(8, "big") + (b"\x01" if last else b"\x00")
        sealed = AESGCM(key).encrypt(prefix + number.to_bytes(4, "big"), piece, aad)
        blob += len(sealed).to_bytes(4, "big") + sealed
    (store.directory / name).write_bytes(blob)
    assert store.read(name) == data


def test_a_blob_cut_at_a_chunk_boundary_does_not_open(store: PayloadStore) -> None:
    name = _staged(store, os.urandom(2 * CHUNK + 5))
    path = store.directory / name
    blob = path.read_bytes()
    first_chunk_end = 20 + 4 + CHUNK + 16
    path.write_bytes(blob[:first_chunk_end])
    with pytest.raises(InvalidTag):
        store.read(name)


def test_a_blob_under_another_name_does_not_open(store: PayloadStore) -> None:
    name = _staged(store, os.urandom(100))
    (store.directory / name).rename(store.directory / "moved")
    with pytest.raises(InvalidTag):
        store.read("moved")


def test_a_discarded_upload_leaves_nothing(store: PayloadStore) -> None:
    staged = store.stage()
    staged.write(b"x" * 1000)
    staged.discard()
    assert list(store.directory.iterdir()) == []


@pytest.mark.parametrize("size", [KEPT_BYTES, KEPT_BYTES + 1])
def test_a_small_upload_keeps_its_plaintext_for_its_judgement_and_a_big_one_does_not(
    store: PayloadStore, size: int
) -> None:
    data = os.urandom(size)
    staged = store.stage()
    for start in range(0, size, 10_000):
        staged.write(data[start : start + 10_000])
    staged.close()
    assert (staged.kept is not None) == (size <= KEPT_BYTES), "memory per file in flight stays bounded"
    assert _read_back(store, staged) == data  # from memory, or read back and decrypted
    store.publish([staged])
    assert store.read(staged.name) == data


def test_a_staged_file_is_closed_at_the_end_of_its_part(store: PayloadStore) -> None:
    """An upload holds one open staging file at a time (hub.connections counts one descriptor
    per connection), however long its judgement waits for its turn."""
    opened = len(os.listdir("/proc/self/fd"))
    published, dropped = store.stage(), store.stage()
    for staged in (published, dropped):
        staged.write(b"x" * 100)
        staged.close()
    assert len(os.listdir("/proc/self/fd")) == opened
    published.forget_plaintext()
    assert published.kept is None
    assert _read_back(store, published) == b"x" * 100, "read back and decrypted"
    store.publish([published])
    dropped.discard()
    published.discard()  # published: a no-op
    assert len(os.listdir("/proc/self/fd")) == opened
    assert [path.name for path in store.directory.iterdir()] == [published.name]


def _staged_unit(store: PayloadStore, files: list[tuple[str, bytes]]) -> list[tuple[str, StagedPayload]]:
    staged = []
    for name, data in files:
        payload = store.stage()
        for start in range(0, len(data), 64 * 1024):
            payload.write(data[start : start + 64 * 1024])
        payload.close()
        if len(data) > KEPT_BYTES:
            payload.forget_plaintext()  # as hub.routes does past KEPT_BYTES
        staged.append((name, payload))
    return staged


def _errors(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings if f.severity == "error"]


def test_a_10_mb_unit_is_checked_from_its_staging_files_a_chunk_at_a_time(store: PayloadStore) -> None:
    """The standard check of a big unit reads its staging files back as it goes (source.Streamed):
    the same findings as on the unit whole, without ever holding it whole (the read back and the
    check together peak at about 3.5 MB of Python allocations, where the unit whole took 20)."""
    files = unit(10 * 1024 * 1024 - 64 * 1024, sender=KYOTAKU.number, recipient=HOUMON.number)
    broken = [(name, data.replace(b"202504", b"202513", 1) if name.startswith("UPPLAN_") else data)
              for name, data in files]  # fmt: skip
    for unit_files, refused in ((files, False), (broken, True)):
        staged = _staged_unit(store, unit_files)
        tracemalloc.start()
        try:
            contents = [(name, store.staged_content(payload)) for name, payload in staged]
            streamed = check_transmission(contents, sender=KYOTAKU.number, recipient=HOUMON.number)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 6 * 1024 * 1024, f"{peak / 2**20:.1f} MB at the peak: the unit was held whole"
        assert isinstance(contents[0][1], Streamed) and all(isinstance(c, bytes) for _, c in contents[1:])
        assert streamed == check_transmission(unit_files, sender=KYOTAKU.number, recipient=HOUMON.number)
        assert bool(_errors(streamed)) is refused
        for _, payload in staged:
            payload.discard()
