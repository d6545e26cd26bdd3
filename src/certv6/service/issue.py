"""Use case: get a certificate for some names through a DNS challenge, start to finish.

Read it top to bottom: every step is one call and one log line. Which challenge
each name answers (dns-01, dns-account-01, or a standing dns-persist-01 record)
and what that changes: service/challenges.py.

What is needed only after the first request -- the ACME session (acme, josepy,
requests), keys and the CSR (cryptography), the CAA check and the propagation
checker (asyncio): LATER -- is imported on a thread of its own while the first
DNS look-ups and the provider's preflight wait for their answers, and each
step imports what it uses (issue #19: about 0.2 s less before the first request).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from certv6 import propagation
from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.dns01 import effective_records
from certv6.dnsquery import Dns
from certv6.errors import AccountError, CertV6Error, ResolverUnreachable
from certv6.model import Identifier, TxtRecord, parse_identifiers
from certv6.providers import Provider, ProviderSession
from certv6.renewal import parse_time
from certv6.service.challenges import (
    check_before_answering,
    describe,
    preflight_for,
    provider_for,
)
from certv6.service.cleanup import cleanup_fleet_stale, cleanup_published
from certv6.service.fleet import mirror, next_version
from certv6.service.install import install_config
from certv6.service.issue_policy import Reissue, changed_while_waiting, check_existing
from certv6.service.preload import import_later
from certv6.service.runtime import propagation_settings
from certv6.service.sharing import ALONE, Sharing
from certv6.settings import Settings, challenges_for
from certv6.store import Lineage, Store, check_lineage_name, hold_lock
from certv6.store.backends import open_backend
from certv6.store.shared import Backend, Head, Hold, StoredVersion

if TYPE_CHECKING:
    from certv6 import keys
    from certv6.acme_client import AcmeSession, Answerable, Order

log = logging.getLogger("certv6")

ORDER_TIMEOUT = 120.0
LOCK_WAIT = 10.0
Progress = Callable[["propagation.Report"], None]
LATER = (  # see the module docstring
    "certv6.acme_client",
    "certv6.keys",
    "certv6.service.account",
    "certv6.service.doctor",
    "certv6.propagation.run",
)


@dataclass(frozen=True, slots=True)
class IssueRequest:
    """What to issue. ``renewal`` is set by ``certv6 renew``: no idempotence checks
    (renew decided already), and the global deploy hook is owed for the result.

    ``expected_current``: the version the caller saw before waiting for the lock;
    if another run changed the lineage meanwhile, nothing is ordered.
    """

    domains: tuple[str, ...]
    name: str | None = None
    provider: str | None = None
    key_type: str | None = None
    profile: str | None = None
    profile_policy: str = "preferred"
    replaces: str | None = None
    reissue: Reissue = field(default_factory=Reissue)
    renewal: bool = False
    expected_current: str | None = None
    challenges: tuple[str, ...] = ()  # empty: [certificate.NAME] challenge, else the setting


@dataclass(frozen=True, slots=True)
class IssueResult:
    name: str
    domains: tuple[str, ...]
    directory: Path
    live_directory: Path
    not_after: datetime.datetime
    sha256: str
    timings: dict[str, float] = field(default_factory=dict)
    # What the propagation check could not vouch for (also logged as warnings).
    warnings: tuple[str, ...] = ()
    kept: str = ""  # why the existing certificate was kept and nothing was ordered
    ca: str = ""  # the directory URL of the CA that issued it
    skipped: tuple[str, ...] = ()  # the CAs of the list that could not ("URL: why")
    challenges: tuple[str, ...] = ()  # the challenge types asked for, in order of preference
    # (name, challenge type) per authorization answered in this run; names the CA
    # still held valid for the account need none.
    answered: tuple[tuple[str, str], ...] = ()


def issue(
    settings: Settings,
    request: IssueRequest,
    *,
    clock: Clock = SYSTEM_CLOCK,
    progress: Progress | None = None,
    sharing: Sharing = ALONE,
) -> IssueResult:
    """Order, prove control of every name (dns-01, dns-account-01 or a standing
    dns-persist-01 record: service/challenges.py), finalize, store.

    ``sharing``: what this issuance shares with others running beside it
    (``certv6 renew``: the CA session, the UPDATEs, the propagation check).
    ``settings.server`` is the one CA asked (service/fallback.py tries a list):
    the dns-account-01 label and the dns-persist-01 record are that CA's account's.

    Raises:
        CertV6Error: any failure; published TXT values are always removed first.
    """
    steps = StepTimer()
    importing = import_later(LATER)
    identifiers = parse_identifiers(request.domains)
    name = check_lineage_name(request.name or identifiers[0].base)
    request = replace(request, challenges=challenges_for(settings, name, request.challenges))
    dns = sharing.dns(settings)
    provider = provider_for(settings, request.provider, request.challenges, dns, clock)
    install_config(settings, name)  # a bad install table fails now, not after issuance
    if not request.renewal:
        names = [identifier.name for identifier in identifiers]
        key_type = request.key_type or settings.key_type
        existing = check_existing(
            Store(settings.state_dir), name, names, key_type, request.reissue, now=clock.now()
        )
        if existing.keep:
            return kept(Store(settings.state_dir).lineages.get(name), existing.keep, request)
        request = replace(request, expected_current=existing.current)
    # Only now, with every setting checked, does anything get written.
    store = Store(settings.state_dir).ensure()
    backend = open_backend(settings, clock)
    with (
        contextlib.closing(backend),
        contextlib.closing(ProviderSession(provider)),
        # renew in a fleet does not wait for a peer: it skips, names the holder, moves on.
        backend.lock(name, wait=0 if backend.shared and request.renewal else LOCK_WAIT) as hold,
        _local_lock(store, name, backend, clock),
    ):
        based_on, changed = _changed_while_waiting(backend, store, name, request, clock)
        if changed:
            return kept(store.lineages.get(name), changed, request)
        warming = _DnsWarmUp(dns, identifiers, start=sharing.warm_up)
        try:
            with steps("checks"):
                # Fail on a provider that cannot work (no IPv6 route to its API, bad
                # credentials, a key the server refuses) before an order exists at the CA.
                # (dns-account-01's owners need this CA's account URL, if there is one yet)
                preflight_for(
                    provider,
                    identifiers,
                    request.challenges,
                    dns,
                    store.account(settings.server).read_url(),
                )
                _remove_stale(settings, store, backend, sharing, dns=dns, clock=clock)
            with steps("account"):
                acme = sharing.session(settings, store, clock)
        except BaseException:
            warming.stop()
            raise
        with steps("caa"):
            warming.join()
            # RFC 8659: a CAA record that forbids this CA fails here, before any order.
            _caa_permits(settings, dns, identifiers, acme, store)
        request = _with_profile(acme, request, name)
        with steps("order"):
            order = _new_order(acme, settings, store, identifiers, request, clock=clock)
            pending = acme.open_challenges(order, request.challenges)
        log.info("order: %d name(s), to answer: %s", len(identifiers), describe(pending) or "none")
        with steps("checks"):
            # dns-persist-01: every nameserver must serve a record that authorizes this
            # order (this CA's issuer name, this account), before anything is answered.
            standing = check_before_answering(
                acme, pending, provider, settings, dns=dns, clock=clock
            )
        publisher = sharing.provider(provider) if provider is not None else None
        proof = _Proof(acme, order, publisher, store, dns, name, steps, sharing, backend, hold)
        with _account_known(store, settings):
            warnings = proof.run(pending, propagation_settings(settings, provider), clock, progress)
            with steps("finalize"):
                key, fullchain = _finalize(acme, order, identifiers, request, settings, hold=hold)
        lineage = store.lineages.get(name)
        result = _save(
            lineage,
            _Commit(backend, hold, based_on, next_version(store, name, based_on)),
            identifiers=identifiers,
            key=key,
            fullchain=fullchain,
            order=order,
            request=request,
            provider=provider,
            settings=settings,
            now=clock.now(),
        )
    log.info(
        "certificate: %s (valid until %s)",
        result.live_directory / "fullchain.pem",
        result.not_after.strftime("%Y-%m-%d %H:%M UTC"),
    )
    importing.join()
    return replace(
        result,
        timings={**steps.timings, "total": steps.total()},
        # A standing record whose persistUntil comes before the end of the new
        # certificate still worked today: a warning now, not a failure later.
        warnings=(*standing.warnings, *warnings, *standing.ending_before(result.not_after)),
        challenges=request.challenges,
        answered=tuple((_shown(c.identifier, c.wildcard), c.type) for c in pending),
    )


def _shown(identifier: str, wildcard: bool) -> str:
    return f"*.{identifier}" if wildcard else identifier


@contextlib.contextmanager
def _local_lock(store: Store, name: str, backend: Backend, clock: Clock) -> Iterator[None]:
    """With a fleet store, this host's own lock on the lineage as well (its local mirror).

    The file store's lock is that lock already.
    """
    if not backend.shared:
        yield
        return
    lock = store.certificate_lock(name)
    with hold_lock(lock, wait=LOCK_WAIT, clock=clock, what=f"certificate {name!r}"):
        yield


def _changed_while_waiting(
    backend: Backend, store: Store, name: str, request: IssueRequest, clock: Clock
) -> tuple[Head | None, str]:
    """The fleet's head (None: none, or no fleet) and why not to order after all ('': order).

    A fleet: what a peer committed while this host waited is made current here
    first, so the check sees it (issue #16).
    """
    head = backend.head(name) if backend.shared else None
    if head is not None:
        mirror(backend, store, head, clock)
    lineage = store.lineages.get(name)
    return head, changed_while_waiting(
        lineage, request.expected_current, renewal=request.renewal, clock=clock
    )


def _remove_stale(
    settings: Settings,
    store: Store,
    backend: Backend,
    sharing: Sharing,
    *,
    dns: Dns,
    clock: Clock,
) -> None:
    """What killed runs left in the DNS: this host's, and in a fleet any dead host's."""
    sharing.remove_stale(settings, store, dns, clock)
    if backend.shared:
        cleanup_fleet_stale(settings, backend, dns, clock)


@dataclass(frozen=True, slots=True)
class _Commit:
    """Where a new version goes: the fleet's store first (guarded by ``based_on``), then here."""

    backend: Backend
    hold: Hold
    based_on: Head | None
    version: str


def kept(lineage: Lineage, reason: str, request: IssueRequest | None = None) -> IssueResult:
    """The result of an issue that ordered nothing: the lineage's current certificate."""
    version = lineage.current()
    config = lineage.config()
    log.info("%s: %s", lineage.name, reason)
    try:
        not_after, sha256 = parse_time(version.meta["not_after"]), str(version.meta["sha256"])
    except (KeyError, TypeError, ValueError):
        from certv6 import keys  # noqa: PLC0415 (LATER)

        info = keys.certificate_info(version.read("cert.pem"))
        not_after, sha256 = info.not_after, info.sha256
    return IssueResult(
        lineage.name,
        tuple(str(domain) for domain in config["domains"]),
        version.directory,
        lineage.current_link,
        not_after,
        sha256,
        kept=reason,
        challenges=request.challenges if request else (),
    )


class _DnsWarmUp:
    """Look up CAA and the challenge owners' chains and zones while the CA is contacted.

    ``Dns`` keeps the answers for the run, so the CAA check, the provider and the
    propagation checker find them ready. All of the order's questions go to the
    resolver at once first (``Dns.prefetch``, dnsbulk.py); whatever that leaves open
    is asked one name at a time on a few threads. A failure here is logged at debug level and
    otherwise left alone: those steps ask again and report it properly; but a
    resolver that never answered is raised by ``join`` (nothing that follows works
    without one: fail before the order, without asking it again, issue #18). When the run
    fails early, ``stop`` ends it between look-ups and waits for it, so it never
    outlives the run (a thread still starting work while the interpreter shut down
    printed "Exception in thread certv6-dns-warm").
    """

    JOIN_SECONDS = 10.0
    silent: ResolverUnreachable | None = None

    def __init__(self, dns: Dns, identifiers: Sequence[Identifier], *, start: bool = True) -> None:
        self._dns = dns
        self._identifiers = identifiers
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._warm, name="certv6-dns-warm", daemon=True)
        if start:
            self._thread.start()

    def join(self) -> None:
        if self._thread.ident is not None:
            self._thread.join(self.JOIN_SECONDS)
        if self.silent is not None:
            raise self.silent

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.JOIN_SECONDS)

    def _warm(self) -> None:
        try:
            self._dns.prefetch(
                chains=[i.challenge_owner for i in self._identifiers],
                caa=[i.base for i in self._identifiers],
            )
            # What the bulk look-up answered needs no thread (dnsbulk.py).
            known = [self._dns.knows_caa(i.base) for i in self._identifiers]
            left = [i for i, ready in zip(self._identifiers, known, strict=True) if not ready]
            for identifier, ready in zip(self._identifiers, known, strict=True):
                if ready:
                    self._caa(identifier)
            with ThreadPoolExecutor(max_workers=8, thread_name_prefix="certv6-dns-warm") as pool:
                for _ in pool.map(self._caa, left):
                    pass
                if not self._stop.is_set():
                    owners = [TxtRecord(i.challenge_owner, "") for i in self._identifiers]
                    effective_records(owners, self._dns)
        except Exception as error:
            log.debug("DNS warm-up stopped: %s: %s", type(error).__name__, error)

    def _caa(self, identifier: Identifier) -> None:
        if self._stop.is_set():
            return
        try:
            self._dns.relevant_caa(identifier.base)
        except ResolverUnreachable as error:
            self.silent = error
        except Exception as error:
            log.debug("DNS warm-up: CAA of %s: %s", identifier.base, error)


