"""Which DNS challenge answers an authorization, and what it needs (acme_client/validation.py).

Independent oracles: draft-ietf-acme-dns-account-label's own example for the label,
RFC 8555 8.4's formula for the value, computed here with hashlib.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.jwk import JWKEC

from certv6.acme_client import PendingChallenge, PersistChallenge
from certv6.acme_client.resources import parse_authorization
from certv6.acme_client.validation import choose
from certv6.errors import ConfigError, OrderError
from certv6.model import Identifier, account_label
from certv6.settings import challenge_list, challenges_for, load_settings

ACCOUNT = "https://ca.example/acme/acct/7"
TOKEN = base64.urlsafe_b64encode(b"t" * 32).decode().rstrip("=")
KEY = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def authorization(*challenges: dict[str, Any], wildcard: bool = False) -> Any:
    body = {
        "status": "pending",
        "identifier": {"type": "dns", "value": "www.example.org"},
        "challenges": list(challenges),
        "wildcard": wildcard,
    }
    return parse_authorization("https://ca.example/authz/1", body)


DNS01 = {"type": "dns-01", "url": "https://ca.example/chal/1", "token": TOKEN, "status": "pending"}
ACCOUNT01 = {**DNS01, "type": "dns-account-01", "url": "https://ca.example/chal/2"}
PERSIST01 = {
    "type": "dns-persist-01",
    "url": "https://ca.example/chal/3",
    "status": "pending",
    "accounturi": ACCOUNT,
    "issuer-domain-names": ["ca.example", "alias.example"],
}
HTTP01 = {**DNS01, "type": "http-01", "url": "https://ca.example/chal/4"}


def test_the_label_is_the_drafts_example() -> None:
    # draft-ietf-acme-dns-account-label 3.1's example account and label.
    assert account_label("https://example.com/acme/acct/ExampleAccount") == "ujmmovf2vn55tgye"
    identifier = Identifier("*.example.org")
    owner = identifier.account_owner("https://example.com/acme/acct/ExampleAccount")
    assert owner == "_ujmmovf2vn55tgye._acme-challenge.example.org."
    assert identifier.persist_owner == "_validation-persist.example.org."


def test_dns_account_01_has_the_dns_01_value_at_the_labelled_owner() -> None:
    chosen = choose(authorization(DNS01, ACCOUNT01), ("dns-account-01",), KEY, ACCOUNT)
    assert isinstance(chosen, PendingChallenge)
    key_authorization = f"{TOKEN}.{b64(KEY.thumbprint())}"
    assert chosen.key_authorization == key_authorization
    assert chosen.record.value == b64(hashlib.sha256(key_authorization.encode()).digest())
    label = base64.b32encode(hashlib.sha256(ACCOUNT.encode()).digest()[:10]).decode().lower()
    assert chosen.record.owner == f"_{label}._acme-challenge.www.example.org."
    assert chosen.type == "dns-account-01"
    assert chosen.challenge_url == "https://ca.example/chal/2"
    assert chosen.authorization_url == "https://ca.example/authz/1"


def test_dns_persist_01_carries_what_the_record_must_name() -> None:
    chosen = choose(authorization(DNS01, PERSIST01, wildcard=True), ("dns-persist-01",), KEY, "")
    assert isinstance(chosen, PersistChallenge)
    assert chosen.issuer_domain_names == ("ca.example", "alias.example")
    assert chosen.account_uri == ACCOUNT
    assert chosen.wildcard


def test_without_accounturi_in_the_challenge_the_account_url_is_used() -> None:
    bare = {k: v for k, v in PERSIST01.items() if k != "accounturi"}
    chosen = choose(authorization(bare), ("dns-persist-01",), KEY, ACCOUNT + "0")
    assert isinstance(chosen, PersistChallenge) and chosen.account_uri == ACCOUNT + "0"


def test_the_first_offered_type_of_the_list_wins() -> None:
    offered = authorization(HTTP01, DNS01)
    chosen = choose(offered, ("dns-persist-01", "dns-account-01", "dns-01"), KEY, ACCOUNT)
    assert chosen.type == "dns-01"
    both = authorization(DNS01, PERSIST01)
    assert choose(both, ("dns-persist-01", "dns-01"), KEY, ACCOUNT).type == "dns-persist-01"


def test_a_type_the_ca_does_not_offer_is_a_clear_error() -> None:
    with pytest.raises(OrderError) as raised:
        choose(authorization(HTTP01, DNS01), ("dns-persist-01",), KEY, ACCOUNT)
    error = raised.value
    assert error.code == "challengeNotOffered"
    assert "no dns-persist-01 challenge for www.example.org (it offers http-01, dns-01)" in str(
        error
    )
    assert 'challenge = ["dns-persist-01", "dns-01"]' in error.hint


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("dns-01", ("dns-01",)),
        ("dns-persist-01, dns-01", ("dns-persist-01", "dns-01")),
        (["dns-account-01", "dns-01", "dns-01"], ("dns-account-01", "dns-01")),
    ],
)
def test_challenge_setting_forms(value: Any, expected: tuple[str, ...]) -> None:
    assert challenge_list(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("dns-persits-01", "did you mean 'dns-persist-01'"),
        ("http-01", "certv6 answers dns-01, dns-account-01, dns-persist-01"),
        ([], "expected one or more"),
    ],
)
def test_a_bad_challenge_setting_is_refused(tmp_path: Any, value: Any, message: str) -> None:
    config = tmp_path / "certv6.toml"
    config.write_text(f"challenge = {value!r}\n".replace("'", '"'))
    with pytest.raises(ConfigError, match=message):
        load_settings(config, {})


def test_challenge_per_certificate_then_stored_then_global(tmp_path: Any) -> None:
    config = tmp_path / "certv6.toml"
    config.write_text(
        'challenge = "dns-account-01"\n'
        '[certificate.www]\nchallenge = ["dns-persist-01", "dns-01"]\n'
        '[certificate.bad]\nchallenge = "dns-02"\n'
    )
    settings = load_settings(config, {})
    assert challenges_for(settings, "www") == ("dns-persist-01", "dns-01")
    assert challenges_for(settings, "www", ("dns-01",)) == ("dns-01",)  # --challenge wins
    assert challenges_for(settings, "other", stored=("dns-01",)) == ("dns-01",)
    assert challenges_for(settings, "other") == ("dns-account-01",)
    with pytest.raises(ConfigError, match=r"\[certificate.bad\] challenge"):
        challenges_for(settings, "bad")


def test_issuer_domain_name_must_be_a_domain_name(tmp_path: Any) -> None:
    config = tmp_path / "certv6.toml"
    config.write_text('issuer_domain_name = "letsencrypt.org"\n')
    assert load_settings(config, {}).issuer_domain_name == "letsencrypt.org"
    config.write_text('issuer_domain_name = "lets encrypt"\n')
    with pytest.raises(ConfigError, match="not a domain name"):
        load_settings(config, {})
