"""Private keys, CSRs and what certv6 needs to know about a certificate.

Certificate keys are fresh for every issuance (never reused across orders);
the account key is EC P-256 unless asked otherwise (P-384 or RSA, docs/accounts.md):
it signs every request (ES256, RFC 7518 3.4).
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass

from acme import crypto_util
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtensionOID

from certv6.errors import ConfigError, StoreError

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

KEY_TYPES: dict[str, tuple[str, int]] = {
    "ec256": ("ec", 256),
    "ec384": ("ec", 384),
    "rsa2048": ("rsa", 2048),
    "rsa3072": ("rsa", 3072),
    "rsa4096": ("rsa", 4096),
}
_CURVES = {256: ec.SECP256R1, 384: ec.SECP384R1}


def generate_key(key_type: str = "ec256") -> PrivateKey:
    """A fresh private key of one of KEY_TYPES.

    Raises:
        ConfigError: unknown key type.
    """
    try:
        family, size = KEY_TYPES[key_type]
    except KeyError:
        raise ConfigError(
            f"unknown key type {key_type!r}", hint=f"choose one of {', '.join(KEY_TYPES)}"
        ) from None
    if family == "ec":
        return ec.generate_private_key(_CURVES[size]())
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def key_type_of(key: PrivateKey) -> str | None:
    """The KEY_TYPES name of ``key`` (``ec256``, ``rsa2048`` ...), None for other keys."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        wanted = ("ec", key.curve.key_size)
        valid = isinstance(key.curve, _CURVES.get(key.curve.key_size, type(None)))
    else:
        wanted, valid = ("rsa", key.key_size), True
    found = [name for name, spec in KEY_TYPES.items() if spec == wanted]
    return found[0] if found and valid else None


def key_to_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(pem: bytes, origin: str) -> PrivateKey:
    """Load an unencrypted EC or RSA private key.

    Raises:
        StoreError: not a PEM private key of a supported kind.
    """
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        raise StoreError(f"{origin}: not an unencrypted PEM private key ({error})") from error
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise StoreError(f"{origin}: unsupported key type {type(key).__name__}")
    return key


def make_csr(key: PrivateKey, names: list[str]) -> bytes:
    """A PEM CSR carrying every name as a subjectAltName (no CN reliance, RFC 8555 7.4)."""
    return crypto_util.make_csr(key_to_pem(key), names)


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """The facts of a leaf certificate that listing and renewal look at."""

    names: tuple[str, ...]
    not_before: datetime.datetime
    not_after: datetime.datetime
    serial: int
    sha256: str

    @property
    def lifetime(self) -> datetime.timedelta:
        return self.not_after - self.not_before


def split_chain(fullchain_pem: bytes) -> list[bytes]:
    """PEM blocks of a chain, leaf first, each ending in a newline."""
    marker = b"-----END CERTIFICATE-----"
    blocks = []
    for part in fullchain_pem.split(marker)[:-1]:
        start = part.find(b"-----BEGIN CERTIFICATE-----")
        if start >= 0:
            blocks.append(part[start:] + marker + b"\n")
    return blocks


def certificate_info(cert_pem: bytes) -> CertificateInfo:
    """Parse the first certificate of ``cert_pem``.

    Raises:
        StoreError: not a PEM certificate.
    """
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as error:
        raise StoreError(f"not a PEM certificate: {error}") from error
    return CertificateInfo(
        names=_san_names(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        serial=cert.serial_number,
        sha256=hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
    )


def key_matches_certificate(key: PrivateKey, cert_pem: bytes) -> bool:
    cert = x509.load_pem_x509_certificate(cert_pem)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return key.public_key().public_bytes(der, spki) == cert.public_key().public_bytes(der, spki)


def _san_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return ()
    return tuple(san.value.get_values_for_type(x509.DNSName))  # type: ignore[attr-defined]


def load_account_key(pem: bytes, origin: str) -> PrivateKey:
    """An account key: EC P-256 (ES256, the default), P-384 (ES384) or RSA of 2048+ bits (RS256).

    Raises:
        StoreError: not a private key ACME requests can be signed with.
    """
    key = load_private_key(pem, origin)
    # RSA of another size above 2048 bits signs RS256 as well (one certbot made, say).
    long_rsa = isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048
    if key_type_of(key) is None and not long_rsa:
        raise StoreError(
            f"{origin}: an account key must be EC P-256, EC P-384 or RSA of 2048 bits or more"
        )
    return key
