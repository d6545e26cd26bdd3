"""The account itself (RFC 8555 7.3): read it, find it by key, change its contact or key, end it.

Registration lives in the session (``AcmeSession.register``), since every use
case may need it; these are the operations of ``certv6 account``. acme's
ClientV2 has no key change at all and its registration calls break on
accounts made with external account binding (LIBRARY-NOTES), so each request
is built here from the JWS layer's parts and the CA's JSON is read as it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from certv6.acme_client import jws
from certv6.acme_client.convert import acme_error
from certv6.acme_client.jws import AccountKey, jwk_of
from certv6.acme_client.reply import Problem
from certv6.acme_client.session import AcmeSession
from certv6.errors import AccountError


@dataclass(frozen=True, slots=True)
class AccountObject:
    """What the CA says about the account (RFC 8555 7.1.2), raw JSON kept."""

    url: str
    status: str  # valid, deactivated (by us) or revoked (by the CA)
    contact: tuple[str, ...]
    created_at: str | None  # not in RFC 8555; Boulder sends ``createdAt``
    raw: Mapping[str, Any] = field(repr=False)


def thumbprint(key: AccountKey) -> str:
    """The key's JWK thumbprint (RFC 7638): what CAs and dns-account-01 name a key by."""
    return jws.thumbprint(jwk_of(key))


def fetch_account(session: AcmeSession) -> AccountObject:
    """The account object, by POST-as-GET to its URL (RFC 8555 7.3, 6.3)."""
    url = _account_url(session)
    with acme_error("reading the account"):
        return _account(url, session.net.post_as_get(url).json())


def account_for_key(session: AcmeSession, key: AccountKey) -> str | None:
    """The URL of the account ``key`` belongs to, or None: ``onlyReturnExisting`` (7.3.1).

    Signed with ``key`` itself, so it answers "does the CA hold this key?"
    without changing anything at the CA.
    """
    with acme_error("looking the account up by its key"):
        try:
            reply = session.net.post(
                session.url("newAccount"),
                {"onlyReturnExisting": True},
                key=jwk_of(key),
                embed_key=True,
            )
        except Problem as problem:
            if problem.code == "accountDoesNotExist":
                return None
            raise
    if not reply.location:
        raise AccountError("the CA found the account but sent no account URL (Location)")
    return reply.location


def update_contact(session: AcmeSession, contact: Sequence[str]) -> AccountObject:
    """Replace the account's contact URLs (RFC 8555 7.3.2); an empty list removes them."""
    url = _account_url(session)
    with acme_error("updating the account's contact"):
        return _account(url, session.net.post(url, {"contact": list(contact)}).json())


def change_key(session: AcmeSession, new_key: AccountKey) -> None:
    """Roll the account over to ``new_key`` (RFC 8555 7.3.5); the session signs with it after.

    The inner JWS is signed by the new key, without a nonce, and names the
    account and the old key; the outer one is an ordinary request of the
    account. Whatever goes wrong here, the caller must find out which key the
    CA holds (``account_for_key``) before it forgets either.
    """
    url = session.url("keyChange")
    body = {"account": _account_url(session), "oldKey": jws.public_jwk(session.net.key)}
    new = jwk_of(new_key)
    inner = jws.sign(json.dumps(body).encode(), key=new, url=url, nonce=None, kid=None)
    with acme_error("changing the account key"):
        session.net.post(url, inner)
    session.net.key = new


def deactivate(session: AcmeSession) -> AccountObject:
    """Deactivate the account (RFC 8555 7.3.6): the CA accepts nothing it signs afterwards."""
    url = _account_url(session)
    with acme_error("deactivating the account"):
        return _account(url, session.net.post(url, {"status": "deactivated"}).json())


def _account_url(session: AcmeSession) -> str:
    if session.net.account_url is None:
        raise AccountError("no account URL: the account is not registered yet")
    return session.net.account_url


def _account(url: str, body: Any) -> AccountObject:
    if not isinstance(body, dict):
        raise TypeError("the account is not a JSON object")
    contact = body.get("contact")
    created = body.get("createdAt")
    return AccountObject(
        url=url,
        status=str(body.get("status", "")),
        contact=tuple(map(str, contact)) if isinstance(contact, list) else (),
        created_at=created if isinstance(created, str) else None,
        raw=body,
    )
