"""The JWS of an ACME request (RFC 8555 6.2): flattened JSON (RFC 7515 7.2.2), built here.

Only josepy's keys and algorithms are used (``JWK``, ``JWASignature.sign``): its
``JWS`` class knows no ``nonce`` or ``url`` header, and acme's subclass is bound
to its ClientNetwork. What a request needs is small enough to own:

    protected = {"alg", "nonce", "url", and "kid" (the account URL) or "jwk" (the key)}
    signature = alg.sign(key, b64(protected) "." b64(payload))

``jwk`` instead of ``kid`` is for newAccount and revocation by certificate key
(RFC 8555 6.2); ``nonce=None`` is for the inner JWS of a keyChange (7.3.5),
which the new key signs and which then travels as the payload of an outer one.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy.b64 import b64encode
from josepy.jwa import ES256, ES384, ES512, RS256, JWASignature
from josepy.jwk import JWK, JWKEC, JWKRSA

FlatJws = dict[str, str]  # {"protected", "payload", "signature"}, each base64url
AccountKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
_EC_ALGORITHMS = {"secp256r1": ES256, "secp384r1": ES384, "secp521r1": ES512}


def jwk_of(key: AccountKey) -> JWK:
    """The JWK of a private key; josepy's generic ``JWK.load`` would take garbage as a
    symmetric key, so the kind is chosen here."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return JWKEC(key=key)
    return JWKRSA(key=key)


def thumbprint(key: JWK) -> str:
    """The key's JWK thumbprint (RFC 7638, SHA-256), base64url: how ACME names a key."""
    return b64encode(key.thumbprint()).decode()


def algorithm_for(key: JWK) -> JWASignature:
    """ES256/384/512 for an EC key by its curve, RS256 for RSA (RFC 7518 3.1).

    Raises:
        ValueError: a key ACME cannot sign with (symmetric, other curves).
    """
    # josepy wraps the cryptography key (a "comparable" proxy): ask the JWK's kind.
    if isinstance(key, JWKEC):
        curve = str(key.key.curve.name)
        if curve in _EC_ALGORITHMS:
            return _EC_ALGORITHMS[curve]
    elif isinstance(key, JWKRSA):
        return RS256
    raise ValueError(f"cannot sign ACME requests with a {type(key).__name__} key")


def sign(payload: bytes, *, key: JWK, url: str, nonce: str | None, kid: str | None) -> FlatJws:
    """Sign ``payload`` for ``url``: with ``kid`` when given, else with the public ``jwk``."""
    algorithm = algorithm_for(key)
    protected: dict[str, Any] = {"alg": algorithm.name, "url": url}
    if nonce is not None:
        protected["nonce"] = nonce
    if kid is None:
        protected["jwk"] = public_jwk(key)
    else:
        protected["kid"] = kid
    encoded_protected = b64encode(json.dumps(protected).encode())
    encoded_payload = b64encode(payload)
    signature = algorithm.sign(key.key, encoded_protected + b"." + encoded_payload)
    return {
        "protected": encoded_protected.decode(),
        "payload": encoded_payload.decode(),
        "signature": b64encode(signature).decode(),
    }


def public_jwk(key: JWK) -> dict[str, Any]:
    """The public half of ``key`` as a JWK object (RFC 7517)."""
    document: dict[str, Any] = json.loads(key.public_key().json_dumps())
    return document
