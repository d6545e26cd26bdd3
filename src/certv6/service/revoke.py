"""Use case: revoke the current certificate of a lineage (RFC 8555 section 7.6)."""

from __future__ import annotations

import logging

from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.errors import ConfigError
from certv6.service.account import connect_account
from certv6.settings import Settings
from certv6.store import Store, hold_lock

log = logging.getLogger("certv6")

# RFC 5280 section 5.3.1 reason codes that CAs accept in ACME revocations.
REASONS = {
    "unspecified": 0,
    "keyCompromise": 1,
    "affiliationChanged": 3,
    "superseded": 4,
    "cessationOfOperation": 5,
}


def revoke(
    settings: Settings, name: str, reason: str = "unspecified", *, clock: Clock = SYSTEM_CLOCK
) -> str:
    """Revoke ``name``'s current certificate with the account key; return its serial.

    Raises:
        ConfigError: unknown reason or certificate.
        AcmeError: the CA refused.
    """
    if reason not in REASONS:
        raise ConfigError(
            f"unknown revocation reason {reason!r}", hint=f"choose one of {', '.join(REASONS)}"
        )
    lineage = Store(settings.state_dir).lineages.get(name)
    if not lineage.exists():
        raise ConfigError(f"no certificate named {name!r}", hint="see 'certv6 list'")
    store = Store(settings.state_dir).ensure()
    with hold_lock(
        store.lock_path(f"certificate-{name}"), wait=10, clock=clock, what=f"certificate {name!r}"
    ):
        version = lineage.current()
        acme = connect_account(settings, store, clock)
        acme.revoke(version.read("cert.pem"), REASONS[reason])
    serial = str(version.meta.get("serial", "?"))
    log.info("revoked %s (serial %s, reason %s)", name, serial, reason)
    return serial
