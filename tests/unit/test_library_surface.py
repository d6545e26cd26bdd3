"""The acme and josepy surface certv6 stands on: listed, public, and the same shape.

pyproject bounds acme < 6 and josepy < 3, but a minor release can still move
things. This file fails loudly, naming what changed, before issuance does:

1. every acme/josepy name ``src/certv6`` imports or reads (found by parsing the
   source) must be in SURFACE and must not be private: a new use has to be
   added here, with a check of its shape below;
2. each of them is checked for what certv6 relies on: fields, keyword
   arguments, the JSON it writes, values against independent oracles (RFC 8555
   8.4 for dns-01, acme's own JWS parser for certv6's signatures).
"""

from __future__ import annotations

import ast
import base64
import datetime as dt
import hashlib
import importlib
import inspect
import json
from pathlib import Path

import pytest
from acme import challenges, crypto_util, messages
from acme import jws as acme_jws
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from josepy.jwk import JWK, JWKEC, JWKRSA, JWKOct

from certv6.acme_client import jws
from certv6.acme_client.session import NewOrder

SOURCE = Path(__file__).resolve().parents[2] / "src" / "certv6"
LIBRARIES = ("acme", "josepy")
SURFACE = {
    "acme.challenges",
    "acme.challenges.Challenge",
    "acme.challenges.DNS01",
    "acme.crypto_util",
    "acme.crypto_util.make_csr",
    "acme.messages",
    "acme.messages.CertificateRequest",
    "acme.messages.Directory",
    "acme.messages.ExternalAccountBinding",
    "acme.messages.IDENTIFIER_FQDN",
    "acme.messages.Identifier",
    "acme.messages.NewOrder",
    "acme.messages.NewRegistration",
    "acme.messages.RenewalInfo",
    "acme.messages.Revocation",
    "josepy.b64.b64encode",
    "josepy.errors.DeserializationError",
    "josepy.interfaces.JSONDeSerializable",
    "josepy.json_util.field",
    "josepy.jwa.ES256",
    "josepy.jwa.ES384",
    "josepy.jwa.ES512",
    "josepy.jwa.JWASignature",
    "josepy.jwa.RS256",
    "josepy.jwk.JWK",
    "josepy.jwk.JWKEC",
    "josepy.jwk.JWKRSA",
}
TOKEN = b"certv6-token-certv6-token-certv6!"  # 32 octets, as RFC 8555 8.1 asks


def used_names() -> set[str]:
    """Dotted acme/josepy names imported in src, and attributes read off them."""
    used: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        local: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in LIBRARIES:
                        local[alias.asname or alias.name.split(".")[0]] = (
                            alias.name if alias.asname else alias.name.split(".")[0]
                        )
                        used.add(alias.name)
            elif (
                isinstance(node, ast.ImportFrom)
                and node.level == 0
                and (node.module or "").split(".")[0] in LIBRARIES
            ):
                for alias in node.names:
                    local[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                    used.add(f"{node.module}.{alias.name}")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in local
            ):
                used.add(f"{local[node.value.id]}.{node.attr}")
    return used


def resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            found = getattr(found, attribute)
        return found
    raise ImportError(dotted)


def test_src_uses_exactly_the_listed_public_surface() -> None:
    used = used_names()
    private = sorted(name for name in used if any(p.startswith("_") for p in name.split(".")))
    assert not private, f"certv6 reaches into private acme/josepy API: {private}"
    assert used == SURFACE, (
        f"new (add them here, with a check): {sorted(used - SURFACE)}; "
        f"no longer used (drop them): {sorted(SURFACE - used)}"
    )


@pytest.mark.parametrize("name", sorted(SURFACE))
def test_every_listed_name_exists(name: str) -> None:
    resolve(name)


def keyword_names(function: object) -> set[str]:
    return set(inspect.signature(function).parameters)  # type: ignore[arg-type]


def ec_key() -> JWKEC:
    return JWKEC(key=ec.generate_private_key(ec.SECP256R1()))


# --- acme.challenges -----------------------------------------------------------------------


def test_dns01_value_matches_rfc_8555_section_8_4() -> None:
    key = ec_key()
    challenge = challenges.Challenge.from_json(
        {"type": "dns-01", "token": base64.urlsafe_b64encode(TOKEN).decode().rstrip("=")}
    )
    assert isinstance(challenge, challenges.DNS01)
    thumbprint = base64.urlsafe_b64encode(key.thumbprint()).decode().rstrip("=")
    token = base64.urlsafe_b64encode(TOKEN).decode().rstrip("=")
    key_authorization = f"{token}.{thumbprint}"
    digest = hashlib.sha256(key_authorization.encode()).digest()
    assert challenge.key_authorization(key) == key_authorization
    assert challenge.validation(key) == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert challenge.validation_domain_name("www.example.org") == "_acme-challenge.www.example.org"


# --- acme.messages --------------------------------------------------------------------------


