"""certv6 answers for a delegated challenge zone itself: no DNS API, no credentials.

    [provider.standalone]
    listen = "[2001:db8::10]:53"      # default [::]:53
    # zones = ["acme.example.net"]    # for CNAMEs into a zone delegated to this host
    # nameservers = ["host.example.net"]  # the NS names of that zone (default: the parent's)

The operator delegates ``_acme-challenge.<name>`` to this host once (an NS
record pointing at a name with this host's AAAA), or CNAMEs it into a zone that
is delegated here. During issuance certv6 then serves the TXT values on port 53
itself, authoritatively, until the run ends (``close``).

It listens where anyone may ask, so it is bounded (a fixed worker pool, capped
TCP connections, a per-source rate limit; dnslimits.py) and answers only its
zones, never more than was asked for (authority.py).

The server starts in ``preflight``, before the order: certv6 resolves the
challenge owners' CNAME chains right after, and a delegation to a silent
server would make those look-ups fail. Without ``nameservers`` the NS names at
the apex are copied from the parent zone's delegation, so the propagation
checker and the CA's resolver find exactly this host.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Sequence

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rdataclass
import dns.rdatatype

from certv6.errors import ConcurrentChange, ConfigError, DnsError, ProviderError
from certv6.model import Endpoint, ProviderHints, RRsetChange, TxtRecord, parse_endpoint
from certv6.providers import ProviderContext, RecordSupport
from certv6.providers.authority import ChallengeZones, respond
from certv6.providers.common import HINT_OPTIONS, hints_from, owners_of, ttl
from certv6.providers.dnsserver import DnsListener

log = logging.getLogger(__name__)

OPTIONS = ("listen", "zones", "nameservers", "ttl", *HINT_OPTIONS)
DEFAULT_LISTEN = "[::]:53"
_LOOKUP_TIMEOUT = 2.0
_BIND_HINTS = {
    errno.EACCES: "port 53 needs root or CAP_NET_BIND_SERVICE"
    " (systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE), or listen on a port above 1023"
    " behind a redirect",
    errno.EADDRINUSE: "another DNS server listens there; give certv6 its own address with"
    " listen = '[addr]:53'",
    errno.EADDRNOTAVAIL: "that address is not configured on this host",
}


class StandaloneProvider:
    name = "standalone"
    # AAAA records of a zone delegated to this host, served while `certv6 aaaa --watch` runs.
    record_support = RecordSupport(types=frozenset({"AAAA"}), while_running=True)
    keeps_records = False  # it answers only while certv6 runs (no standing dns-persist-01)

    def __init__(self, context: ProviderContext) -> None:
        context.check_options(OPTIONS)
        self._context = context
        # Our own server serves a value the moment present() returns.
        # Checked now: a bad propagation_timeout must not surface after the order.
        self._hints = hints_from(context, timeout=60.0, poll_interval=0.5)
        self._endpoint = parse_endpoint(str(context.option("listen", DEFAULT_LISTEN)), 53)
        if not self._endpoint.is_ip or ":" not in self._endpoint.host:
            raise ConfigError(
                f"standalone: listen {self._endpoint} is not an IPv6 address",
                hint="write it as '[2001:db8::10]:53' (or '[::]:53' for every address)",
            )
        self._fixed_ns = _names(context.option("nameservers", []), "nameservers")
        self._learned: dict[dns.name.Name, tuple[str, ...]] = {}
        self._lock = threading.Lock()
        self.zones = ChallengeZones(
            _names(context.option("zones", []), "zones"),
            self._nameservers_of,
            serial=int(context.clock.now().timestamp()),
            ttl=ttl(context, 0),
        )
        self._listener = DnsListener(
            self._endpoint,
            lambda wire, tcp: respond(wire, self.zones, tcp=tcp),
            clock=context.clock,
        )

    @property
    def endpoint(self) -> Endpoint:
        """Where it listens (``listen``, or [::]:53)."""
        return self._listener.endpoint

    def hints(self) -> ProviderHints:
        return self._hints

    def preflight(self) -> None:
        """Bind the port and start answering (see the module doc for why this early)."""
        self._start("preflight")

    def present(self, records: Sequence[TxtRecord]) -> None:
        for record in records:
            if self.zones.apex_of(dns.name.from_text(record.owner)) is None:
                raise ProviderError(
                    f"standalone present of {record}: certv6 serves only names below"
                    " _acme-challenge or inside a configured zone",
                    provider=self.name,
                    operation="present",
                    record=str(record),
                    hint="add the zone the CNAME points into: zones = ['acme.example.net']",
                )
        for record in records:
            self.zones.add(record.owner, record.value)
        self._start("present")
        log.info(
            "standalone: serving %d value(s) at %s on %s",
            len(records),
            owners_of(records),
            self.endpoint,
        )

    def cleanup(self, records: Sequence[TxtRecord]) -> None:
        for record in records:
            self.zones.remove(record.owner, record.value)

    def replace_rrsets(self, changes: Sequence[RRsetChange]) -> None:
        """Serve each change's resulting RRset; every name must be inside ``zones``."""
        for change in changes:
            if self.zones.configured_apex(dns.name.from_text(change.owner)) is None:
                raise ConfigError(
                    f"standalone: {change.owner} is outside every zone it serves"
                    f" (zones = {list(z.to_text() for z in self.zones.zones)})",
                    hint="delegate a zone to this host and list it: zones = ['home.example.org']",
                )
            served = self.zones.rrset_values(change.owner, change.rdtype)
            if served != change.current:
                raise ConcurrentChange(
                    f"standalone update of {change}: it serves {sorted(served) or 'nothing'}",
                    provider=self.name,
                    operation="update",
                    record=str(change),
                )
        for change in changes:
            self.zones.replace_rrset(change.owner, change.rdtype, change.ttl, change.result)
        self._start("update")
        log.info("standalone: serving %d changed RRset(s) on %s", len(changes), self.endpoint)

    def close(self) -> None:
        if self._listener.running:
            self._listener.stop()
            log.info("standalone: stopped answering on %s", self.endpoint)

    def _start(self, operation: str) -> None:
        if self._listener.running:
            return
        try:
            endpoint = self._listener.start()
        except OSError as error:
            raise ProviderError(
                f"standalone {operation}: cannot listen on {self._endpoint}: {error.strerror}",
                provider=self.name,
                operation=operation,
                hint=_BIND_HINTS.get(error.errno or 0, "check the listen option"),
            ) from error
        log.info("standalone: answering DNS on %s (UDP and TCP)", endpoint)

    def _nameservers_of(self, apex: dns.name.Name) -> tuple[str, ...]:
        if self._fixed_ns:
            return self._fixed_ns
        with self._lock:
            if apex in self._learned:
                return self._learned[apex]
        found = self._delegation(apex)
        if found:
            with self._lock:
                self._learned[apex] = found
        return found

    def _delegation(self, apex: dns.name.Name) -> tuple[str, ...]:
        """The NS names the parent zone delegates ``apex`` to (asked of its own servers)."""
        try:
            parent = self._context.dns.find_zone(apex.parent().to_text())
            servers = self._context.dns.nameservers(parent)
        except DnsError as error:
            log.warning("standalone: cannot find the delegation of %s: %s", apex, error)
            return ()
        query = dns.message.make_query(apex, "NS", use_edns=0, payload=1232, flags=0)
        for address in (a for ns in servers for a in ns.aaaa):
            try:
                response = dns.query.udp(query, address, timeout=_LOOKUP_TIMEOUT)
            except (OSError, dns.exception.DNSException):
                continue
            for section in (response.authority, response.answer):
                rrset = response.get_rrset(section, apex, dns.rdataclass.IN, dns.rdatatype.NS)
                if rrset is not None:
                    return tuple(sorted(rdata.target.to_text() for rdata in rrset))
        log.warning(
            "standalone: the servers of %s name no NS for %s; set nameservers = [...]", parent, apex
        )
        return ()


def _names(value: object, option: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"standalone: {option} must be a list of DNS names")
    try:
        return tuple(dns.name.from_text(v).to_text().lower() for v in value)
    except dns.exception.DNSException as error:
        raise ConfigError(f"standalone: {option}: {error}") from error