def _caa_permits(
    settings: Settings,
    dns: Dns,
    identifiers: Sequence[Identifier],
    acme: AcmeSession,
    store: Store,
) -> None:
    from certv6.service.doctor import require_caa_permits  # noqa: PLC0415 (LATER)

    require_caa_permits(settings, dns, identifiers, acme.caa_identities, store)


def _with_profile(acme: AcmeSession, request: IssueRequest, name: str) -> IssueRequest:
    """The profile asked for, as the CA offers it (or its default, when only preferred)."""
    if not request.profile:
        return request
    from certv6.acme_client import choose_profile  # noqa: PLC0415 (LATER)

    profile = choose_profile(acme.profiles, request.profile, request.profile_policy, what=name)
    return replace(request, profile=profile)


def _finalize(
    acme: AcmeSession,
    order: Order,
    identifiers: Sequence[Identifier],
    request: IssueRequest,
    settings: Settings,
    *,
    hold: Hold,
) -> tuple[keys.PrivateKey, str]:
    """A new key, its CSR, and the chain the CA issues for it."""
    from certv6 import keys  # noqa: PLC0415 (LATER)

    # A fleet lock is a lease: finalize only while it is still ours.
    hold.check("finalize")
    key = keys.generate_key(request.key_type or settings.key_type)
    csr = keys.make_csr(key, [identifier.name for identifier in identifiers])
    return key, acme.finalize(order, csr, ORDER_TIMEOUT, settings.preferred_chain)


