"""Accounts against a real Pebble on [::1]: plain, existing, and with external account binding."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from certv6.acme_client import AcmeSession
from certv6.errors import AccountError
from fakes.clock import FakeClock
from servers.pebble import Pebble

HMAC_KEY = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


@pytest.fixture
def pebble(tmp_path: Path) -> Iterator[Pebble]:
    with Pebble(tmp_path / "pebble", eab_keys={"kid-1": HMAC_KEY}) as running:
        yield running


def connect(pebble: Pebble, key: ec.EllipticCurvePrivateKey) -> AcmeSession:
    return AcmeSession.connect(
        pebble.directory_url, key, ca_bundle=str(pebble.ca_bundle), clock=FakeClock()
    )


def test_eab_account_is_created_and_found_again(pebble: Pebble) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    session = connect(pebble, key)
    assert session.external_account_required
    url = session.register(email="ops@example.org", agree_tos=True, eab=("kid-1", HMAC_KEY))
    assert url.startswith(f"https://[::1]:{pebble.port}/")
    # The same key again: the CA answers with the existing account (RFC 8555 7.3.1).
    again = connect(pebble, key).register(email=None, agree_tos=True, eab=("kid-1", HMAC_KEY))
    assert again == url
    order = session.new_order(["www.example.test"])
    assert order.status == "pending" and len(order.authorization_urls) == 1
    (challenge,) = session.pending_challenges(order)
    assert challenge.record.owner == "_acme-challenge.www.example.test."


def test_eab_required_but_missing_or_wrong(pebble: Pebble) -> None:
    session = connect(pebble, ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(AccountError, match="requires external account binding"):
        session.register(email=None, agree_tos=True)
    wrong = base64.urlsafe_b64encode(b"w" * 32).decode().rstrip("=")
    with pytest.raises(AccountError, match="external account binding JWS verification") as bad:
        session.register(email=None, agree_tos=True, eab=("kid-1", wrong))
    assert bad.value.code == "unauthorized"
    with pytest.raises(AccountError, match="'kid' references a key that is not known"):
        session.register(email=None, agree_tos=True, eab=("kid-9", HMAC_KEY))
    assert wrong not in bad.value.message and HMAC_KEY not in bad.value.message


def test_the_signed_request_layer_expresses_a_key_change(pebble: Pebble) -> None:
    # RFC 8555 7.3.5, built from the layer's parts only (the helper adding rollover will
    # wrap this): an inner JWS by the new key, without nonce, as the outer payload.
    from josepy.jwk import JWKEC

    from certv6.acme_client import jws

    old = ec.generate_private_key(ec.SECP256R1())
    session = connect(pebble, old)
    account = session.register(email=None, agree_tos=True, eab=("kid-1", HMAC_KEY))
    new_key = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    url = session.url("keyChange")
    body = {"account": account, "oldKey": jws.public_jwk(session.net.key)}
    inner = jws.sign(json.dumps(body).encode(), key=new_key, url=url, nonce=None, kid=None)
    session.net.post(url, inner)
    session.net.key = new_key
    assert session.new_order(["rolled.example.test"]).status == "pending"  # signed by the new key
    # The old key no longer has an account: registering it again makes a new one.
    again = connect(pebble, old).register(email=None, agree_tos=True, eab=("kid-1", HMAC_KEY))
    assert again != account
