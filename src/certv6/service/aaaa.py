"""Use case: ``certv6 aaaa`` -- keep this host's own AAAA records pointing at it.

One run (``Follower.run``), under the ``aaaa`` lock:
1. the names to follow and their providers (``aaaa_names.py``), checked first
2. the host's addresses (netlink) and the one to publish, with the reason
3. each provider must be able to write AAAA records (checked before anything
   is written), then its preflight
4. per name: its zone (SOA walk; never a top-level domain) and the AAAA RRset
   the zone's primary serves now
5. the plan: replace exactly the values certv6 owns with the chosen address
6. nothing differs, or --dry-run: done, nothing is written
7. record ownership (old and new values), one UPDATE per zone conditional on
   the RRset as read, record ownership (the new value)
8. wait until every authoritative address serves the new value and no longer
   the old ones: the propagation checker, with the same report as for dns-01

A run over the configured names (no -d, no --name, not --dry-run) records how it
went in the store (``store/aaaa_health.py``), so ``certv6 list`` shows it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from certv6 import ifaddr
from certv6.aaaa import Choice, Criteria, NamePlan, choose, parse_token, plan_name
from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.dnsquery import Dns
from certv6.errors import CertV6Error, ConfigError
from certv6.ifaddr import HostAddress
from certv6.propagation import Report, read_rrset, wait_until_visible
from certv6.providers import Provider, ProviderSession, RecordWriter, require_record_type
from certv6.service.aaaa_names import FollowedName, followed_names
from certv6.service.aaaa_report import AaaaOutcome, HealthRecorder, ProviderRun, log_survey
from certv6.service.runtime import build_dns, build_provider, propagation_settings
from certv6.settings import Settings
from certv6.store import OwnedRRset, Store, hold_lock

log = logging.getLogger("certv6")

LOCK_WAIT = 120.0
Progress = Callable[[Report], None]


@dataclass(frozen=True, slots=True)
class AaaaRequest:
    names: tuple[str, ...] = ()  # -d NAME...; empty: every configured name
    certificate: str | None = None  # --name CERT: that certificate's names
    provider: str | None = None
    adopt: bool = False  # take over AAAA values certv6 did not publish
    dry_run: bool = False


class Follower:
    """One ``certv6 aaaa`` set-up: names, criteria, and the providers (built once, kept).

    ``--watch`` keeps one Follower and calls ``run`` whenever the addresses change.
    """

    def __init__(
        self,
        settings: Settings,
        request: AaaaRequest,
        *,
        clock: Clock = SYSTEM_CLOCK,
        progress: Progress | None = None,
        long_running: bool = False,
        read_addresses: Callable[[], Sequence[HostAddress]] = ifaddr.read_addresses,
    ) -> None:
        self.settings, self.request, self.clock = settings, request, clock
        self.store = Store(settings.state_dir)
        # The timer's runs (and --watch's) are the configured ones: only they are recorded.
        configured = not request.names and request.certificate is None
        self._health = (
            HealthRecorder(self.store, clock) if configured and not request.dry_run else None
        )
        try:
            self.names = followed_names(
                settings,
                self.store,
                names=request.names,
                certificate=request.certificate,
                provider=request.provider,
            )
        except CertV6Error as error:
            if self._health is not None:
                self._health.failed(error)
            raise
        token = settings.aaaa_token  # --token and --interface are these settings' flags
        self.criteria = Criteria(
            interface=settings.aaaa_interface, token=parse_token(token) if token else None
        )
        self._progress = progress
        self._long_running = long_running
        self._read_addresses = read_addresses
        self._dns: Dns | None = None
        self._writers: dict[str, tuple[Provider, RecordWriter]] = {}
        self._sessions: list[ProviderSession] = []
        self._surveyed: tuple[ProviderRun, ...] = ()  # this run's plans, once read
        self._written: set[str] = set()  # names this run changed

    def run(self, *, may_write: Callable[[], bool] = lambda: True) -> AaaaOutcome:
        """Choose, plan and (unless --dry-run or ``may_write`` says no) write and wait.

        Raises:
            ConfigError, NoHostAddress: bad input, or no address fit to publish.
            ProviderError: a provider cannot write AAAA, refused, or the RRset changed
                since it was read (ConcurrentChange); the first of them, after every
                provider was tried.
            PropagationTimeout, DnsError: as for dns-01.
        """
        self._surveyed, self._written = (), set()
        try:
            outcome = self._run(may_write)
        except CertV6Error as error:
            if self._health is not None:
                self._health.failed(error, behind=self._behind())
            raise
        if self._health is not None and outcome.choice is not None:
            self._health.succeeded(outcome)
        return outcome

    def _run(self, may_write: Callable[[], bool]) -> AaaaOutcome:
        if not self.names:
            return AaaaOutcome(None, dry_run=self.request.dry_run)
        # Read-only first: bad input and refusals are reported before anything is written.
        choice, runs = self._survey()
        if self.request.dry_run or not self._writes_needed(runs):
            log_survey(choice, runs)
            return AaaaOutcome(choice, runs, dry_run=self.request.dry_run)
        with self._locked():
            # Again under the lock: another certv6 run may have acted in between.
            choice, runs = self._survey()
            log_survey(choice, runs)
            if not any(run.changes for run in runs) or not may_write():
                self._confirm_ownership(runs)
                return AaaaOutcome(choice, runs)
            return AaaaOutcome(choice, self._apply_all(runs), written=True)

    def choose(self) -> Choice:
        addresses = self._read_addresses()
        published = {v for owned in self.store.owned.all() for v in owned.values}
        interfaces = {a.interface for a in addresses} | set(ifaddr.interface_names())
        return choose(addresses, self.criteria, interfaces=interfaces, published=published)

    def close(self) -> None:
        for session in self._sessions:
            with contextlib.suppress(CertV6Error):
                session.close()
        self._sessions.clear()
        self._writers.clear()

    # -- steps ------------------------------------------------------------------------

    def _survey(self) -> tuple[Choice, tuple[ProviderRun, ...]]:
        for provider, _ in self._by_provider():
            self._writer(provider)  # can it write AAAA at all? said before anything else
        choice = self.choose()
        runs = tuple(self._plan(provider, names, choice) for provider, names in self._by_provider())
        self._surveyed = runs
        return choice, runs

    def _behind(self) -> tuple[str, ...]:
        """Names this run read as pointing elsewhere and did not change (after a failure)."""
        return tuple(
            plan.name
            for run in self._surveyed
            for plan in run.changes
            if plan.name not in self._written
        )

    def _writes_needed(self, runs: Sequence[ProviderRun]) -> bool:
        """A change to send, or a value already right that certv6 does not own on record yet."""
        return any(
            plan.change is not None or plan.wanted not in self._owned_values(plan)
            for run in runs
            for plan in run.plans
        )

    def _by_provider(self) -> list[tuple[str, list[FollowedName]]]:
        groups: dict[str, list[FollowedName]] = {}
        for name in self.names:
            groups.setdefault(name.provider, []).append(name)
        return list(groups.items())

    def _plan(self, provider: str, names: Sequence[FollowedName], choice: Choice) -> ProviderRun:
        host = {judged.address.address for judged in choice.judged}
        return ProviderRun(provider, tuple(self._plan_name(n.name, choice, host) for n in names))

    def _plan_name(self, name: str, choice: Choice, host: set[str]) -> NamePlan:
        dns = self._resolver()
        zone = dns.find_zone(name).lower()
        _check_zone(name, zone)
        served = read_rrset(name, "AAAA", zone, dns)
        owned = self.store.owned.get(name, "AAAA")
        return plan_name(
            name,
            zone,
            served.values,
            wanted=choice.chosen.address,
            published=owned.values if owned else (),
            host_addresses=host,
            adopt=self.request.adopt,
            ttl=self.settings.aaaa_ttl,
        )

    def _apply_all(self, runs: Sequence[ProviderRun]) -> tuple[ProviderRun, ...]:
        """Every provider is tried; the first failure is raised once all were."""
        done: list[ProviderRun] = []
        failures: list[CertV6Error] = []
        for run in runs:
            try:
                done.append(self._apply(run) if run.changes else run)
            except CertV6Error as error:
                failures.append(error)
                done.append(run)
        if failures:
            for extra in failures[1:]:
                log.warning("aaaa: also failed: %s", extra)
            raise failures[0]
        return tuple(done)

    def _apply(self, run: ProviderRun) -> ProviderRun:
        provider, writer = self._writer(run.provider)
        changes = [plan.change for plan in run.changes if plan.change is not None]
        for plan in run.changes:  # write-ahead: everything this UPDATE may leave behind
            self._own(run.provider, plan, self._owned_values(plan) | plan.owned | plan.result)
        try:
            writer.replace_rrsets(changes)
        except CertV6Error as error:
            for plan in run.changes:
                self._own(run.provider, plan, self._owned_values(plan), error=error.message)
            raise
        self._written.update(plan.name for plan in run.changes)
        for plan in run.plans:
            self._own(run.provider, plan, frozenset({plan.wanted}))
        log.info("aaaa: %d name(s) changed through %s", len(changes), run.provider)
        report = wait_until_visible(
            changes,
            propagation_settings(self.settings, provider),
            dns=self._resolver(),
            clock=self.clock,
            progress=self._progress,
        )
        log.info("aaaa: %s", report.summary())
        return replace(run, report=report)

    def _confirm_ownership(self, runs: Sequence[ProviderRun]) -> None:
        """A name already right: make sure certv6 owns the value it would have written."""
        for run in runs:
            for plan in run.plans:
                owned = self._owned_values(plan)
                if plan.change is None and plan.wanted not in owned:
                    self._own(run.provider, plan, frozenset({plan.wanted}))

    # -- helpers ----------------------------------------------------------------------

    def _owned_values(self, plan: NamePlan) -> frozenset[str]:
        owned = self.store.owned.get(plan.name, "AAAA")
        return owned.values if owned else frozenset()

    def _own(
        self, provider: str, plan: NamePlan, values: frozenset[str], *, error: str | None = None
    ) -> None:
        record = OwnedRRset(plan.name, "AAAA", values, plan.zone, provider, last_error=error)
        self.store.owned.save(record, now=self.clock.now())

    def _resolver(self) -> Dns:
        if self._dns is None:
            self._dns = build_dns(self.settings)
        return self._dns

    def _writer(self, name: str) -> tuple[Provider, RecordWriter]:
        """The provider, built once: checked for AAAA, then its preflight (not on --dry-run)."""
        known = self._writers.get(name)
        if known is None:
            provider = build_provider(self.settings, name, self._resolver(), self.clock)
            self._sessions.append(ProviderSession(provider))
            writer = require_record_type(provider, "AAAA", long_running=self._long_running)
            if not self.request.dry_run:
                provider.preflight()
            known = self._writers[name] = (provider, writer)
        return known

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.store.ensure()
        with hold_lock(
            self.store.lock_path("aaaa"), wait=LOCK_WAIT, clock=self.clock, what="certv6 aaaa"
        ):
            yield


def _check_zone(name: str, zone: str) -> None:
    """certv6 changes names inside a zone of their own, never a top-level domain's zone."""
    labels = [label for label in zone.split(".") if label]
    if len(labels) < 2:
        raise ConfigError(
            f"{name.rstrip('.')} is outside every zone certv6 may change: the nearest zone"
            f" is {zone!r}" + (", a top-level domain" if labels else ", the root"),
            hint="check the name for a typo; list names inside a zone you run",
        )
