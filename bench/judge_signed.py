"""In-process CPU per judgement of a signed submission for a repeat signer (issue #10, `_judge_signed`).

What the hub does per submit before any database work: Manifest.from_bytes, signature.verify
(with the hub's DerPrefixes), TrustStore.judge_certificate and Manifest.check_received, on a fresh
manifest and signature each time (as bench/load.py's `presign` makes them). Prints the median over
`--rounds` of the CPU time (time.process_time) per judgement, in ms.

    .venv/bin/python bench/judge_signed.py [--count 400] [--rounds 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.serialization import Encoding

from bench.load import HELPER, MANAGER, unit
from ca.authority import CertificateAuthority
from careplan.errors import Operation
from careplan.manifest import Manifest
from careplan.signature import DerPrefixes, sign, verify
from hub.trust import TrustStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400, help="distinct signed transmissions per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ca = CertificateAuthority.create(now=now)
    office = ca.issue_office(
        office_number=MANAGER.number, office_user_id=f"KJ{MANAGER.number}", office_name=MANAGER.name, now=now
    )
    files = unit(30 * 1024)
    received = [(name, len(data), hashlib.sha256(data).hexdigest()) for name, data in files]
    signed = []
    for _ in range(args.count):
        manifest = Manifest.build(
            transmission_id=uuid.uuid4().hex, sender=MANAGER.number, recipient=HELPER.number, signed_at=now, files=files
        ).to_bytes()
        signed.append((manifest, sign(manifest, office.certificate, office.key)))
    with tempfile.TemporaryDirectory() as tmp:
        ca_pem = Path(tmp) / "ca.pem"
        ca_pem.write_bytes(ca.certificate.public_bytes(Encoding.PEM))
        trust = TrustStore(ca_pem, Path(tmp) / "crl.pem")
        prefixes = DerPrefixes()
        per_op = []
        for _ in range(args.rounds):
            start = time.process_time()
            for manifest_bytes, signature in signed:
                manifest = Manifest.from_bytes(manifest_bytes)
                result = verify(signature, manifest_bytes, operation=Operation.SEND, der_prefixes=prefixes)
                trust.judge_certificate(result.certificate, now=now, operation=Operation.SEND)
                manifest.check_received(received)
            per_op.append((time.process_time() - start) / len(signed) * 1000)
    rounds = ", ".join(f"{v:.3f}" for v in per_op)
    print(f"judge_signed CPU ms/op: median {statistics.median(per_op):.3f} (rounds {rounds})")


if __name__ == "__main__":
    main()
