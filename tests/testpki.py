"""The one place the tests, the fakes and the lab make X.509 certificates.

Everything is RFC 5280-correct unless a test asks for a flaw, so it verifies under the strict
checks Python 3.13 turns on by default (``ssl.VERIFY_X509_STRICT``, issue #22):

- a CA: basicConstraints CA:TRUE marked critical (4.2.1.9), keyUsage keyCertSign and cRLSign
  (4.2.1.3, required by the strict checks for a CA), a subjectKeyIdentifier (4.2.1.2);
- what it issues: an authorityKeyIdentifier equal to the CA's key identifier (4.2.1.1), its own
  subjectKeyIdentifier, basicConstraints CA:FALSE, keyUsage digitalSignature (ECDSA keys sign,
  they do not encipher) and extendedKeyUsage serverAuth (RFC 5280 4.2.1.12; browsers and
  OpenSSL's purpose check want it on a TLS server's certificate);
- a self-signed server certificate (what a web server ships before certv6 runs) is an end
  entity issued by itself, with the same extensions.

``Flaw`` makes the mistakes home-made CAs make (no key identifiers, basicConstraints not
critical, no keyUsage), to test what users of such a CA see from certv6.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DAY = dt.timedelta(days=1)
BACKDATE = dt.timedelta(minutes=5)  # tolerate a client clock a little behind


class Flaw(enum.Enum):
    """One way a certificate breaks RFC 5280; OpenSSL's strict checks name each."""

    NO_KEY_IDENTIFIERS = "no authority or subject key identifiers"  # "Missing ... Identifier"
    BASIC_CONSTRAINTS_NOT_CRITICAL = "the CA's basicConstraints not critical"
    NO_KEY_USAGE = "the CA has no keyUsage"  # "CA cert does not include key usage extension"


HOME_MADE = frozenset(Flaw)  # all of them, as a quick openssl or Python script makes a CA


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def write(self, cert: Path, key: Path) -> tuple[Path, Path]:
        """Write the PEM files; the key is created 0600 (certv6 refuses readable secrets)."""
        cert.write_bytes(self.cert_pem())
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self.key_pem())
        return cert, key


@dataclass(frozen=True)
class Authority:
    """A throw-away CA that issues TLS server certificates."""

    own: Issued
    flaws: frozenset[Flaw] = frozenset()

    @classmethod
    def create(
        cls, common_name: str, *, lifetime: dt.timedelta = DAY, flaws: Collection[Flaw] = ()
    ) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        flawed = frozenset(flaws)
        name = _name(common_name)
        builder = _builder(name, name, key.public_key(), lifetime).add_extension(
            x509.BasicConstraints(ca=True, path_length=None),
            critical=Flaw.BASIC_CONSTRAINTS_NOT_CRITICAL not in flawed,
        )
        if Flaw.NO_KEY_USAGE not in flawed:
            builder = builder.add_extension(_key_usage(certificate_sign=True), critical=True)
        if Flaw.NO_KEY_IDENTIFIERS not in flawed:
            builder = _with_key_identifiers(builder, key.public_key(), key.public_key())
        return cls(Issued(builder.sign(key, hashes.SHA256()), key), flawed)

    def pem(self) -> bytes:
        return self.own.cert_pem()

    def server(
        self,
        common_name: str,
        *,
        ips: Sequence[str] = (),
        names: Sequence[str] = (),
        lifetime: dt.timedelta = DAY,
    ) -> Issued:
        """A TLS server certificate for ``ips`` and ``names`` (subjectAltName), signed here."""
        key = ec.generate_private_key(ec.SECP256R1())
        builder = _server_builder(
            _name(common_name), self.own.certificate.subject, key, ips, names, lifetime
        )
        if Flaw.NO_KEY_IDENTIFIERS not in self.flaws:
            builder = _with_key_identifiers(builder, key.public_key(), self.own.key.public_key())
        return Issued(builder.sign(self.own.key, hashes.SHA256()), key)


def self_signed(
    common_name: str,
    *,
    ips: Sequence[str] = (),
    names: Sequence[str] = (),
    lifetime: dt.timedelta = DAY,
) -> Issued:
    """A server's own certificate, issued by itself (a snakeoil, a test's stand-in leaf)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    builder = _server_builder(name, name, key, ips, names, lifetime)
    builder = _with_key_identifiers(builder, key.public_key(), key.public_key())
    return Issued(builder.sign(key, hashes.SHA256()), key)


def _server_builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    ips: Sequence[str],
    names: Sequence[str],
    lifetime: dt.timedelta,
) -> x509.CertificateBuilder:
    alternatives: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    alternatives += [x509.DNSName(name) for name in names]
    builder = (
        _builder(subject, issuer, key.public_key(), lifetime)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(certificate_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    if alternatives:  # an empty subjectAltName is itself a strict-check failure (4.2.1.6)
        builder = builder.add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
    return builder


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    lifetime: dt.timedelta,
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + lifetime)
    )


def _with_key_identifiers(
    builder: x509.CertificateBuilder,
    subject_key: ec.EllipticCurvePublicKey,
    issuer_key: ec.EllipticCurvePublicKey,
) -> x509.CertificateBuilder:
    # Both are non-critical: a critical one is a strict-check failure of its own (4.2.1.1-2).
    return builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(subject_key), critical=False
    ).add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key), critical=False)


def _key_usage(*, certificate_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=certificate_sign,
        crl_sign=certificate_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
