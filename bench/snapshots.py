"""Snapshot save, restore and reset of a hub holding N transmissions (default 10,000). Not a test.

    .venv/bin/python bench/snapshots.py [N]

Fills a fresh hub's database with N transmissions of 3 files each (rows as the hub writes them,
one signed manifest reused; payload files of sample size with random bytes: save and restore never
read a payload's content), then times: save; acknowledge half of them (payloads deleted) and add
a licence change; restore; reset to empty. Each figure is the hub's own (the control operation
with the gate held), the best of RUNS runs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

from ca.authority import CertificateAuthority
from ca.cli import write_server_cert
from careplan.office import with_check_digit
from hub.config import HubConfig
from hub.control import steer
from hub.keys import SERVICE
from hub.server import start_hub

RUNS = 3
NOW = dt.datetime.now(dt.UTC)
SENDER, RECIPIENT = with_check_digit("131230001"), with_check_digit("131170002")


async def fill(service: object, payload_dir: Path, count: int) -> None:
    db = service.db  # type: ignore[attr-defined]
    for number, user in ((SENDER, "KJ" + SENDER), (RECIPIENT, "KJ" + RECIPIENT)):
        await service.register_office(  # type: ignore[attr-defined]
            office_number=number, name="bench", service_kind="43", office_user_id=user, password="bench-pass-1"
        )
    manifest, signature = os.urandom(900), os.urandom(2400)  # sizes of a real signed manifest
    async with db.transaction() as tx:
        for i in range(count):
            tid = f"{i:032x}"
            await tx.execute(
                "INSERT INTO transmissions (id, sender, recipient, sender_user, manifest, manifest_sha256, signature, "
                "signer_fingerprint, signed_at, submitted_at, file_count, total_size) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (tid, SENDER, RECIPIENT, "KJ" + SENDER, manifest, hashlib.sha256(tid.encode()).hexdigest(), signature,
                 "f" * 64, NOW.isoformat(), NOW.isoformat(), 3, 4098),
            )  # fmt: skip
            for position in range(3):
                blob = f"{i:028x}{position:04x}"
                (payload_dir / blob).write_bytes(os.urandom(1400))
                await tx.execute(
                    "INSERT INTO transmission_files VALUES (?, ?, ?, ?, ?, ?)",
                    (tid, position, f"F{position}.CSV", 1400, "0" * 64, blob),
                )


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="careplan-bench-snapshots-") as tmp:
        data = Path(tmp)
        ca = CertificateAuthority.create(now=NOW, directory=data / "ca")
        server = ca.issue_server(now=NOW)
        write_server_cert(server.cert_pem(), server.key_pem(), data / "tls")
        hub = await start_hub(HubConfig(data_dir=data, port=0, admin_token="bench"), announce_ready=False)
        try:
            service = hub.app[SERVICE]
            control = hub.app[steer.CONTROL]
            started = time.perf_counter()
            await fill(service, data / "payloads", count)
            print(f"filled {count} transmissions ({3 * count} payload files) in {time.perf_counter() - started:.1f} s")
            size = (data / "hub.sqlite3").stat().st_size / 1e6
            saves, restores = [], []
            for run in range(RUNS):
                saves.append((await steer.save_snapshot(control, "bench"))["seconds"])
                async with service.db.transaction() as tx:  # change: half acknowledged, payloads gone
                    await tx.execute(
                        "UPDATE transmissions SET downloaded_at = ? WHERE rowid % 2 = 0", (NOW.isoformat(),)
                    )
                    await tx.execute("UPDATE transmission_files SET blob = NULL WHERE rowid % 2 = 0")
                await service.collect_garbage()
                restores.append((await steer.restore_snapshot(control, "bench"))["seconds"])
                print(f"run {run + 1}: save {saves[-1]:.3f} s, restore {restores[-1]:.3f} s")
            reset = (await steer.reset_hub(control, "empty"))["seconds"]
            print(f"database {size:.1f} MB; best save {min(saves):.3f} s, best restore {min(restores):.3f} s, "
                  f"reset to empty {reset:.3f} s")  # fmt: skip
        finally:
            await hub.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