def _new_order(
    acme: AcmeSession,
    settings: Settings,
    store: Store,
    identifiers: Sequence[Identifier],
    request: IssueRequest,
    *,
    clock: Clock,
) -> Order:
    names = [identifier.name for identifier in identifiers]
    try:
        return acme.new_order(names, profile=request.profile, replaces=request.replaces)
    except AccountError as error:
        if error.code != "accountDoesNotExist":
            raise
    # The CA forgot the account (a test CA restarted, or it was deactivated):
    # register the same key again and retry once.
    from certv6.service.account import register  # noqa: PLC0415 (LATER)

    log.info("account: the CA does not know the stored account; registering again")
    store.account(settings.server).forget_url()
    register(acme, settings, store, clock)
    return acme.new_order(names, profile=request.profile, replaces=request.replaces)


@contextlib.contextmanager
def _account_known(store: Store, settings: Settings) -> Iterator[None]:
    """The CA forgetting the account mid-order (it restarted): say so, and re-register next time."""
    try:
        yield
    except AccountError as error:
        if error.code != "accountDoesNotExist":
            raise
        store.account(settings.server).forget_url()
        raise AccountError(
            f"{error.message} (the CA forgot the account while this order was open)",
            code=error.code,
            hint="a CA that restarted or deactivated the account; run again: certv6 registers "
            "the same key again and orders anew",
        ) from error


