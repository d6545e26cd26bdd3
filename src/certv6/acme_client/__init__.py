"""The ACME adapter: the only package that imports ``acme`` and ``josepy``."""

from certv6.acme_client.account import (
    AccountObject,
    account_for_key,
    change_key,
    deactivate,
    fetch_account,
    thumbprint,
    update_contact,
)
from certv6.acme_client.ari import RenewalInfo, RenewalInfoError, certificate_id
from certv6.acme_client.jws import AccountKey
from certv6.acme_client.profiles import choose_profile
from certv6.acme_client.resources import (
    Authorization,
    Challenge,
    Order,
    PendingChallenge,
    PersistChallenge,
)
from certv6.acme_client.session import AcmeSession
from certv6.acme_client.validation import Answerable, offered

__all__ = [
    "AccountKey",
    "AccountObject",
    "AcmeSession",
    "Answerable",
    "Authorization",
    "Challenge",
    "Order",
    "PendingChallenge",
    "PersistChallenge",
    "RenewalInfo",
    "RenewalInfoError",
    "account_for_key",
    "certificate_id",
    "change_key",
    "choose_profile",
    "deactivate",
    "fetch_account",
    "offered",
    "thumbprint",
    "update_contact",
]
