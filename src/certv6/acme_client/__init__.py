"""The ACME adapter: the only package that imports ``acme`` and ``josepy``."""

from certv6.acme_client.ari import RenewalInfo, RenewalInfoError, certificate_id
from certv6.acme_client.profiles import choose_profile
from certv6.acme_client.resources import Authorization, Challenge, Order, PendingChallenge
from certv6.acme_client.session import AcmeSession

__all__ = [
    "AcmeSession",
    "Authorization",
    "Challenge",
    "Order",
    "PendingChallenge",
    "RenewalInfo",
    "RenewalInfoError",
    "certificate_id",
    "choose_profile",
]
