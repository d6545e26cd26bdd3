"""Use cases behind ``certv6 hook ...``: an ACME client's dns-01 values, published or removed.

The client (certbot, lego, dehydrated, uacme) does the ACME side; certv6
publishes through its provider and waits until every authoritative nameserver
serves every value. Each hook call is its own process, so what a run has
recorded and published lives in its journal (certv6.hookrun), which the stale
cleanup understands once the client process is gone.

    publish_and_wait  record values; publish every recorded one not yet published
                      (one batch: one UPDATE per zone); wait for all the run published
    remove            delete exactly the given values; forget them in the journal
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from certv6 import propagation
from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.dns01 import effective_records
from certv6.dnsquery import Dns
from certv6.errors import ConfigError
from certv6.hookrun import Pair, RunJournal, RunOwner, normalize_owner
from certv6.model import CHALLENGE_LABEL, TxtRecord, parse_identifier
from certv6.providers import Provider, ProviderSession
from certv6.service.cleanup import cleanup_stale
from certv6.service.runtime import (
    build_dns,
    build_provider,
    choose_provider,
    propagation_settings,
)
from certv6.settings import Settings
from certv6.store import Store
from certv6.syntax import check_dns01_value

log = logging.getLogger("certv6")

# Providers that serve the values from the certv6 process itself: a hook process
# exits right after present, long before the CA looks.
_IN_PROCESS = frozenset({"standalone"})


@dataclass(frozen=True, slots=True)
class HookRun:
    """One hook call: the settings, the client run it belongs to, the provider asked for."""

    settings: Settings
    owner: RunOwner
    provider: str | None = None
    clock: Clock = SYSTEM_CLOCK

    def journal(self) -> RunJournal:
        return RunJournal(self.settings.state_dir, self.owner)


@dataclass(frozen=True, slots=True)
class Published:
    records: tuple[TxtRecord, ...]  # every value of the run, now visible everywhere
    report: propagation.Report


def publish_and_wait(run: HookRun, pairs: Sequence[Pair]) -> Published:
    """Record ``pairs``, publish what the run has not published yet, wait for all of it.

    Raises:
        ConfigError: a name or value is not a dns-01 owner / value; bad provider.
        ProviderError: publishing failed (the values stay in the journal for cleanup).
        PropagationTimeout: some nameserver still lags at the deadline.
    """
    for owner, value in pairs:
        challenge_record(owner, value)  # a bad name or value fails before anything is written
    journal = run.journal()
    state = journal.plan(pairs)
    dns = build_dns(run.settings)
    # Values a crashed run (hook or `certv6 issue`) left behind go first.
    cleanup_stale(run.settings, Store(run.settings.state_dir), dns, run.clock)
    provider = build_provider(run.settings, _run_provider(run, state.providers()), dns, run.clock)
    with contextlib.closing(ProviderSession(provider)):
        _publish(journal, provider, state.planned, dns)
        records = tuple(TxtRecord(o, v) for o, v in journal.read().published)
        report = propagation.wait_until_visible(
            records, propagation_settings(run.settings, provider), dns=dns, clock=run.clock
        )
    log.info("visible on every authoritative nameserver (%s)", report.summary())
    return Published(records, report)


def remove(run: HookRun, pairs: Sequence[Pair]) -> int:
    """Delete exactly these values (absent ones are fine); return how many went to a provider.

    Values this run only recorded were never published: nothing to delete.

    Raises:
        ProviderError: the provider failed; the journal keeps the values for a retry.
    """
    for owner, value in pairs:
        challenge_record(owner, value)
    journal = run.journal()
    state = journal.read()
    batches: dict[str, list[TxtRecord]] = {}
    unknown = []
    for owner, value in dict.fromkeys(pairs):
        if (owner, value) in state.published:
            provider, written = state.published[(owner, value)]
            batches.setdefault(provider, []).append(TxtRecord(written, value))
        elif (owner, value) not in state.planned:
            unknown.append(challenge_record(owner, value))
    if batches or unknown:
        dns = build_dns(run.settings)
        if unknown:
            # Not in this run's journal (another run, or by hand): remove it anyway.
            name = choose_provider(run.settings, run.provider)
            batches.setdefault(name, []).extend(effective_records(unknown, dns))
        for name, records in batches.items():
            _cleanup(build_provider(run.settings, name, dns, run.clock), records)
    journal.removed(pairs)
    return sum(len(records) for records in batches.values())


def challenge_record(owner: str, value: str) -> TxtRecord:
    """Check a client-supplied owner and value.

    Raises:
        ConfigError: not a DNS name, or not a dns-01 value.
    """
    absolute = normalize_owner(owner)
    parse_identifier(absolute.rstrip(".").removeprefix(f"{CHALLENGE_LABEL}."))
    check_dns01_value(value)
    return TxtRecord(absolute, value)


def _publish(journal: RunJournal, provider: Provider, pending: Sequence[Pair], dns: Dns) -> None:
    if not pending:
        return
    written = effective_records([challenge_record(o, v) for o, v in pending], dns)
    # Journal first (fsync-ed): if present() dies halfway, the stale cleanup knows.
    journal.publishing(
        provider.name,
        [(o, v, w.owner) for (o, v), w in zip(pending, written, strict=True)],
    )
    provider.present(written)
    log.info("published %d TXT value(s) with %s", len(written), provider.name)


def _cleanup(provider: Provider, records: Iterable[TxtRecord]) -> None:
    batch = list(records)
    with contextlib.closing(ProviderSession(provider)):
        provider.cleanup(batch)
    log.info("removed %d TXT value(s) with %s", len(batch), provider.name)


def _run_provider(run: HookRun, used: set[str]) -> str:
    # A run that already published keeps its provider; StoreError on a switch comes
    # from the journal, so here only the first choice is made.
    name = sorted(used)[0] if used and run.provider is None else None
    name = name or choose_provider(run.settings, run.provider)
    if name in _IN_PROCESS:
        raise ConfigError(
            f"provider {name!r} serves the values from the certv6 process, which a hook ends",
            hint="use `certv6 issue` with it, or another provider for the hooks",
        )
    return name
