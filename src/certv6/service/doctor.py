"""Use case: ``certv6 doctor`` — find every IPv6 problem before the first order.

Reads the host, asks the resolvers, every CA's directory (each CA of a
``server = [...]`` list, labelled with its name), the provider and every
authoritative nameserver involved, and writes nothing (``--write-test`` writes
one canary TXT value per name and removes it). With an account at the CA it
orders the names once to see which challenges the CA offers, and deactivates
the authorizations at once (doctor_challenges.py); the standing dns-persist-01
records are judged on every nameserver. Also the CAA check that ``issue`` runs
after fetching the directory and before ordering.
"""

from __future__ import annotations

import contextlib
import logging
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, replace

from certv6 import httpnet, ifaddr, x509strict
from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.dns01 import owners_to_check
from certv6.dnsquery import Dns
from certv6.doctor import ca, host, names, network
from certv6.doctor.caa import CaaForbidden, CaaVerdict, evaluate
from certv6.doctor.report import DoctorReport, Finding, Status, fail, ok, warn
from certv6.errors import CertV6Error, ConfigError, ResolverUnreachable
from certv6.model import Identifier, parse_identifiers
from certv6.parallel import map_in_parallel
from certv6.propagation import nat64
from certv6.providers import Provider, ProviderSession, preflight
from certv6.service import doctor_challenges
from certv6.service.account import refuse_retired
from certv6.service.doctor_probes import NameProbes
from certv6.service.runtime import build_dns, build_provider, choose_provider
from certv6.settings import DNS_PERSIST01, Settings, challenge_list, challenges_for
from certv6.store import Store

log = logging.getLogger("certv6")

CAA_THREADS = 8


@dataclass(frozen=True, slots=True)
class DoctorRequest:
    domains: tuple[str, ...] = ()
    name: str | None = None  # a stored certificate: check its names and provider
    provider: str | None = None
    write_test: bool = False
    challenges: tuple[str, ...] = ()  # --challenge; else the certificate's or the setting


def doctor(
    settings: Settings, request: DoctorRequest, *, clock: Clock = SYSTEM_CLOCK
) -> DoctorReport:
    """Run every check and return the report; raises only for the user's own mistakes.

    Raises:
        ConfigError: a bad name, or ``--name`` of a certificate that does not exist.
    """
    identifiers, provider_name, kinds = _what_to_check(settings, request)
    store = Store(settings.state_dir)
    addresses = ifaddr.read_addresses()
    findings = [host.address_finding(addresses), host.route_finding(host.read_default_routes())]
    resolver_findings, prefixes = _resolvers(settings, clock)
    findings += resolver_findings
    cas = []
    for url in settings.ca_urls():
        label = _label(settings, url)
        proxy = network.proxy_finding(url, settings.allow_ipv4)
        ca_findings, identities = _ca(settings.at_ca(url), store, prefixes, clock)
        findings += [_labelled(finding, label) for finding in [proxy, *ca_findings]]
        cas.append((label, identities, _account_uri(store, url)))
    dns = _dns(settings, findings)
    notes = [] if identifiers else ["no names given: pass -d NAME (or --name CERT) to check them"]
    if dns is None or not identifiers:
        return DoctorReport.of(findings, notes)
    asked, found, unasked = doctor_challenges.ask_ca(settings, store, identifiers, clock)
    findings += asked
    notes += unasked
    provider = None
    if any(kind != DNS_PERSIST01 for kind in kinds) or provider_name:
        provider = _provider(settings, provider_name, dns, clock, findings, identifiers=identifiers)
    with contextlib.ExitStack() as stack:
        if provider is not None:
            stack.enter_context(contextlib.closing(ProviderSession(provider)))
        checks = NameProbes(
            settings=settings,
            dns=dns,
            store=store,
            clock=clock,
            addresses=addresses,
            provider=provider,
            write_test=request.write_test,
            labelled=doctor_challenges.labelled_owners(settings, store, kinds),
        )
        for identifier in identifiers:
            findings += _caa(identifier, dns, cas)
            findings += checks.run(identifier)
        findings += doctor_challenges.offered_findings(identifiers, kinds, found)
        findings += doctor_challenges.standing_findings(
            settings, identifiers, kinds, found, dns=dns, clock=clock
        )
    if not request.write_test and provider is not None:
        notes.append("add --write-test to prove the provider may write in each zone")
    return DoctorReport.of(findings, notes)


