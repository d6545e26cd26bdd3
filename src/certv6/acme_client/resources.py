"""The RFC 8555 objects certv6 reads (orders, authorizations, challenges), raw JSON kept.

acme's ``messages.Authorization`` turns a challenge type it does not know
(dns-persist-01, dns-account-01) into an ``UnrecognizedChallenge`` and the
session would have to dig it out again; these views keep every object's JSON
(``raw``) next to the few fields certv6 decides on, so a new challenge type
needs no change here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from certv6.model import TxtRecord


@dataclass(frozen=True, slots=True)
class Order:
    url: str
    status: str
    finalize_url: str
    authorization_urls: tuple[str, ...]
    identifiers: tuple[str, ...]
    certificate_url: str | None = None
    error: Mapping[str, Any] | None = None  # the order's problem document when invalid


@dataclass(frozen=True, slots=True)
class Challenge:
    type: str  # "dns-01", "dns-persist-01", ...
    url: str
    status: str
    token: str | None
    error: Mapping[str, Any] | None
    raw: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Authorization:
    url: str
    identifier: str  # the base name, also for a wildcard (RFC 8555 7.1.4)
    status: str
    wildcard: bool
    challenges: tuple[Challenge, ...]
    raw: Mapping[str, Any] = field(repr=False)

    def challenge(self, kind: str) -> Challenge | None:
        return next((c for c in self.challenges if c.type == kind), None)


@dataclass(frozen=True, slots=True)
class PendingChallenge:
    """A dns-01 or dns-account-01 challenge still to be answered, with the TXT record
    that proves it (at ``_acme-challenge`` or at the account's label below it)."""

    identifier: str  # the authorization's identifier (base name, also for wildcards)
    wildcard: bool
    challenge_url: str
    record: TxtRecord
    key_authorization: str
    type: str = "dns-01"
    authorization_url: str = ""


@dataclass(frozen=True, slots=True)
class PersistChallenge:
    """A dns-persist-01 challenge (draft-ietf-acme-dns-persist): nothing to publish;
    the standing record at ``_validation-persist.<identifier>`` must name one of
    ``issuer_domain_names`` and ``account_uri``."""

    identifier: str
    wildcard: bool
    challenge_url: str
    issuer_domain_names: tuple[str, ...]  # from the challenge object; may be empty
    account_uri: str  # the challenge object's accounturi, else this account's URL
    authorization_url: str = ""
    type: str = "dns-persist-01"


def parse_order(url: str, body: Any) -> Order:
    """Raises TypeError for a body that is not a JSON object."""
    body = _object(body, "order")
    error = body.get("error")
    return Order(
        url=url,
        status=str(body.get("status", "")),
        finalize_url=str(body.get("finalize", "")),
        authorization_urls=tuple(map(str, body.get("authorizations", ()))),
        identifiers=tuple(str(i.get("value")) for i in body.get("identifiers", ())),
        certificate_url=body.get("certificate"),
        error=error if isinstance(error, dict) else None,
    )


def parse_authorization(url: str, body: Any) -> Authorization:
    """Raises TypeError for a body that is not a JSON object."""
    body = _object(body, "authorization")
    identifier = body.get("identifier")
    name = identifier.get("value") if isinstance(identifier, dict) else None
    return Authorization(
        url=url,
        identifier=str(name or ""),
        status=str(body.get("status", "")),
        wildcard=bool(body.get("wildcard", False)),
        challenges=tuple(
            _challenge(raw) for raw in body.get("challenges", ()) if isinstance(raw, dict)
        ),
        raw=body,
    )


def _challenge(raw: dict[str, Any]) -> Challenge:
    error = raw.get("error")
    return Challenge(
        type=str(raw.get("type", "")),
        url=str(raw.get("url", "")),
        status=str(raw.get("status", "")),
        token=raw.get("token") if isinstance(raw.get("token"), str) else None,
        error=error if isinstance(error, dict) else None,
        raw=raw,
    )


def _object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise TypeError(f"the {what} is not a JSON object")
    return body
