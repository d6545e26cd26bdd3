"""The zone's own NS set, as its servers serve it now, not as a resolver cached it.

Discovery finds nameservers through the host's resolver, which may hold an NS RRset
from before a change for up to its TTL (often a day): a server added since is
missing, a removed one is still there, and the parent's delegation seems to differ
from the zone's. So before the first round, every server discovery found is asked
(RD=0) for the zone's SOA and apex NS RRset; only authoritative answers count, and
where servers disagree (a secondary still on an older copy) the set served with the
newest serial wins. Names it adds are looked up and join the plan; names it no
longer lists leave it. Without any authoritative answer the plan stays as it is.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from certv6.dnsquery import Dns, NameserverAddresses
from certv6.propagation.discover import servers_of
from certv6.propagation.plan import Nameserver, Plan, PropagationSettings, Server
from certv6.propagation.state import Answer, serial_lt
from certv6.propagation.wire import Transport, ask, ask_apex_ns

# Once one server has answered, how much longer the others get: a dead server must not
# cost a whole query_timeout before the first round.
LINGER = 0.25


async def refresh_nameservers(
    plan: Plan, settings: PropagationSettings, dns: Dns, transport: Transport
) -> tuple[Plan, dict[str, Answer]]:
    """``plan`` with each zone's NS set as the zone's own servers serve it, and the SOA
    answers got on the way (address -> answer), for the first round to use."""
    zones = plan.zones
    soa: dict[str, Answer] = {}
    served = await asyncio.gather(
        *(served_ns(zone, plan.askable, settings, transport, soa) for zone in zones)
    )
    changed = {
        zone: names
        for zone, names in zip(zones, served, strict=True)
        if names is not None and names != _listed(plan, zone)
    }
    if not changed:
        return plan, soa
    return await asyncio.to_thread(_replan, plan, changed, dns), soa


async def served_ns(
    zone: str,
    servers: Sequence[Server],
    settings: PropagationSettings,
    transport: Transport,
    soa: dict[str, Answer],
) -> frozenset[str] | None:
    """The apex NS names the servers of ``zone`` serve with the newest serial.

    Every SOA answer that came back is put in ``soa`` (address -> answer).
    """
    timeout = settings.query_timeout
    jobs = [
        asyncio.ensure_future(_apex(transport, server.address, zone, timeout, soa))
        for server in servers
        if server.zone == zone
    ]
    answers: list[tuple[int, frozenset[str]]] = []
    pending = set(jobs)
    wait_for = timeout
    while pending:
        done, pending = await asyncio.wait(
            pending, timeout=wait_for, return_when=asyncio.FIRST_COMPLETED
        )
        if not done:
            break
        answers += [found for job in done if (found := job.result()) is not None]
        if answers:
            wait_for = LINGER
    for job in pending:
        job.cancel()
    if not answers:
        return None
    newest = answers[0][0]
    for serial, _ in answers:
        if serial_lt(newest, serial):
            newest = serial
    return frozenset(name for serial, names in answers if serial == newest for name in names)


async def _apex(
    transport: Transport, address: str, zone: str, timeout: float, seen: dict[str, Answer]
) -> tuple[int, frozenset[str]] | None:
    soa, names = await asyncio.gather(
        ask(transport, address, zone, "SOA", timeout),
        ask_apex_ns(transport, address, zone, timeout),
    )
    if soa.responded:
        seen[address] = soa
    if soa.problem or soa.serial is None or names is None:
        return None
    return soa.serial, names


def _listed(plan: Plan, zone: str) -> frozenset[str]:
    return frozenset(ns.name for ns in plan.nameservers if ns.zone == zone)


def _replan(plan: Plan, changed: dict[str, frozenset[str]], dns: Dns) -> Plan:
    """Rebuild the servers, nameservers and delegations of the zones in ``changed``."""
    nameservers = [ns for ns in plan.nameservers if ns.zone not in changed]
    servers = [server for server in plan.servers if server.zone not in changed]
    warnings = list(plan.warnings)
    delegations = list(plan.delegations)
    for zone, names in changed.items():
        known = {ns.name: ns for ns in plan.nameservers if ns.zone == zone}
        listed = [_addresses(dns, known.get(name), name) for name in sorted(names)]
        nameservers += [Nameserver(zone, ns.name, ns.aaaa, ns.a) for ns in listed]
        servers += servers_of(zone, listed, plan.nat64_prefix)
        warnings.append(
            f"the resolver's copy of the NS set of {zone} is out of date "
            f"({', '.join(sorted(known))}); the zone's servers list {', '.join(sorted(names))}"
        )
        delegations = [
            dataclasses.replace(d, child_nameservers=tuple(sorted(names))) if d.zone == zone else d
            for d in delegations
        ]
    order = {zone: index for index, zone in enumerate(dict.fromkeys(s.zone for s in plan.servers))}
    return dataclasses.replace(
        plan,
        servers=tuple(sorted(servers, key=lambda server: order.get(server.zone, len(order)))),
        nameservers=tuple(nameservers),
        delegations=tuple(delegations),
        warnings=tuple(warnings),
    )


def _addresses(dns: Dns, known: Nameserver | None, name: str) -> NameserverAddresses:
    if known is not None:
        return NameserverAddresses(known.name, known.aaaa, known.a)
    return NameserverAddresses(name, dns.addresses(name, "AAAA"), dns.addresses(name, "A"))
