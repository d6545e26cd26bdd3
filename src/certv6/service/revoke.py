"""Use case: revoke the current certificate of a lineage (RFC 8555 section 7.6).

The revocation is recorded in the lineage's health (when, why, which serial):
``list`` shows it, and ``renew`` treats the lineage as due at once, replaces the
certificate and installs the replacement (issue #13). ``certv6 delete`` removes
a lineage that should not be replaced.
"""

from __future__ import annotations

import logging

from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.errors import AcmeError, ConfigError, StoreError
from certv6.service.account import connect_account
from certv6.settings import Settings
from certv6.store import Lineage, Store, hold_lock

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
        store.certificate_lock(name), wait=10, clock=clock, what=f"certificate {name!r}"
    ):
        version = lineage.current()
        serial = str(version.meta.get("serial", "?"))
        # The CA that issued it (with a server list, not necessarily the first one).
        issuer = str(lineage.config().get("server") or settings.server)
        acme = connect_account(settings.at_ca(issuer), store, clock)
        try:
            acme.revoke(version.read("cert.pem"), REASONS[reason])
        except AcmeError as error:
            if error.code != "alreadyRevoked":
                raise
            log.info("%s: the CA says it was revoked already", name)
        _record(lineage, serial, reason, clock)
    log.info("revoked %s (serial %s, reason %s)", name, serial, reason)
    return serial


def _record(lineage: Lineage, serial: str, reason: str, clock: Clock) -> None:
    now = clock.now()
    try:
        lineage.update_health(lambda health: health.revoked_now(serial, reason, now))
    except StoreError as error:
        raise StoreError(
            f"{lineage.name} was revoked at the CA, but recording it failed: {error}",
            hint="free space, then run certv6 renew --force --name " + lineage.name,
        ) from error
