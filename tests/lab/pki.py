"""Throw-away secrets for one lab: TSIG keys and the TLS certificate of Pebble's listener."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _write_private(path: Path, data: bytes) -> None:
    # Created 0600 from the start: certv6 refuses secret files that others can read.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def write_tsig_key(path: Path, name: str) -> Path:
    """Write a key file in the format of ``tsig-keygen -a hmac-sha256 NAME``."""
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    text = f'key "{name}" {{\n\talgorithm hmac-sha256;\n\tsecret "{secret}";\n}};\n'
    _write_private(path, text.encode())
    return path


def tsig_secret(key_file: Path) -> str:
    """The secret of a key file in that format (for clients that take it bare: certbot, lego)."""
    for line in key_file.read_text().splitlines():
        words = line.strip().rstrip(";").split()
        if words[:1] == ["secret"]:
            return words[1].strip('"')
    raise ValueError(f"no secret in {key_file}")


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def write_listener_tls(
    directory: Path, *, address: str, names: list[str]
) -> tuple[Path, Path, Path]:
    """Create a CA and a server certificate for ``address`` and ``names``.

    Returns (ca_bundle, cert, key).  Only this lab's clients trust the CA, through the bundle.
    """
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(minutes=5), now + dt.timedelta(days=2)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certv6 lab listener CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    san: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(address))]
    san += [x509.DNSName(n) for n in names]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    bundle = directory / "ca-bundle.pem"
    bundle.write_bytes(_pem(ca_cert))
    cert_path = directory / "listener.pem"
    cert_path.write_bytes(_pem(cert))
    key_path = directory / "listener.key"
    _write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    return bundle, cert_path, key_path
