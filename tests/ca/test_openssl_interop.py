"""The openssl command line reads what the CA writes and accepts the client's signatures."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from careplan.certificates import POLICY_ARC, CertificateKind
from client.hubclient import HubClient
from fixtures.samples import sample_plan_set
from tests.conftest import HOUMON, KYOTAKU, Pki, openssl


@pytest.fixture
def openssl_bin() -> str:
    found = openssl()
    if found is None:
        pytest.skip("the openssl command line is not installed here (CI installs it): interop not checked")
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)


def test_openssl_reads_the_ca_and_an_office_certificate(openssl_bin: str, pki: Pki, tmp_path: Path) -> None:
    office = pki.terminals[KYOTAKU.number].certificate
    pem = tmp_path / "office.pem"
    pem.write_bytes(office.public_bytes(Encoding.PEM))
    ca = str(pki.ca.directory / "ca.pem")
    assert _run(openssl_bin, "verify", "-CAfile", ca, str(pem)).stdout.strip().endswith("OK")
    text = _run(openssl_bin, "x509", "-in", str(pem), "-noout", "-text").stdout
    assert f"{POLICY_ARC}.1" in text  # 介護保険証明書
    assert "TLS Web Client Authentication" in text
    assert KYOTAKU.number in _run(openssl_bin, "x509", "-in", str(pem), "-noout", "-subject").stdout


def test_openssl_opens_the_pkcs12(openssl_bin: str, pki: Pki, tmp_path: Path) -> None:
    issued = pki.ca.issue_office(
        office_number=KYOTAKU.number,
        office_user_id=KYOTAKU.user,
        office_name=KYOTAKU.name,
        kind=CertificateKind.SEIKYU_ININ,
        now=dt.datetime.now(dt.UTC),
    )
    p12 = tmp_path / "office.p12"
    p12.write_bytes(issued.to_p12("パスワード1", ca=pki.ca.certificate))
    done = _run(openssl_bin, "pkcs12", "-in", str(p12), "-passin", "pass:パスワード1", "-nokeys", "-clcerts")
    assert done.returncode == 0, done.stderr
    assert KYOTAKU.user in done.stdout and "BEGIN CERTIFICATE" in done.stdout
    wrong = _run(openssl_bin, "pkcs12", "-in", str(p12), "-passin", "pass:wrong", "-nokeys")
    assert wrong.returncode != 0


def test_openssl_reads_the_crl_and_sees_a_revocation(openssl_bin: str, pki: Pki, tmp_path: Path) -> None:
    issued = pki.ca.issue_office(
        office_number=HOUMON.number, office_user_id=HOUMON.user, office_name=HOUMON.name, now=dt.datetime.now(dt.UTC)
    )
    pki.ca.revoke(issued.certificate.serial_number, now=dt.datetime.now(dt.UTC))
    ca, crl = str(pki.ca.directory / "ca.pem"), str(pki.ca.directory / "crl.pem")
    shown = _run(openssl_bin, "crl", "-in", crl, "-CAfile", ca, "-noout", "-text")
    assert shown.returncode == 0 and "verify OK" in shown.stderr
    assert format(issued.certificate.serial_number, "X").upper() in shown.stdout.replace(":", "").upper()
    pem = tmp_path / "revoked.pem"
    pem.write_bytes(issued.cert_pem())
    checked = _run(openssl_bin, "verify", "-crl_check", "-CRLfile", crl, "-CAfile", ca, str(pem))
    assert checked.returncode != 0 and "revoked" in checked.stdout + checked.stderr


def test_openssl_cms_verify_accepts_the_clients_signature(openssl_bin: str, pki: Pki, tmp_path: Path) -> None:
    files = list(sample_plan_set(sender=KYOTAKU.number, recipient=HOUMON.number).items())
    client = HubClient(
        url="https://127.0.0.1:1", ca_file=pki.ca.directory / "ca.pem", keypair=pki.terminals[KYOTAKU.number]
    )
    manifest, signature = client.prepare(files, to=HOUMON.number)
    (tmp_path / "manifest.json").write_bytes(manifest)
    (tmp_path / "manifest.p7s").write_bytes(signature)
    args = [
        openssl_bin,
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        str(tmp_path / "manifest.p7s"),
        "-CAfile",
        str(pki.ca.directory / "ca.pem"),
        "-purpose",
        "any",
        "-out",
        str(tmp_path / "out"),
    ]
    done = _run(*args, "-content", str(tmp_path / "manifest.json"))
    assert done.returncode == 0, done.stderr
    assert "Verification successful" in done.stderr
    (tmp_path / "forged.json").write_bytes(manifest.replace(HOUMON.number.encode(), KYOTAKU.number.encode()))
    assert _run(*args, "-content", str(tmp_path / "forged.json")).returncode != 0
