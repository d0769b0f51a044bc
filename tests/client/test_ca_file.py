"""A `--ca` file that holds no CA certificate is named, in Japanese first, with the file to give
(it was OpenSSL's '[X509: NO_CERTIFICATE_OR_CRL_FOUND] no certificate or crl found (_ssl.c:4154)')."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.hubclient import client_ssl_context
from tests.conftest import Pki


@pytest.mark.parametrize(
    "content",
    [b"", b"not pem\n", bytes(range(256)) * 8, b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"],
)
def test_a_ca_file_without_a_certificate_is_said_with_what_to_give(tmp_path: Path, content: bytes) -> None:
    ca = tmp_path / "hub-ca.pem"
    ca.write_bytes(content)
    with pytest.raises(ValueError, match=r"hub-ca\.pem") as refused:
        client_ssl_context(ca, None)
    said = str(refused.value)
    assert said.index("CA 証明書") < said.index("CA certificate"), said  # Japanese first
    assert str(ca) in said and "ca.pem" in said and "_ssl.c" not in said, said


def test_the_hubs_ca_file_still_makes_a_context(pki: Pki) -> None:
    context = client_ssl_context(pki.ca.directory / "ca.pem", None)
    assert context.get_ca_certs()
