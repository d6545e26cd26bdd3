"""The one place that asks a recursive resolver anything. IPv6 by construction.

Providers and the propagation checker need the same few facts before they can
act: where a ``_acme-challenge`` CNAME chain ends, which zone holds that name,
the zone's primary and its nameservers' addresses. ``certv6 doctor`` and the
pre-order check also need the CAA RRset that applies to a name (RFC 8659).
This module answers those through a resolver that certv6 builds itself (never
dnspython's default one, which reads /etc/resolv.conf on its own and may pick
an IPv4 server).
"""

from __future__ import annotations

import contextlib
import ipaddress
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CAA
import dns.resolver

from certv6 import dnsbulk
from certv6.errors import ConfigError, DnsError, ResolverUnreachable, ZoneNotFound
from certv6.model import parse_endpoint

MAX_CNAME_CHAIN = 16
RESOLV_CONF = Path("/etc/resolv.conf")
_LIBRARY_DEFAULT_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class DnsSettings:
    """How certv6 reaches a recursive resolver.

    ``resolvers`` are endpoints (``[addr]:port`` or bare addresses); empty means
    the IPv6 ``nameserver`` lines of /etc/resolv.conf.
    """

    resolvers: tuple[str, ...] = ()
    timeout: float = 3.0
    allow_ipv4: bool = False
    resolv_conf: Path = field(default=RESOLV_CONF)


@dataclass(frozen=True, slots=True)
class NameserverAddresses:
    """One NS name of a zone and the addresses it resolves to."""

    name: str
    aaaa: tuple[str, ...]
    a: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CaaRecord:
    """One CAA resource record (RFC 8659 section 4.1): flags, property tag and value."""

    flags: int
    tag: str
    value: str

    def __str__(self) -> str:
        return f'{self.flags} {self.tag} "{self.value}"'


@dataclass(frozen=True, slots=True)
class CaaLookup:
    """The CAA RRset relevant to a name (RFC 8659 section 3), and where it was found.

    ``owner`` is the name in the climb whose query returned the RRset (None: no
    name up to the root has one); ``alias_of`` is the CNAME target the RRset
    really lives at when ``owner`` is an alias; ``asked`` lists every name queried.
    """

    name: str
    owner: str | None
    alias_of: str | None
    records: tuple[CaaRecord, ...]
    asked: tuple[str, ...]


