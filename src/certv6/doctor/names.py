"""Per name: CAA, where the challenge record goes, who serves it, and where the name points."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from certv6.dnsquery import Dns
from certv6.doctor.caa import evaluate
from certv6.doctor.host import HostAddress
from certv6.doctor.report import Finding, fail, ok, warn
from certv6.errors import CertV6Error
from certv6.model import Identifier


def caa_finding(
    identifier: Identifier, dns: Dns, identities: Sequence[str], account_uri: str | None
) -> Finding:
    name = identifier.name
    try:
        lookup = dns.relevant_caa(identifier.base)
    except CertV6Error as error:
        return fail(name, "caa", error.message, error.hint)
    verdict = evaluate(
        lookup, wildcard=identifier.wildcard, identities=identities, account_uri=account_uri
    )
    if verdict.permitted is None:
        return warn(name, "caa", verdict.reason, verdict.fix)
    if verdict.permitted:
        return ok(name, "caa", verdict.reason)
    return fail(name, "caa", verdict.reason, verdict.fix)


def challenge_finding(
    identifier: Identifier, dns: Dns, owner: str | None = None
) -> tuple[Finding, str | None]:
    """Where the TXT value will be written: the end of the CNAME chain, and its zone.

    ``owner``: another challenge owner (dns-account-01's labelled one).
    """
    name = identifier.name
    try:
        chain = dns.follow_cname(owner or identifier.challenge_owner)
        zone = dns.find_zone(chain[-1])
    except CertV6Error as error:
        return fail(name, "challenge", error.message, error.hint), None
    path = " -> ".join(chain)
    return ok(name, "challenge", f"{path}: written in zone {zone}"), zone


def address_finding(
    identifier: Identifier, dns: Dns, host: Sequence[HostAddress], fix: str
) -> Finding | None:
    """Does the name point at this host, at an address that will last?

    ``fix`` is the command that points it here (``certv6 aaaa -d NAME``, issue #21).
    """
    if identifier.wildcard:
        return None  # which names a wildcard covers is up to the clients
    name = identifier.name
    try:
        aaaa = dns.addresses(name, "AAAA")
        a_records = dns.addresses(name, "A")
    except CertV6Error as error:
        return warn(name, "aaaa", error.message, error.hint)
    if not aaaa:
        only_a = f" (only A {', '.join(a_records)})" if a_records else ""
        return warn(
            name,
            "aaaa",
            f"no AAAA record{only_a}: IPv6 clients cannot reach {name}",
            f"publish this host's stable address: {fix}",
        )
    mine = {address.address: address for address in host}
    return _judge_addresses(name, aaaa, mine, fix)


def _judge_addresses(
    name: str, aaaa: Sequence[str], mine: dict[str, HostAddress], fix: str
) -> Finding:
    matching = [mine[address] for address in aaaa if address in mine]
    if not matching:
        return warn(
            name,
            "aaaa",
            f"AAAA {', '.join(aaaa)} is not an address of this host",
            f"fine if the certificate is for another machine; to point it here: {fix}",
        )
    unstable = [a for a in matching if not a.stable]
    if unstable:
        return warn(
            name,
            "aaaa",
            f"AAAA points at {', '.join(a.describe() for a in unstable)}: it will change",
            f"point it at a stable (not temporary or deprecated) address: {fix}",
        )
    learned = [a for a in matching if a.learned]
    if learned:
        return ok(
            name,
            "aaaa",
            f"{', '.join(a.describe() for a in learned)}: this host's; the prefix comes from "
            f"the network, so update the AAAA record when it changes ({fix}; aaaa_names"
            " keeps it current from the timer)",
        )
    return ok(name, "aaaa", f"{', '.join(a.describe() for a in matching)}: this host's")


class ServerView(Protocol):
    """One authoritative address as the propagation checker reports it (ServerReport)."""

    @property
    def zone(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def ipv4(self) -> str: ...
    @property
    def reach(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def problem(self) -> str: ...
    @property
    def rtt(self) -> float | None: ...


def nameserver_findings(name: str, servers: Sequence[ServerView], strict: bool) -> list[Finding]:
    """Per address of the zone: can this host ask it, directly or through NAT64?"""
    return [_nameserver(name, server, strict) for server in servers]


def _nameserver(name: str, server: ServerView, strict: bool) -> Finding:
    label = f"{server.label} ({server.zone})"
    soft = fail if strict else warn
    if server.reach == "unverifiable":
        return soft(
            name,
            "nameserver",
            f"{label}: IPv4 only and no NAT64: certv6 cannot check it",
            "give the nameserver an AAAA record, or set nat64_prefix if there is a NAT64",
        )
    if server.status == "unreachable":
        return soft(
            name,
            "nameserver",
            f"{label}: no answer over IPv6",
            "check the nameserver's IPv6 address and reachability; the CA may ask it",
        )
    if server.problem:
        return fail(
            name,
            "nameserver",
            f"{label}: answers, but {server.problem}",
            "the zone's NS records must name servers that are authoritative for it",
        )
    via = " through NAT64" if server.reach == "nat64" else " over IPv6"
    rtt = f" in {server.rtt * 1000:.0f} ms" if server.rtt is not None else ""
    return ok(name, "nameserver", f"{label}: answers authoritatively{via}{rtt}")
