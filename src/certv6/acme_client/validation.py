"""Which DNS challenge answers each authorization, and what answering it takes.

An authorization offers several challenges (RFC 8555 7.1.4); certv6 takes the
first of the configured types (``challenge = [...]``) that it offers:

    dns-01          a TXT value at ``_acme-challenge.<name>`` (RFC 8555 8.4)
    dns-account-01  the same value at ``_<label>._acme-challenge.<name>``, the label
                    being this account's (draft-ietf-acme-dns-account-label 3.1), so
                    several clients can validate one name at once
    dns-persist-01  nothing to publish: a standing record at
                    ``_validation-persist.<name>`` (draft-ietf-acme-dns-persist)

acme 5.x knows only dns-01; the other two arrive as ``UnrecognizedChallenge``,
so they are read from the raw JSON (``resources.Challenge.raw``). dns-account-01
carries a token like dns-01 and its value is computed the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from acme import challenges
from josepy.jwk import JWK

from certv6.acme_client.convert import acme_error
from certv6.acme_client.resources import (
    Authorization,
    Challenge,
    PendingChallenge,
    PersistChallenge,
)
from certv6.errors import OrderError
from certv6.model import Identifier, TxtRecord
from certv6.settings import DNS01, DNS_ACCOUNT01, DNS_PERSIST01

Answerable = PendingChallenge | PersistChallenge


def offered(authorization: Authorization) -> tuple[str, ...]:
    """The challenge types an authorization offers, in the CA's order."""
    return tuple(challenge.type for challenge in authorization.challenges)


def choose(
    authorization: Authorization, kinds: Sequence[str], key: JWK, account_url: str
) -> Answerable:
    """The first of ``kinds`` the authorization offers, ready to answer.

    Raises:
        OrderError: it offers none of them (the message lists what it offers).
    """
    for kind in kinds:
        found = authorization.challenge(kind)
        if found is None:
            continue
        if kind == DNS_PERSIST01:
            return _persist(authorization, found, account_url)
        return _publishing(authorization, found, key, account_url)
    name = authorization.identifier
    offers = ", ".join(offered(authorization)) or "nothing"
    wanted = " or ".join(kinds)
    fallback = (
        f'; challenge = ["{kinds[0]}", "{DNS01}"] falls back to dns-01'
        if DNS01 not in kinds
        else ""
    )
    raise OrderError(
        f"the CA offers no {wanted} challenge for {name} (it offers {offers})",
        code="challengeNotOffered",
        hint=f"choose one the CA offers{fallback} (docs/challenges.md)",
    )


def _publishing(
    authorization: Authorization, found: Challenge, key: JWK, account_url: str
) -> PendingChallenge:
    name = authorization.identifier
    with acme_error(f"reading the {found.type} challenge for {name}"):
        # Same token and value as dns-01 (draft-ietf-acme-dns-account-label 3.2).
        challenge = challenges.Challenge.from_json({**dict(found.raw), "type": DNS01})
        if not isinstance(challenge, challenges.DNS01):
            raise TypeError(f"not a DNS challenge: {found.type}")
    identifier = Identifier(name)
    owner = (
        identifier.account_owner(account_url)
        if found.type == DNS_ACCOUNT01
        else identifier.challenge_owner
    )
    return PendingChallenge(
        identifier=name,
        wildcard=authorization.wildcard,
        challenge_url=found.url,
        record=TxtRecord(owner, challenge.validation(key)),
        key_authorization=challenge.key_authorization(key),
        type=found.type,
        authorization_url=authorization.url,
    )


def _persist(authorization: Authorization, found: Challenge, account_url: str) -> PersistChallenge:
    names = found.raw.get("issuer-domain-names")
    issuers = tuple(str(n) for n in names) if isinstance(names, list) else ()
    uri = found.raw.get("accounturi")
    return PersistChallenge(
        identifier=authorization.identifier,
        wildcard=authorization.wildcard,
        challenge_url=found.url,
        issuer_domain_names=issuers,
        account_uri=uri if isinstance(uri, str) and uri else account_url,
        authorization_url=authorization.url,
    )