class Dns:
    """Recursive look-ups for certv6, through explicitly configured resolvers."""

    def __init__(self, settings: DnsSettings | None = None) -> None:
        self.settings = settings or DnsSettings()
        self._resolver = _build_resolver(self.settings)
        # One Dns lives for one run. The provider, the propagation checker and the
        # CAA check all ask where each _acme-challenge chain ends and which zone
        # holds it; an order of 100 names would ask each question three times, and
        # a renew run of 100 lineages asks for the same zone's nameservers and
        # primary 100 times (issue #19). Answers (never failures) are kept for the
        # run; callers may use threads.
        self._chains: dict[str, tuple[str, ...]] = {}
        self._zones: dict[str, str] = {}
        self._caa: dict[str, dns.resolver.Answer | None] = {}
        self._addresses: dict[tuple[str, str], tuple[str, ...]] = {}
        self._records: dict[tuple[str, str], dns.resolver.Answer] = {}
        self._targets: dict[str, str | None] = {}  # CNAME answers asked in bulk
        # Bulk questions in flight, each set once its answer is kept (or it got none).
        self._asking: dict[tuple[str, str], threading.Event] = {}
        self._bulk_answered = False
        self._memo_lock = threading.Lock()

    @property
    def resolver_endpoints(self) -> tuple[str, ...]:
        return tuple(str(ns) for ns in self._resolver.nameservers)

    @contextlib.contextmanager
    def as_library_default(self) -> Iterator[None]:
        """Make this resolver dnspython's default one while the block runs.

        For a library that asks dnspython's module-level resolver itself
        (dns-lexicon finds a zone with ``dns.resolver.zone_for_name``): it then
        asks certv6's IPv6 resolvers, not whatever /etc/resolv.conf lists. One
        block at a time; certv6's own look-ups never use the default resolver.
        """
        with _LIBRARY_DEFAULT_LOCK:
            saved = dns.resolver.default_resolver
            dns.resolver.default_resolver = self._resolver
            try:
                yield
            finally:
                dns.resolver.default_resolver = saved

    def prefetch(self, *, chains: Iterable[str] = (), caa: Iterable[str] = ()) -> None:
        """Ask the resolver everything an order's names need, at once: the CNAME at
        each of ``chains`` (and along the chains), and CAA at each of ``caa`` (and at
        the parents of those without any, level by level, as ``relevant_caa`` climbs).

        What comes back cleanly is kept as ``follow_cname``, ``find_zone`` and
        ``relevant_caa`` would keep it; the rest they ask one by one, as before
        (dnsbulk.py says why). A CAA answer that involves a CNAME is left to
        ``relevant_caa``: it is the one that chases aliases (RFC 8659 section 3).
        """
        asking = [(_absolute(name).lower(), "CNAME") for name in chains]
        asking += [(_absolute(name).lower(), "CAA") for name in caa]
        for _ in range(MAX_CNAME_CHAIN):  # each round one link or one level further
            if not asking:
                return
            asking = self._ask_all(asking)

    def prefetch_chains(self, names: Iterable[str]) -> None:
        self.prefetch(chains=names)

    def knows_caa(self, name: str) -> bool:
        """Whether ``relevant_caa(name)`` need not ask anything."""
        level = dns.name.from_text(_absolute(name))
        with self._memo_lock:
            while level != dns.name.root:
                key = level.to_text().lower()
                if key not in self._caa:
                    return False
                if self._caa[key] is not None:
                    return True
                level = level.parent()
        return True

    def _keep_cname(self, name: str, wire: bytes) -> str | None:
        """Keep a CNAME answer; the target, to be asked next."""
        try:
            response = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None  # the one-by-one look-up says what is wrong with it
        target = _cname_in(response, name)
        with self._memo_lock:
            self._targets[name] = target
        if target is None:
            self._note_zone(name, response)
        return target

    def _keep_caa(self, name: str, wire: bytes) -> str | None:
        """Keep a CAA answer; the parent, to be asked next, when there was none."""
        qname = dns.name.from_text(name)
        answer: dns.resolver.Answer | None = None
        if dnsbulk.answer_count(wire):  # an empty answer needs no parsing: no CAA here
            try:
                response = dns.message.from_wire(wire)
            except dns.exception.DNSException:
                return None
            if not isinstance(response, dns.message.QueryMessage) or not response.get_rrset(
                response.answer, qname, dns.rdataclass.IN, dns.rdatatype.CAA
            ):
                # A CNAME, or something odd: relevant_caa decides, the one that chases
                # aliases (RFC 8659 section 3).
                return None
            answer = dns.resolver.Answer(qname, dns.rdatatype.CAA, dns.rdataclass.IN, response)
        with self._memo_lock:
            self._caa[name] = answer
        parent = qname.parent()
        return parent.to_text().lower() if answer is None and parent != dns.name.root else None

    def _ask_all(self, questions: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Ask the questions nobody has an answer to or is asking yet, all at once,
        and keep each clean answer as it comes; then wait for the questions another
        thread was asking (each until its own answer is kept, not the whole batch).
        Returns the questions to ask next (the next link, the next level).

        Bulk questions go to the first resolver only; the one-by-one look-ups that
        follow for whatever is still missing use them all.
        """
        first = self._resolver.nameservers[0]
        if not isinstance(first, dns.nameserver.Do53Nameserver):
            return []
        with self._memo_lock:
            mine: list[tuple[str, str]] = []
            theirs: list[threading.Event] = []
            for question in dict.fromkeys(questions):
                other = self._asking.get(question)
                if other is not None:
                    theirs.append(other)
                elif not self._known(*question):
                    mine.append(question)
                    self._asking[question] = threading.Event()
        following: list[tuple[str, str]] = []

        def settle(question: tuple[str, str], wire: bytes | None) -> None:
            try:
                if wire is not None:
                    self._bulk_answered = True
                    keep = self._keep_cname if question[1] == "CNAME" else self._keep_caa
                    after = keep(question[0], wire)
                    if after is not None:
                        following.append((after, question[1]))
            finally:
                with self._memo_lock:
                    self._asking.pop(question).set()

        try:
            # One question alone (an order of one name) is asked the ordinary way: a
            # resolver that does not answer then costs one wait, not two. Once the bulk
            # look-up had answers, the next link or level goes the same way, alone or not.
            if len(mine) > 1 or (mine and self._bulk_answered):
                dnsbulk.ask_all(
                    first.address,
                    first.port,
                    mine,
                    seconds=min(self.settings.timeout, dnsbulk.BATCH_SECONDS),
                    on_answer=settle,
                )
        finally:
            with self._memo_lock:
                unsettled = [q for q in mine if q in self._asking]
            for question in unsettled:
                settle(question, None)
        for other in theirs:
            other.wait(dnsbulk.BATCH_SECONDS)
        return following

    def _known(self, name: str, rdtype: str) -> bool:
        # Under the memo lock.
        if rdtype == "CNAME":
            return name in self._targets or name in self._chains
        return name in self._caa

    def knows_chain(self, name: str) -> bool:
        """Whether ``follow_cname`` and the ``find_zone`` of its end need not ask
        anything for ``name``: then a thread for it costs more than the work."""
        key = _absolute(name).lower()
        with self._memo_lock:
            chain = self._chains.get(key)
            if chain is None:
                chain = self._known_chain(key)
            return chain is not None and _absolute(chain[-1]).lower() in self._zones

    def _known_chain(self, key: str) -> tuple[str, ...] | None:
        # Under the memo lock: the chain from what prefetch found, if complete.
        chain = [key]
        while key in self._targets and len(chain) <= MAX_CNAME_CHAIN:
            target = self._targets[key]
            if target is None:
                return tuple(chain)
            if target in chain:
                return None  # a loop: follow_cname says so
            chain.append(target)
            key = target
        return None

    def follow_cname(self, name: str) -> tuple[str, ...]:
        """Return the CNAME chain starting at ``name``; the last entry is where it ends.

        A name without a CNAME (or one that does not exist yet, the usual case for
        ``_acme-challenge``) is its own one-element chain.

        Raises:
            DnsError: the chain loops or is longer than 16 links.
        """
        key = _absolute(name).lower()
        with self._memo_lock:
            known = self._chains.get(key)
        if known is None:
            known = self._follow(name)
            with self._memo_lock:
                self._chains[key] = known
        return known

    def _follow(self, name: str) -> tuple[str, ...]:
        chain = [_absolute(name)]
        while True:
            target = self._cname_target(chain[-1])
            if target is None:
                return tuple(chain)
            if target in chain:
                raise DnsError(
                    f"CNAME loop: {' -> '.join([*chain, target])}",
                    qname=name,
                    hint="fix the CNAME records so the chain ends in a name with TXT records",
                )
            chain.append(target)
            if len(chain) > MAX_CNAME_CHAIN:
                raise DnsError(f"CNAME chain from {name} longer than {MAX_CNAME_CHAIN}", qname=name)

    def find_zone(self, name: str) -> str:
        """The apex of the zone that holds ``name`` (SOA walk), absolute.

        Raises:
            ZoneNotFound: no SOA found, or the resolver gave up.
        """
        key = _absolute(name).lower()
        with self._memo_lock:
            known = self._zones.get(key)
        if known is not None:
            return known
        try:
            zone = dns.resolver.zone_for_name(
                _absolute(name), resolver=self._resolver, lifetime=self.settings.timeout * 2
            )
        except dns.exception.DNSException as error:
            self._raise_if_no_resolver(f"zone look-up of {name}", name, error)
            raise ZoneNotFound(f"cannot find the zone of {name}: {error}", qname=name) from error
        with self._memo_lock:
            self._zones[key] = zone.to_text()
        return zone.to_text()

    def primary(self, zone: str) -> tuple[str, tuple[str, ...]]:
        """The zone's primary (SOA MNAME) and its IPv6 addresses."""
        soa = self._resolve(zone, "SOA")
        mname = soa[0].mname.to_text()
        return mname, self.addresses(mname, "AAAA")

    def nameservers(self, zone: str) -> tuple[NameserverAddresses, ...]:
        """Every NS name of ``zone`` with its AAAA and A addresses."""
        names = sorted({rdata.target.to_text() for rdata in self._resolve(zone, "NS")})
        return tuple(
            NameserverAddresses(ns, self.addresses(ns, "AAAA"), self.addresses(ns, "A"))
            for ns in names
        )

    def addresses(self, host: str, rdtype: str) -> tuple[str, ...]:
        """AAAA or A addresses of ``host``; empty when it has none."""
        key = (_absolute(host).lower(), rdtype)
        with self._memo_lock:
            known = self._addresses.get(key)
        if known is not None:
            return known
        try:
            answer = self._resolver.resolve(_absolute(host), rdtype)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            found: tuple[str, ...] = ()
        except dns.exception.DNSException as error:
            self._raise_if_no_resolver(f"{rdtype} look-up of {host}", host, error)
            raise DnsError(f"cannot resolve {rdtype} of {host}: {error}", qname=host) from error
        else:
            found = tuple(sorted(rdata.address for rdata in answer))
        with self._memo_lock:
            self._addresses[key] = found
        return found

    def relevant_caa(self, name: str) -> CaaLookup:
        """The CAA RRset a CA applies to ``name`` (RFC 8659 section 3).

        Ask CAA at ``name``, then at each parent, up to but not including the
        root; the first non-empty answer is the relevant RRset. Each query chases
        CNAMEs like any look-up (RFC 1034 4.3.2), so an alias's RRset is its
        target's, and climbing continues from the alias's parent, not the target's.
        For ``*.example.org`` pass ``example.org``.

        Raises:
            DnsError: a query failed (SERVFAIL, timeout): a CA treats that as a refusal.
        """
        asked: list[str] = []
        level = dns.name.from_text(_absolute(name))
        while level != dns.name.root:
            asked.append(level.to_text())
            answer = self._caa_at(level.to_text())
            if answer is not None and answer.rrset is not None:
                records = tuple(
                    _caa_record(rdata)
                    for rdata in answer.rrset
                    if isinstance(rdata, dns.rdtypes.ANY.CAA.CAA)
                )
                target = answer.canonical_name
                alias = target.to_text().lower() if target != level else None
                owner = level.to_text().lower()
                return CaaLookup(_absolute(name), owner, alias, records, tuple(asked))
            level = level.parent()
        return CaaLookup(_absolute(name), None, None, (), tuple(asked))

    def _caa_at(self, name: str) -> dns.resolver.Answer | None:
        # Names of one order share their parents: ask each level once per run.
        key = name.lower()
        with self._memo_lock:
            if key in self._caa:
                return self._caa[key]
        try:
            answer: dns.resolver.Answer | None = self._resolver.resolve(name, "CAA")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            answer = None
        except dns.exception.DNSException as error:
            self._raise_if_no_resolver(f"CAA look-up of {name}", name, error)
            raise DnsError(
                f"CAA look-up of {name} failed: {error}",
                qname=name,
                hint="a CA refuses to issue when CAA cannot be looked up; fix the zone's servers",
            ) from error
        with self._memo_lock:
            self._caa[key] = answer
        return answer

    def _cname_target(self, name: str) -> str | None:
        with self._memo_lock:
            if name.lower() in self._targets:
                return self._targets[name.lower()]
        try:
            answer = self._resolver.resolve(name, "CNAME")
        except dns.resolver.NXDOMAIN as missing:
            responses = missing.responses()  # type: ignore[no-untyped-call]  # unannotated upstream
            self._note_zone(name, responses.get(dns.name.from_text(name)))
            return None
        except dns.resolver.NoAnswer as empty:
            self._note_zone(name, empty.response())  # type: ignore[no-untyped-call]
            return None
        except dns.exception.DNSException as error:
            self._raise_if_no_resolver(f"CNAME look-up of {name}", name, error)
            raise DnsError(f"cannot look up CNAME of {name}: {error}", qname=name) from error
        return str(answer[0].target.to_text()).lower()

    def _note_zone(self, name: str, response: dns.message.Message | None) -> None:
        """Keep the zone a negative answer names (RFC 2308 section 3: its SOA).

        The end of a ``_acme-challenge`` chain usually does not exist yet, and the
        NXDOMAIN for its CNAME query already says which zone it would be in: that
        saves the SOA walk ``find_zone`` would do next, one query per name.
        """
        if response is None:
            return
        for rrset in response.authority:
            if rrset.rdtype == dns.rdatatype.SOA and dns.name.from_text(name).is_subdomain(
                rrset.name
            ):
                with self._memo_lock:
                    self._zones.setdefault(_absolute(name).lower(), rrset.name.to_text())
                return

    def _resolve(self, name: str, rdtype: str) -> dns.resolver.Answer:
        """A zone's SOA or NS RRset, kept for the run once it was found."""
        key = (_absolute(name).lower(), rdtype)
        with self._memo_lock:
            known = self._records.get(key)
        if known is not None:
            return known
        try:
            answer = self._resolver.resolve(_absolute(name), rdtype)
        except dns.exception.DNSException as error:
            self._raise_if_no_resolver(f"{rdtype} look-up of {name}", name, error)
            raise DnsError(f"cannot resolve {rdtype} of {name}: {error}", qname=name) from error
        with self._memo_lock:
            self._records[key] = answer
        return answer

    def _raise_if_no_resolver(self, what: str, name: str, error: Exception) -> None:
        """A look-up that timed out at every resolver: say so, with where they come from.

        dnspython's text ("Server ... answered The DNS operation timed out") reads as
        if something had answered; nothing did (issue 18).
        """
        if not isinstance(error, dns.resolver.LifetimeTimeout):
            return
        where = (
            "resolvers in the config" if self.settings.resolvers else str(self.settings.resolv_conf)
        )
        resolvers = ", ".join(
            f"[{ns.address}]:{ns.port}"
            if isinstance(ns, dns.nameserver.Do53Nameserver)
            else str(ns)
            for ns in self._resolver.nameservers
        )
        raise ResolverUnreachable(
            f"{what}: no answer from the resolver {resolvers} ({where}) "
            f"within {self._resolver.lifetime:g} s",
            qname=name,
            nameserver=resolvers,
        ) from error


def _cname_in(response: dns.message.Message, name: str) -> str | None:
    """The target of the CNAME at ``name`` in a response to a CNAME question."""
    rrset = response.get_rrset(
        response.answer, dns.name.from_text(name), dns.rdataclass.IN, dns.rdatatype.CNAME
    )
    if rrset is None:
        return None
    return str(rrset[0].target.to_text()).lower()


def _caa_record(rdata: dns.rdtypes.ANY.CAA.CAA) -> CaaRecord:
    # Tags are case-insensitive (RFC 8659 4.1); values are kept as sent.
    tag = rdata.tag.decode("ascii", "replace").lower()
    return CaaRecord(rdata.flags, tag, rdata.value.decode("utf-8", "replace"))


def nameservers_from_resolv_conf(path: Path, allow_ipv4: bool = False) -> tuple[str, ...]:
    """The ``nameserver`` lines of a resolv.conf, IPv6 ones only unless IPv4 is allowed."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return ()
    found = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            # Keep a link-local resolver's %scope: without it the address is unusable.
            address = parts[1]
            if _usable(address, allow_ipv4):
                found.append(address)
    return tuple(found)


def _usable(address: str, allow_ipv4: bool) -> bool:
    try:
        version = ipaddress.ip_address(address).version
    except ValueError:
        return False
    return version == 6 or allow_ipv4


def _build_resolver(settings: DnsSettings) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = list(_nameservers(settings))
    resolver.timeout = settings.timeout
    resolver.lifetime = settings.timeout * 2
    resolver.use_edns(0, 0, 1232)
    return resolver


def _nameservers(settings: DnsSettings) -> Iterable[dns.nameserver.Nameserver]:
    if settings.resolvers:
        endpoints = [parse_endpoint(text, 53) for text in settings.resolvers]
        for endpoint in endpoints:
            if not endpoint.is_ip or not _usable(endpoint.host, settings.allow_ipv4):
                raise ConfigError(
                    f"resolver {endpoint} is not an IPv6 address",
                    hint="list resolvers as '[2001:db8::53]:53'",
                )
        return [dns.nameserver.Do53Nameserver(e.host, e.port) for e in endpoints]
    found = nameservers_from_resolv_conf(settings.resolv_conf, settings.allow_ipv4)
    if not found:
        raise ConfigError(
            f"no IPv6 nameserver in {settings.resolv_conf}",
            hint="set resolvers = ['[2001:db8::53]:53'] in the config, or fix resolv.conf",
        )
    return [dns.nameserver.Do53Nameserver(address) for address in found]


def _absolute(name: str) -> str:
    return name if name.endswith(".") else name + "."
