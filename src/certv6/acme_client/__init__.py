"""The ACME adapter: the only package that imports ``acme`` and ``josepy``."""

from certv6.acme_client.ari import RenewalInfo, RenewalInfoError, certificate_id
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
    "AcmeSession",
    "Answerable",
    "Authorization",
    "Challenge",
    "Order",
    "PendingChallenge",
    "PersistChallenge",
    "RenewalInfo",
    "RenewalInfoError",
    "certificate_id",
    "choose_profile",
    "offered",
]