def require_caa_permits(
    settings: Settings,
    dns: Dns,
    identifiers: Sequence[Identifier],
    published: Sequence[str],
    store: Store,
) -> None:
    """Stop before ordering when a CAA record forbids this CA for a name (RFC 8659).

    ``published`` are the directory's ``caaIdentities``. A failed look-up or an
    unknown CA identity is only logged: the CA will decide. A resolver that does
    not answer at all is fatal: the challenge steps need it too.

    Raises:
        CaaForbidden: naming the name, the CAA record and the fix.
        ResolverUnreachable: no configured resolver answered.
    """
    identities = ca.caa_identities(settings.server, published, settings.caa_identities)
    account_uri = store.account(settings.server).read_url()

    def judge(identifier: Identifier) -> CaaVerdict | CertV6Error:
        try:
            lookup = dns.relevant_caa(identifier.base)
        except CertV6Error as error:
            return error
        return evaluate(
            lookup, wildcard=identifier.wildcard, identities=identities, account_uri=account_uri
        )

    verdicts = map_in_parallel(judge, identifiers, threads=CAA_THREADS)
    for identifier, verdict in zip(identifiers, verdicts, strict=True):
        if isinstance(verdict, ResolverUnreachable):
            # Nothing after this works without a resolver: stop before the order exists.
            raise verdict
        if isinstance(verdict, CertV6Error):
            log.warning("CAA of %s not checked: %s", identifier, verdict)
        elif verdict.permitted is None:
            log.warning("CAA of %s not checked: %s", identifier, verdict.reason)
        elif not verdict.permitted:
            raise CaaForbidden(f"CAA forbids {identifier}: {verdict.reason}", hint=verdict.fix)


def _caa(
    identifier: Identifier, dns: Dns, cas: Sequence[tuple[str, tuple[str, ...], str | None]]
) -> list[Finding]:
    """The name's CAA for each CA of the list: one CA it permits is enough to issue."""
    found = [
        _labelled(names.caa_finding(identifier, dns, identities, account_uri), label)
        for label, identities, account_uri in cas
    ]
    if len(found) > 1 and any(finding.status == Status.OK for finding in found):
        # Orders fall back to a CA the records permit (service/fallback.py).
        return [
            replace(
                finding,
                status=Status.WARN,
                message=f"{finding.message}; orders fall back to a CA of the list it permits",
            )
            if finding.status == Status.FAIL
            else finding
            for finding in found
        ]
    return found


def _label(settings: Settings, url: str) -> str:
    return f" ({settings.ca(url).name})" if len(settings.ca_urls()) > 1 else ""


def _labelled(finding: Finding, label: str) -> Finding:
    return replace(finding, check=finding.check + label) if label else finding


def _account_uri(store: Store, url: str) -> str | None:
    account = store.account(url)
    return None if account.problem() else account.read_url()


def _what_to_check(
    settings: Settings, request: DoctorRequest
) -> tuple[tuple[Identifier, ...], str | None, tuple[str, ...]]:
    domains, provider = request.domains, request.provider
    stored: tuple[str, ...] = ()
    if request.name:
        lineage = Store(settings.state_dir).lineages.get(request.name)
        if not lineage.exists():
            raise ConfigError(
                f"no certificate named {request.name!r}", hint="see 'certv6 list', or use -d NAME"
            )
        config = lineage.config()
        domains = (*domains, *config.get("domains", ()))
        provider = provider or config.get("provider")
        with contextlib.suppress(TypeError, ValueError):
            stored = challenge_list(config.get("challenge"))
    kinds = challenges_for(settings, request.name, request.challenges, stored=stored)
    return (parse_identifiers(domains) if domains else ()), provider, kinds


def _resolvers(settings: Settings, clock: Clock) -> tuple[list[Finding], tuple[str, ...]]:
    endpoints = network.resolver_endpoints(settings.resolvers, settings.allow_ipv4)
    checks = [
        network.probe_resolver(endpoint, clock, allow_ipv4=settings.allow_ipv4)
        for endpoint in endpoints
    ]
    ignored = network.ignored_resolvers(settings.resolvers, settings.allow_ipv4)
    found = network.resolver_findings(checks, ignored)
    answers = [address for check in checks for address in check.answers]
    discovered = tuple(str(prefix) for prefix in nat64.prefixes_from_answers(answers))
    found.append(network.nat64_finding(settings.nat64_prefix, discovered))
    configured = (settings.nat64_prefix,) if settings.nat64_prefix else ()
    return found, configured + discovered


