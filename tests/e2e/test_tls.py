"""--tls-cert/--tls-key: every surface over HTTPS, checked by boto3 against a test CA
made here; the Runtime API functions use stays plain (invokes still work)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import REGION, Server, create_function, start_server, stop_server

NOW = datetime.datetime.now(datetime.UTC)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_ca_and_leaf(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA and a leaf for 127.0.0.1/localhost it signed: (ca.pem, cert.pem, key.pem)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("lambdalite test CA"))
        .issuer_name(_name("lambdalite test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(minutes=5))
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(minutes=5))
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_pem_key(leaf_key))
    paths[2].chmod(0o600)
    return paths


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    root = tmp_path_factory.mktemp("tls")
    ca, cert, key = make_ca_and_leaf(root)
    server = start_server(root / "data", "--tls-cert", str(cert), "--tls-key", str(key))
    yield server, ca
    stop_server(server)


def _client(server: Server, ca: Path, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=f"https://127.0.0.1:{server.port}",
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        verify=str(ca),
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_every_surface_is_served_over_https_and_invokes_still_work(tls_server: tuple[Server, Path]) -> None:
    server, ca = tls_server
    assert f"listening on https://127.0.0.1:{server.port}" in server.output()
    lam = _client(server, ca, "lambda")
    create_function(lam, "tls-echo", {"app.py": "def handler(event, context):\n    return event\n"})
    reply = lam.invoke(FunctionName="tls-echo", Payload=b'{"over": "tls"}')
    # GetFunction's code link points back over HTTPS, and the package downloads through it.
    location = lam.get_function(FunctionName="tls-echo")["Code"]["Location"]
    assert location.startswith(f"https://127.0.0.1:{server.port}/")
    trusted = ssl.create_default_context(cafile=str(ca))
    with urllib.request.urlopen(location, context=trusted, timeout=10) as download:
        assert download.read().startswith(b"PK")
    assert json.loads(reply["Payload"].read()) == {"over": "tls"}
    url = lam.create_function_url_config(FunctionName="tls-echo", AuthType="NONE")["FunctionUrl"]
    assert url.startswith("https://")
    assert _client(server, ca, "logs").describe_log_groups()["logGroups"]
    sqs = _client(server, ca, "sqs")
    url = sqs.create_queue(QueueName="tls-queue")["QueueUrl"]
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    assert _client(server, ca, "sns").list_topics()["Topics"] == []


def test_a_client_that_does_not_trust_the_ca_or_speaks_plain_http_gets_nothing(
    tls_server: tuple[Server, Path],
) -> None:
    server, _ca = tls_server
    with pytest.raises(urllib.error.URLError) as refused:
        urllib.request.urlopen(f"https://127.0.0.1:{server.port}/2015-03-31/functions/", timeout=5)
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)
    with pytest.raises((ConnectionError, urllib.error.URLError, OSError)):
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/2015-03-31/functions/", timeout=5).read()


def test_an_unusable_certificate_refuses_to_start_with_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate")
    (tmp_path / "key.pem").write_text("not a key")
    with pytest.raises(RuntimeError, match="cannot use the TLS certificate"):
        start_server(
            tmp_path / "data",
            "--tls-cert",
            str(tmp_path / "cert.pem"),
            "--tls-key",
            str(tmp_path / "key.pem"),
        )
    with pytest.raises(RuntimeError, match="--tls-cert and --tls-key go together"):
        start_server(tmp_path / "data", "--tls-cert", str(tmp_path / "cert.pem"))
