"""Uploads staged chunk by chunk (hub.payloads rule 1): what streams in is what reads back, its
size and SHA-256 are counted on the way, and a blob cut off, reordered or moved does not open."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from hub.payloads import CHUNK, KEPT_BYTES, PayloadStore


@pytest.fixture
def store(tmp_path: Path) -> PayloadStore:
    return PayloadStore(tmp_path / "payloads", tmp_path / "keys" / "payload-keys.json")


def _staged(store: PayloadStore, data: bytes, piece: int = 64 * 1024) -> str:
    staged = store.stage()
    for start in range(0, len(data), piece):
        staged.write(data[start : start + piece])
    staged.close()
    assert (staged.size, staged.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert store.read_staged(staged) == data
    store.publish([staged])
    staged.discard()  # after publish: a no-op
    return staged.name


@pytest.mark.parametrize("size", [0, 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17])
def test_what_streams_in_reads_back(store: PayloadStore, size: int) -> None:
    data = os.urandom(size)
    name = _staged(store, data)
    assert store.read(name) == data
    assert size < 64 or data[:64] not in (store.directory / name).read_bytes(), "no plaintext at rest"


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
    assert store.read_staged(staged) == data  # from memory, or read back and decrypted
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
    assert store.read_staged(published) == b"x" * 100, "read back and decrypted"
    store.publish([published])
    dropped.discard()
    published.discard()  # published: a no-op
    assert len(os.listdir("/proc/self/fd")) == opened
    assert [path.name for path in store.directory.iterdir()] == [published.name]