@dataclass(frozen=True, slots=True)
class _Proof:
    """Publish every value, wait until every nameserver serves it, answer, always clean up.

    A dns-persist-01 challenge publishes nothing: it is only answered, with the
    rest, and never joins a shared propagation check (there is nothing to wait for).
    """

    acme: AcmeSession
    order: Order
    provider: Provider | None  # None: every challenge is dns-persist-01
    store: Store
    dns: Dns
    lineage: str
    steps: StepTimer
    sharing: Sharing
    backend: Backend
    hold: Hold

    def run(
        self,
        pending: Sequence[Answerable],
        wait: propagation.PropagationSettings,
        clock: Clock,
        progress: Progress | None,
    ) -> tuple[str, ...]:
        """Returns the propagation report's warnings (already logged)."""
        from certv6.acme_client import PendingChallenge  # noqa: PLC0415 (LATER)

        records = [c.record for c in pending if isinstance(c, PendingChallenge)]
        if not records or self.provider is None:
            # Nothing to publish (dns-persist-01): the DNS is not touched.
            with self.steps("validation"):
                self._validate(pending)
            return ()
        provider = self.provider
        with self.steps("publish"):
            written = effective_records(records, self.dns)
        with self.store.ledger.recording(provider.name, self.lineage, written) as entry:
            first_error: BaseException | None = None
            # A fleet's ledger too: if this host dies, whichever host runs next cleans up.
            shared = self.backend.publish(provider.name, self.lineage, tuple(written), self.hold)
            try:
                with self.steps("publish"):
                    provider.present(written)
                log.info("published %d TXT value(s) with %s", len(written), provider.name)
                with self.steps("propagation"):
                    report = self.sharing.wait_until_visible(
                        records, wait, dns=self.dns, clock=clock, progress=progress
                    )
                log.info("%s (%s)", report.outcome(), report.summary())
                for warning in report.warnings:
                    log.warning("%s", warning)
                with self.steps("validation"):
                    self._validate(pending)
            except BaseException as error:
                first_error = error
                raise
            finally:
                with self.steps("cleanup"):
                    removed = cleanup_published(
                        provider, written, self.store.ledger, entry, first_error
                    )
                if removed and self.backend.shared:
                    self.backend.unpublish(shared)
        return report.warnings

    def _validate(self, pending: Sequence[Answerable]) -> None:
        if pending:
            self.acme.answer(pending)
            self.acme.wait_ready(self.order, ORDER_TIMEOUT)
            log.info("the CA validated every name")


