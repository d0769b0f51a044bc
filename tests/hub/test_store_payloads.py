"""Payloads at rest (hub/payloads.py): encrypted, bound to their name, garbage collected."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from hub.payloads import MAGIC, WRITER, PayloadStore

PLAINTEXT = '1,"0000000001","山田 太郎","要介護3"\r\n'.encode("cp932") * 50


@pytest.fixture
def store(tmp_path: Path) -> PayloadStore:
    return PayloadStore(tmp_path / "payloads", tmp_path / "keys" / "payload-keys.json")


def test_write_read_round_trip(store: PayloadStore) -> None:
    name = store.new_name()
    store.write(name, PLAINTEXT)
    assert store.read(name) == PLAINTEXT
    store.write("empty", b"")
    assert store.read("empty") == b""


def test_blob_on_disk_holds_no_plaintext(store: PayloadStore) -> None:
    store.write("blob", PLAINTEXT)
    on_disk = (store.directory / "blob").read_bytes()
    assert on_disk.startswith(MAGIC)
    assert PLAINTEXT not in on_disk
    assert "山田".encode("cp932") not in on_disk
    assert b"0000000001" not in on_disk
    assert len(on_disk) == len(MAGIC) + 8 + 12 + len(PLAINTEXT) + 16  # key id, nonce, tag


def test_same_plaintext_encrypts_differently(store: PayloadStore) -> None:
    store.write("a", PLAINTEXT)
    store.write("b", PLAINTEXT)
    assert (store.directory / "a").read_bytes()[12:] != (store.directory / "b").read_bytes()[12:]


def test_no_temporary_file_is_left(store: PayloadStore) -> None:
    store.write("blob", PLAINTEXT)
    assert [p.name for p in store.directory.iterdir()] == ["blob"]


def test_blob_moved_to_another_name_fails(store: PayloadStore) -> None:
    store.write("original", PLAINTEXT)
    (store.directory / "original").rename(store.directory / "other")
    with pytest.raises(InvalidTag):
        store.read("other")


def test_blob_copied_over_another_fails(store: PayloadStore) -> None:
    store.write("a", b"for office A")
    store.write("b", b"for office B")
    (store.directory / "b").write_bytes((store.directory / "a").read_bytes())
    with pytest.raises(InvalidTag):
        store.read("b")


@pytest.mark.parametrize("position", [24, 30, -1, -16])
def test_tampered_blob_fails(store: PayloadStore, position: int) -> None:
    store.write("blob", PLAINTEXT)
    path = store.directory / "blob"
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidTag):
        store.read("blob")


def test_tampered_nonce_fails(store: PayloadStore) -> None:
    store.write("blob", PLAINTEXT)
    path = store.directory / "blob"
    data = bytearray(path.read_bytes())
    data[12] ^= 0x80
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidTag):
        store.read("blob")


def test_truncated_blob_fails(store: PayloadStore) -> None:
    store.write("blob", PLAINTEXT)
    path = store.directory / "blob"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(InvalidTag):
        store.read("blob")


def test_foreign_file_is_refused(store: PayloadStore) -> None:
    (store.directory / "plain.csv").write_bytes(PLAINTEXT)
    with pytest.raises(ValueError, match="not a careplan-sim blob"):
        store.read("plain.csv")


def test_missing_blob(store: PayloadStore) -> None:
    with pytest.raises(FileNotFoundError):
        store.read("never-written")


def test_key_file_is_private_and_reused(tmp_path: Path, store: PayloadStore) -> None:
    assert stat.S_IMODE(store.key_file.stat().st_mode) == 0o600
    keys = json.loads(store.key_file.read_text())
    assert len(keys) == 1 and len(keys[0]["id"]) == 8
    store.write("blob", PLAINTEXT)
    reopened = PayloadStore(store.directory, store.key_file)
    assert reopened.active_key_id == store.active_key_id
    assert reopened.read("blob") == PLAINTEXT
    assert json.loads(store.key_file.read_text()) == keys


def test_another_key_file_cannot_read(tmp_path: Path, store: PayloadStore) -> None:
    store.write("blob", PLAINTEXT)
    stranger = PayloadStore(store.directory, tmp_path / "other-keys.json")
    with pytest.raises((KeyError, InvalidTag)):
        stranger.read("blob")


def test_rotated_key_reads_old_blobs_and_writes_with_the_new(tmp_path: Path, store: PayloadStore) -> None:
    store.write("old", PLAINTEXT)
    keys = json.loads(store.key_file.read_text())
    newest = {"id": "0badc0de", "key": "A" * 43 + "="}
    store.key_file.write_text(json.dumps([newest, *keys]))
    rotated = PayloadStore(store.directory, store.key_file)
    assert rotated.active_key_id == "0badc0de"
    assert rotated.read("old") == PLAINTEXT
    rotated.write("new", b"new")
    assert (store.directory / "new").read_bytes()[4:12] == b"0badc0de"
    assert rotated.read("new") == b"new"


def test_collect_garbage_removes_unreferenced_files_only(store: PayloadStore) -> None:
    for name in ("kept1", "kept2", "orphan"):
        store.write(name, name.encode())
    (store.directory / ".tmp-crashed").write_bytes(b"half written")
    removed = store.collect_garbage({"kept1", "kept2", "never-written"})
    assert sorted(removed) == [".tmp-crashed", "orphan"]
    assert sorted(p.name for p in store.directory.iterdir()) == ["kept1", "kept2"]
    assert store.read("kept1") == b"kept1"
    assert store.key_file.exists()
    assert store.collect_garbage({"kept1", "kept2"}) == []


def test_collect_garbage_with_nothing_referenced_empties_the_directory(store: PayloadStore) -> None:
    store.write("a", b"a")
    assert store.collect_garbage(set()) == ["a"]
    assert list(store.directory.iterdir()) == []


def test_delete_ignores_missing_names(store: PayloadStore) -> None:
    store.write("a", b"a")
    store.delete(["a", "gone"])
    assert list(store.directory.iterdir()) == []


def test_new_names_are_unique_and_name_their_writer() -> None:
    names = {PayloadStore.new_name() for _ in range(100)}
    assert len(names) == 100
    assert all(re.fullmatch(rf"{WRITER}-{os.getpid()}-[0-9a-f]{{32}}", n) for n in names), names


def test_a_blob_of_a_gone_process_of_this_machine_is_known_as_such() -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(gone.stdout)  # that process has ended (its pid is free unless the system reuses it)
    assert PayloadStore.writer_is_gone(f"{WRITER}-{pid}-{'0' * 32}")
    assert PayloadStore.writer_is_gone(f".tmp-{WRITER}-{pid}-{'0' * 32}")
    assert not PayloadStore.writer_is_gone(PayloadStore.new_name()), "this process runs"
    assert not PayloadStore.writer_is_gone(f"0badc0de-{pid}-{'0' * 32}"), "another machine's: never judged"
    assert not PayloadStore.writer_is_gone("0" * 32), "the random names of earlier versions"


def test_a_killed_writer_left_as_a_zombie_is_gone() -> None:
    """After a SIGKILL of a whole process group nothing may reap the workers: they stay zombies,
    which signal 0 still finds, yet they will never commit what they staged."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        for _ in range(500):  # bounded: until it has exited (a zombie, as it is not reaped yet)
            state = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
            if state == "Z":
                break
            time.sleep(0.01)
        assert state == "Z"
        assert PayloadStore.writer_is_gone(f".tmp-{WRITER}-{child.pid}-{'0' * 32}")
    finally:
        child.wait()
