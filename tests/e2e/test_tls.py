"""`syncserver run` with TLS: a self-signed certificate set through environment
overrides; a client that trusts only that certificate gets through."""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import ssl
import sys
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from support.project import new_project
from support.syncserver_run import start_syncserver


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.slow
def test_run_serves_https_with_the_configured_certificate(tmp_path: Path) -> None:
    keyfile = tmp_path / "k"
    new_project(tmp_path / "p", key_file=keyfile).close()
    cert, key = self_signed(tmp_path / "p")
    env = dict(os.environ, SEALSYNC_SERVER_TLS_CERT=cert.name, SEALSYNC_SERVER_TLS_KEY=key.name)
    log = tmp_path / "server.log"
    proc, port, base = start_syncserver(
        [sys.executable, "-m", "syncserver.cli", "run", "--dir", str(tmp_path / "p"),
         "--key-file", str(keyfile)],
        log, env=env,
    )  # fmt: skip
    try:
        assert base == f"https://127.0.0.1:{port}"  # it says it serves HTTPS
        ctx = ssl.create_default_context(cafile=str(cert))
        with urllib.request.urlopen(f"{base}/v1/health", context=ctx, timeout=10) as r:
            assert r.read() == b'{"status":"ok"}'
        # plain HTTP is not served on that port
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert f"on https://127.0.0.1:{port}" in log.read_text()