def _save(
    lineage: Lineage,
    commit: _Commit,
    *,
    identifiers: Sequence[Identifier],
    key: keys.PrivateKey,
    fullchain: str,
    order: Order,
    request: IssueRequest,
    provider: Provider | None,
    settings: Settings,
    now: datetime.datetime,
) -> IssueResult:
    from certv6 import keys  # noqa: PLC0415 (LATER)

    chain = keys.split_chain(fullchain.encode())
    if not chain:
        raise CertV6Error("the CA sent no certificate in its answer")
    info = keys.certificate_info(chain[0])
    domains = tuple(identifier.name for identifier in identifiers)
    meta = {
        "domains": list(domains),
        "not_before": info.not_before.isoformat(),
        "not_after": info.not_after.isoformat(),
        "serial": f"{info.serial:x}",
        "sha256": info.sha256,
        "order": order.url,
        "issued": now.isoformat(timespec="seconds"),
    }
    config = {
        "domains": list(domains),
        "key_type": request.key_type or settings.key_type,
        "provider": provider.name if provider is not None else None,
        "server": settings.server,
        "profile": request.profile,
        "challenge": list(request.challenges),
    }
    files = {
        "privkey.pem": keys.key_to_pem(key),
        "cert.pem": chain[0],
        "chain.pem": b"".join(chain[1:]),
        "fullchain.pem": b"".join(chain),
    }
    if commit.backend.shared:
        # One transaction, only if the head is still the one this run started from
        # and the lock still this run's lease (issue #16); then the local mirror.
        stored = StoredVersion(commit.version, files, meta, config)
        commit.backend.commit(lineage.name, stored, based_on=commit.based_on, hold=commit.hold)
        log.info("%s: version %s committed to the fleet", lineage.name, commit.version)
    # Write-ahead (issue #23): the store records the switch, and the install it
    # makes owed, before ``current`` moves.
    version = lineage.add_version(
        files,
        meta,
        config,
        now=now,
        deploy_hook=request.renewal,
        name=commit.version if commit.backend.shared else None,
    )
    return IssueResult(
        lineage.name,
        domains,
        version.directory,
        lineage.current_link,
        info.not_after,
        info.sha256,
        ca=settings.server,
    )


class StepTimer:
    """Wall time per step, for the summary and the benchmarks."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._start = time.perf_counter()

    @contextlib.contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - start
            self.timings[step] = self.timings.get(step, 0.0) + spent

    def total(self) -> float:
        return time.perf_counter() - self._start
