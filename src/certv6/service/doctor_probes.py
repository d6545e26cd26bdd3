"""Per-name doctor checks that need the propagation checker and the provider.

For each name: where its challenge value goes (the end of the ``_acme-challenge``
CNAME chain, and that zone), whether every nameserver of that zone answers this
host (directly, through NAT64, or not at all), whether the name's AAAA record is
one of this host's stable addresses, and, with ``--write-test``, whether the
provider really may write there: one canary TXT value, published, waited for on
every authoritative address exactly as ``issue`` waits, and removed. The canary
is in the ledger while it exists, so a killed doctor's value is removed by the
next run, like any other.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence

from certv6 import propagation
from certv6.clock import Clock
from certv6.dns01 import effective_records
from certv6.dnsquery import Dns
from certv6.doctor import names
from certv6.doctor.host import HostAddress
from certv6.doctor.report import Finding, Status, fail, ok, warn
from certv6.errors import CertV6Error
from certv6.model import Identifier, TxtRecord
from certv6.providers import Provider
from certv6.service.aaaa_names import aaaa_command
from certv6.service.cleanup import never_written
from certv6.settings import Settings
from certv6.store import Ledger, LedgerEntry, Store

log = logging.getLogger("certv6")

# Asked for, never written: any authoritative answer (NXDOMAIN included) proves the server works.
PROBE_VALUE = "certv6-doctor-probe"


class NameProbes:
    def __init__(
        self,
        *,
        settings: Settings,
        dns: Dns,
        store: Store,
        clock: Clock,
        addresses: Sequence[HostAddress],
        provider: Provider | None,
        write_test: bool,
        labelled: str | None = None,
    ) -> None:
        self.settings = settings
        self.dns = dns
        self.store = store
        self.clock = clock
        self.addresses = addresses
        self.provider = provider if write_test else None
        self.labelled = labelled  # an account URL: check its dns-account-01 owners
        self._zones_seen: set[str] = set()

    def _owner(self, identifier: Identifier) -> str:
        if self.labelled:
            return identifier.account_owner(self.labelled)
        return identifier.challenge_owner

    def run(self, identifier: Identifier) -> list[Finding]:
        chain, zone = names.challenge_finding(identifier, self.dns, self._owner(identifier))
        found = [chain]
        if zone is not None:
            found += self._nameservers(identifier, zone)
        fix = aaaa_command(self.settings, identifier.name)
        address = names.address_finding(identifier, self.dns, self.addresses, fix)
        if address is not None:
            found.append(address)
        if zone is not None and self.provider is not None:
            found.append(self._write_test(identifier, self.provider))
        return found

    def _nameservers(self, identifier: Identifier, zone: str) -> list[Finding]:
        name = identifier.name
        if zone in self._zones_seen:
            return [ok(name, "nameservers", f"zone {zone}: checked above")]
        self._zones_seen.add(zone)
        record = TxtRecord(self._owner(identifier), PROBE_VALUE)
        wait = self._propagation_settings()
        try:
            report = propagation.check_once([record], wait, dns=self.dns, clock=self.clock)
        except CertV6Error as error:
            return [fail(name, "nameservers", error.message, error.hint)]
        found = names.nameserver_findings(name, report.servers, wait.strict)
        for delegation in report.delegations:
            if delegation.matches is False:
                found.append(
                    warn(
                        name,
                        "delegation",
                        f"{delegation.parent} delegates {delegation.zone} to "
                        f"{', '.join(delegation.parent_nameservers or ())}, the zone itself "
                        f"lists {', '.join(delegation.child_nameservers)}",
                        "make the NS records at the parent match the zone's own",
                    )
                )
        found += [
            warn(
                name,
                "nameserver",
                f"{ns.name} (NS of {ns.zone}) has no address at all",
                "remove the NS record or give the server an AAAA record",
            )
            for ns in report.nameservers
            if not ns.aaaa and not ns.a
        ]
        return found

    def _write_test(self, identifier: Identifier, provider: Provider) -> Finding:
        name = identifier.name
        record = TxtRecord(self._owner(identifier), f"certv6-doctor-{secrets.token_hex(8)}")
        try:
            written = effective_records([record], self.dns)
        except CertV6Error as error:
            return fail(name, "write test", error.message, error.hint)
        ledger = self.store.ensure().ledger
        with ledger.recording(provider.name, "doctor", written) as entry:
            refused: CertV6Error | None = None
            try:
                outcome, refused = self._write_and_wait(name, provider, record, written)
            finally:
                removal = self._remove(name, provider, written, (ledger, entry), refused)
        if removal is None:
            return outcome
        if outcome.status == Status.FAIL:
            # The first error wins; a failed removal of a value that may never have been
            # written stays in the ledger, and the next run tries again.
            log.warning("%s", removal.message)
            return outcome
        return removal

    def _write_and_wait(
        self, name: str, provider: Provider, record: TxtRecord, written: Sequence[TxtRecord]
    ) -> tuple[Finding, CertV6Error | None]:
        hints = provider.hints()
        wait = self._propagation_settings(
            timeout=self.settings.propagation_timeout or hints.propagation_timeout,
            poll_interval=self.settings.poll_interval or hints.poll_interval,
        )
        try:
            provider.present(written)
            report = propagation.wait_until_visible([record], wait, dns=self.dns, clock=self.clock)
        except CertV6Error as error:
            return fail(name, "write test", error.message, error.hint), error
        finding = ok(
            name,
            "write test",
            f"{provider.name} wrote a canary TXT at {written[0].owner}; "
            f"{report.summary()}; removed",
        )
        return finding, None

    def _remove(
        self,
        name: str,
        provider: Provider,
        written: Sequence[TxtRecord],
        recorded: tuple[Ledger, LedgerEntry],
        first_error: CertV6Error | None,
    ) -> Finding | None:
        ledger, entry = recorded
        try:
            provider.cleanup(written)
        except CertV6Error as error:
            if never_written(first_error, error):
                # The ledger never lies (issue #13): a refused canary was never published.
                ledger.discard(entry)
                return None
            return fail(
                name,
                "write test",
                f"the canary {written[0]} was not removed: {error.message}",
                "the next certv6 run (or 'certv6 cleanup --stale') removes it",
            )
        ledger.discard(entry)
        return None

    def _propagation_settings(
        self, timeout: float = 10.0, poll_interval: float = 1.0
    ) -> propagation.PropagationSettings:
        return propagation.PropagationSettings(
            timeout=timeout,
            poll_interval=poll_interval,
            policy=self.settings.propagation_policy,
            nat64_prefix=self.settings.nat64_prefix,
        )