def _ca(
    settings: Settings, store: Store, prefixes: Sequence[str], clock: Clock
) -> tuple[list[Finding], tuple[str, ...]]:
    url = settings.server
    probe = _directory(settings, clock)
    found = httpnet.host_addresses(urllib.parse.urlsplit(url).hostname or "")
    damaged = store.account(url).problem()
    account = ca.Account(
        url=None if damaged else store.account(url).read_url(),
        agree_tos=settings.agree_tos,
        eab_configured=bool(settings.eab_kid and settings.eab_hmac_key_file),
    )
    findings = ca.ca_findings(url, probe, found, prefixes, account)
    strictness = _strictness(settings, probe, clock)
    if strictness is not None:
        findings.insert(1, strictness)
    if damaged:
        # A truncated key would fail every order at this CA (issue #23): say so here.
        findings.append(fail("ca", "account", *damaged))
    else:
        findings += _account_state(settings, store)
    published = ca.published_identities(probe.body)
    identities = ca.caa_identities(url, published, settings.caa_identities)
    findings.append(ca.identities_finding(identities))
    return findings, identities


def _directory(
    settings: Settings, clock: Clock, x509_strict: bool | None = None
) -> httpnet.HttpProbe:
    return httpnet.probe_json(
        settings.server,
        ca_bundle=str(settings.ca_bundle) if settings.ca_bundle else None,
        allow_ipv4=settings.allow_ipv4,
        clock=clock,
        x509_strict=x509_strict,
    )


def _strictness(settings: Settings, probe: httpnet.HttpProbe, clock: Clock) -> Finding | None:
    # A second GET with the strict flag the other way, only to tell the user more: failed a
    # strict check -> is that all? (flag cleared); passed on a lenient Python -> will 3.13
    # refuse it? (flag set). Nothing else ever runs with the flag cleared.
    python_strict = x509strict.default_is_strict()
    compared = None
    if probe.strict is not None:
        compared = _directory(settings, clock, x509_strict=False)
    elif probe.body is not None and not python_strict:
        compared = _directory(settings, clock, x509_strict=True)
    return ca.strictness_finding(probe, compared, python_strict=python_strict)


def _account_state(settings: Settings, store: Store) -> list[Finding]:
    """A deactivated account, or one whose rollover or deactivation a killed run left."""
    files = store.account(settings.server)
    try:
        refuse_retired(settings, files.read_record())
    except CertV6Error as error:
        return [fail("ca", "account", error.message, error.hint)]
    if files.next_key_path.exists():
        return [
            warn(
                "ca",
                "account",
                f"a key rollover was interrupted ({files.next_key_path} is pending)",
                "the next certv6 run asks the CA which key it holds and keeps that one",
            )
        ]
    return []


def _dns(settings: Settings, findings: list[Finding]) -> Dns | None:
    try:
        return build_dns(settings)
    except CertV6Error:
        # Already reported by the resolver checks; names cannot be checked without one.
        findings.append(fail("host", "names", "names not checked: no usable resolver"))
        return None


def _provider(
    settings: Settings,
    wanted: str | None,
    dns: Dns,
    clock: Clock,
    findings: list[Finding],
    *,
    identifiers: Sequence[Identifier],
) -> Provider | None:
    try:
        provider = build_provider(settings, choose_provider(settings, wanted), dns, clock)
    except CertV6Error as error:
        findings.append(fail("provider", "setup", error.message, error.hint))
        return None
    try:
        owners = preflight(provider, lambda: owners_to_check(identifiers, dns))
    except CertV6Error as error:
        findings.append(fail("provider", "preflight", error.message, error.hint))
        ProviderSession(provider).close()
        return None
    scope = f" for {len(owners)} challenge owner(s)" if owners else ""
    findings.append(ok("provider", "preflight", f"{provider.name}: preflight passed{scope}"))
    return provider
