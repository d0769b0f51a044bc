"""File names and signature encodings through a real hub (issue 9, points 9 and 10): each refused
with its own code by the hub — and by the client's pre-check before anything is uploaded — and
nothing is stored."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import unicodedata

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from careplan.errors import MSG_SEND_FAILED, CareplanError
from careplan.signature import sign
from tests.careplan.test_core_integrity import indefinite_outer_length, long_form_lengths
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest

NAMES = {
    "device-name": (["CON.txt"], "FILE_NAME_RESERVED"),
    "device-name-lower-case": (["nul.txt"], "FILE_NAME_RESERVED"),
    "printer-port": (["LPT1.txt"], "FILE_NAME_RESERVED"),
    "aux-csv": (["aux.csv"], "FILE_NAME_RESERVED"),
    "trailing-dot": (["memo.txt."], "FILE_NAME_TRAILING_DOT"),
    "trailing-space": (["memo.txt "], "FILE_NAME_TRAILING_DOT"),
    "case-twins": (["a.txt", "A.txt"], "FILE_NAME_DUPLICATE"),
    "nfc-nfd-twins": (
        [unicodedata.normalize("NFC", "ガイド.txt"), unicodedata.normalize("NFD", "ガイド.txt")],
        "FILE_NAME_DUPLICATE",
    ),
}


def _files(names: list[str]) -> list[tuple[str, bytes]]:
    return [(name, f"document {i}\n".encode()) for i, name in enumerate(names)]


def _raw_manifest(files: list[tuple[str, bytes]], signed_at: dt.datetime) -> bytes:
    """A manifest written by hand, as a vendor's client might (ours refuses to build these)."""
    document = {
        "version": 1,
        "transmission_id": "e" * 32,
        "sender": KYOTAKU.number,
        "recipient": HOUMON.number,
        "signed_at": signed_at.astimezone(dt.UTC).replace(microsecond=0).isoformat(),
        "files": [{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in files],
    }
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


async def _state(hub: HubUnderTest) -> tuple[int, int]:
    return await hub.transmission_count(), len(hub.payload_files())


@pytest.mark.parametrize("case", list(NAMES))
async def test_file_names_a_windows_receiver_cannot_save_are_refused(hub: HubUnderTest, case: str) -> None:
    names, code = NAMES[case]
    files = _files(names)
    me = hub.pki.terminals[KYOTAKU.number]
    async with hub.client(me) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        with pytest.raises(CareplanError) as pre:  # the client's pre-check: nothing leaves the terminal
            await client.send(files, to=HOUMON.number)
        assert pre.value.code == code
        assert await hub.service.audit_log() == [], "the pre-check refused before any upload"

        manifest = _raw_manifest(files, await client.hub_time())
        with pytest.raises(CareplanError) as caught:
            await client.upload(manifest, sign(manifest, me.certificate, me.key), files)
    error = caught.value
    assert (error.code, error.status) == (code, 422)
    assert error.detail and error.fix
    assert [r["code"] for r in await hub.service.audit_log()] == [code]
    assert await _state(hub) == (0, 0)


def _attached(hub: HubUnderTest, manifest: bytes) -> bytes:
    me = hub.pki.terminals[KYOTAKU.number]
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(manifest)
        .add_signer(me.certificate, me.key, hashes.SHA256())
        .sign(Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )


@pytest.mark.parametrize(
    ("variant", "code"),
    [
        ("attached", "SIGNATURE_NOT_DETACHED"),
        ("ber-long-form-lengths", "SIGNATURE_NOT_DER"),
        ("ber-indefinite-length", "SIGNATURE_NOT_DER"),
    ],
)
async def test_attached_and_ber_signatures_are_refused(hub: HubUnderTest, variant: str, code: str) -> None:
    files = _files(["memo.txt"])
    me = hub.pki.terminals[KYOTAKU.number]
    async with hub.client(me) as client:
        await client.login(KYOTAKU.user, KYOTAKU.password)
        manifest = _raw_manifest(files, await client.hub_time())
        signature = sign(manifest, me.certificate, me.key)
        make = {
            "attached": lambda: _attached(hub, manifest),
            "ber-long-form-lengths": lambda: long_form_lengths(signature),
            "ber-indefinite-length": lambda: indefinite_outer_length(signature),
        }
        with pytest.raises(CareplanError) as caught:
            await client.upload(manifest, make[variant](), files)
        assert (caught.value.code, caught.value.message) == (code, MSG_SEND_FAILED)
        assert await _state(hub) == (0, 0)
        stored = await client.upload(manifest, signature, files)  # the DER detached one is accepted
    assert stored["already_stored"] is False
