"""The ACME adapter: the only package that imports ``acme`` and ``josepy``."""

from certv6.acme_client.session import AcmeSession, Order, PendingChallenge

__all__ = ["AcmeSession", "Order", "PendingChallenge"]
