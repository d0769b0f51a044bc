"""One submission hashes its manifest once (careplan.manifest.Manifest.digest): the signature's
messageDigest check, the replay lookup and the stored row share that digest, and what is stored is
what it was before (transmissions.manifest_sha256 = SHA-256 of the manifest bytes as sent)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, HubUnderTest


async def test_a_submission_hashes_its_manifest_once(hub: HubUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    real = hashlib.sha256
    hashed: list[bytes] = []

    def counting(data: bytes = b"", **options: Any) -> Any:
        hashed.append(bytes(data))
        return real(data, **options)

    monkeypatch.setattr(hashlib, "sha256", counting)
    files = sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number)
    async with hub.client(KYOTAKU) as kyotaku:
        await kyotaku.login(KYOTAKU.user, KYOTAKU.password)
        # The first signature of a terminal is verified in full; the second matches its template
        # (careplan.signature_template): each way hashes the manifest once.
        for _ in range(2):
            hashed.clear()
            sent = await kyotaku.send(list(files.items()), to=HOUMON.number)
            row = await hub.service.db.fetch_one(
                "SELECT manifest, manifest_sha256 FROM transmissions WHERE id = ?", (sent["transmission_id"],)
            )
            assert row is not None
            manifest = bytes(row["manifest"])
            assert hashed.count(manifest) == 1, f"the manifest was hashed {hashed.count(manifest)} times"
            assert row["manifest_sha256"] == real(manifest).hexdigest()