def test_new_order_with_replaces_and_profile() -> None:
    identifier = messages.Identifier(typ=messages.IDENTIFIER_FQDN, value="www.example.org")
    order = NewOrder(identifiers=[identifier], profile="shortlived", replaces="aYhb.AIdl")
    assert json.loads(order.json_dumps()) == {
        "identifiers": [{"type": "dns", "value": "www.example.org"}],
        "profile": "shortlived",
        "replaces": "aYhb.AIdl",
    }
    assert json.loads(NewOrder(identifiers=[identifier]).json_dumps()) == {
        "identifiers": [{"type": "dns", "value": "www.example.org"}]
    }


def test_directory_meta_fields() -> None:
    directory = messages.Directory.from_json(
        {
            "newNonce": "https://ca/nonce",
            "newAccount": "https://ca/acct",
            "renewalInfo": "https://ca/ari",
            "meta": {
                "termsOfService": "https://ca/tos",
                "caaIdentities": ["ca.example"],
                "externalAccountRequired": True,
                "profiles": {"classic": "the usual"},
            },
        }
    )
    meta = directory.meta
    assert meta.terms_of_service == "https://ca/tos"
    assert tuple(meta.caa_identities) == ("ca.example",)
    assert meta.external_account_required is True
    assert dict(meta.profiles) == {"classic": "the usual"}
    assert directory["newAccount"] == "https://ca/acct"


def test_new_registration_with_external_account_binding() -> None:
    key = ec_key()
    hmac_key = base64.urlsafe_b64encode(b"k" * 32).decode().rstrip("=")
    directory = messages.Directory.from_json({"newAccount": "https://ca/acct"})
    assert {"account_public_key", "kid", "hmac_key", "directory"} <= keyword_names(
        messages.ExternalAccountBinding.from_data
    )
    binding = messages.ExternalAccountBinding.from_data(
        account_public_key=key.public_key(), kid="kid-1", hmac_key=hmac_key, directory=directory
    )
    registration = messages.NewRegistration.from_data(
        email="ops@example.org", terms_of_service_agreed=True, external_account_binding=binding
    )
    body = json.loads(registration.json_dumps())
    assert body["contact"] == ["mailto:ops@example.org"]
    assert body["termsOfServiceAgreed"] is True
    outer = acme_jws.JWS.from_json(body["externalAccountBinding"])  # RFC 8555 7.3.4
    assert outer.signature.combined.kid == "kid-1"
    assert outer.signature.combined.url == "https://ca/acct"
    assert outer.verify(JWKOct(key=b"k" * 32))
    assert json.loads(outer.payload) == key.public_key().to_partial_json()


def test_certificate_request_and_revocation_bodies() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    assert {"private_key_pem", "domains"} <= keyword_names(crypto_util.make_csr)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    csr_pem = crypto_util.make_csr(pem, ["www.example.org", "*.example.org"])
    csr = x509.load_pem_x509_csr(csr_pem)
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["www.example.org", "*.example.org"]
    body = json.loads(messages.CertificateRequest(csr=csr).json_dumps())
    der = base64.urlsafe_b64decode(body["csr"] + "==")
    assert x509.load_der_x509_csr(der) == csr
    cert = self_signed(key)
    revocation = json.loads(messages.Revocation(certificate=cert, reason=4).json_dumps())
    assert revocation["reason"] == 4
    der_cert = base64.urlsafe_b64decode(revocation["certificate"] + "==")
    assert x509.load_der_x509_certificate(der_cert) == cert


def test_renewal_info_window() -> None:
    info = messages.RenewalInfo.from_json(
        {"suggestedWindow": {"start": "2026-03-01T00:00:00Z", "end": "2026-03-02T00:00:00Z"}}
    )
    start = info.suggested_window.start
    assert start.replace(tzinfo=start.tzinfo or dt.UTC) == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


# --- josepy, through certv6's own JWS -------------------------------------------------------


@pytest.mark.parametrize("kind", ["ec256", "ec384", "rsa"])
def test_certv6_signatures_verify_with_acmes_jws_parser(kind: str) -> None:
    key: JWK
    if kind == "rsa":
        key = JWKRSA(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    else:
        curve = ec.SECP256R1() if kind == "ec256" else ec.SECP384R1()
        key = JWKEC(key=ec.generate_private_key(curve))
    with_kid = jws.sign(b'{"a":1}', key=key, url="https://ca/x", nonce="bm9uY2U", kid="acct/1")
    parsed = acme_jws.JWS.from_json(with_kid)
    header = parsed.signature.combined
    assert (header.url, header.kid, header.nonce, header.jwk) == (
        "https://ca/x",
        "acct/1",
        b"nonce",
        None,
    )
    assert parsed.verify(key.public_key()) and parsed.payload == b'{"a":1}'
    # Embedded key, no nonce: newAccount's shape, and a keyChange's inner JWS.
    inner = acme_jws.JWS.from_json(jws.sign(b"", key=key, url="u", nonce=None, kid=None))
    assert inner.signature.combined.jwk == key.public_key()
    assert inner.signature.combined.nonce is None and inner.verify()


def test_a_key_that_cannot_sign_acme_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot sign"):
        jws.algorithm_for(JWKOct(key=b"secret"))
    with pytest.raises(ValueError, match="cannot sign"):
        jws.algorithm_for(JWKEC(key=ec.generate_private_key(ec.SECP224R1())))


def self_signed(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "surface.test")])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
