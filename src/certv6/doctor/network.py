"""The host's way out: resolvers over IPv6, NAT64 (RFC 7050), and the HTTPS proxy in use."""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from certv6 import httpnet
from certv6.clock import Clock
from certv6.dnsquery import RESOLV_CONF, Dns, DnsSettings, nameservers_from_resolv_conf
from certv6.doctor.report import Finding, fail, ok, warn
from certv6.errors import CertV6Error

IPV4ONLY = "ipv4only.arpa."  # RFC 7050 section 2.2


@dataclass(frozen=True, slots=True)
class ResolverCheck:
    """One resolver asked ``AAAA ipv4only.arpa``: did it answer, and with what."""

    endpoint: str
    answers: tuple[str, ...]  # AAAA records: DNS64 synthesis when there is a NAT64
    error: str
    rtt: float | None


def resolver_endpoints(resolvers: Sequence[str], allow_ipv4: bool) -> tuple[str, ...]:
    """What certv6's DNS look-ups use: ``resolvers`` or the IPv6 lines of resolv.conf."""
    return tuple(resolvers) or nameservers_from_resolv_conf(RESOLV_CONF, allow_ipv4)


def ignored_resolvers(resolvers: Sequence[str], allow_ipv4: bool) -> tuple[str, ...]:
    """IPv4 ``nameserver`` lines that certv6 skips (only when ``resolvers`` is not set)."""
    if resolvers or allow_ipv4:
        return ()
    every = nameservers_from_resolv_conf(RESOLV_CONF, allow_ipv4=True)
    return tuple(a for a in every if ipaddress.ip_address(a.partition("%")[0]).version == 4)


def probe_resolver(
    endpoint: str, clock: Clock, *, allow_ipv4: bool = False, timeout: float = 2.0
) -> ResolverCheck:
    """Ask one resolver directly; any answer (even "no such record") proves it works."""
    started = clock.monotonic()
    settings = DnsSettings(resolvers=(endpoint,), timeout=timeout, allow_ipv4=allow_ipv4)
    try:
        answers = Dns(settings).addresses(IPV4ONLY, "AAAA")
    except CertV6Error as error:
        return ResolverCheck(endpoint, (), error.message, None)
    return ResolverCheck(endpoint, answers, "", clock.monotonic() - started)


def resolver_findings(checks: Sequence[ResolverCheck], ignored: Sequence[str]) -> list[Finding]:
    found = []
    if not checks:
        found.append(
            fail(
                "host",
                "resolvers",
                f"no IPv6 resolver: neither resolvers = [...] nor {RESOLV_CONF} lists one",
                "set resolvers = ['[2001:db8::53]:53'] in the config, or fix resolv.conf",
            )
        )
    for check in checks:
        if check.error:
            found.append(
                fail(
                    "host",
                    "resolver",
                    f"{check.endpoint} does not answer: {check.error}",
                    "check the resolver's address and that it accepts queries from this host",
                )
            )
        else:
            rtt = f" in {check.rtt * 1000:.0f} ms" if check.rtt is not None else ""
            found.append(ok("host", "resolver", f"{check.endpoint} answers{rtt}"))
    if ignored:
        found.append(
            warn(
                "host",
                "resolvers",
                f"IPv4 resolver(s) in {RESOLV_CONF} not used: {', '.join(ignored)}",
                "an IPv6-only host cannot reach them; list IPv6 resolvers",
            )
        )
    return found


def nat64_finding(configured: str | None, discovered: Sequence[str]) -> Finding:
    found = ", ".join(discovered)
    if configured and discovered and configured not in discovered:
        return warn(
            "host",
            "nat64",
            f"nat64_prefix is {configured}, but the resolver's DNS64 uses {found}",
            "set nat64_prefix to the prefix the network really uses, or remove it",
        )
    if configured:
        return ok("host", "nat64", f"NAT64 prefix {configured} (configured)")
    if discovered:
        return ok("host", "nat64", f"NAT64 prefix {found} (DNS64, found via RFC 7050)")
    return ok(
        "host",
        "nat64",
        "no NAT64/DNS64 found: IPv4-only servers cannot be reached from here",
    )


def proxy_finding(url: str, allow_ipv4: bool) -> Finding:
    """Which proxy the CA's URL goes through, and whether this host can reach that proxy."""
    host = urllib.parse.urlsplit(url).hostname or url
    variables = httpnet.proxy_variables()
    proxy = httpnet.proxy_for(url)
    if proxy is None:
        if "https_proxy" in variables or "all_proxy" in variables:
            return ok("host", "proxy", f"none for {host}: NO_PROXY excludes it")
        if "http_proxy" in variables:
            return warn(
                "host",
                "proxy",
                f"HTTP_PROXY={variables['http_proxy']} is set, but certv6 only makes https "
                "requests, which use HTTPS_PROXY",
                "export HTTPS_PROXY as well, if the proxy is needed",
            )
        return ok("host", "proxy", "none: connections go straight to each server")
    return _judge_proxy(httpnet.redact(proxy), allow_ipv4)


def _judge_proxy(proxy: str, allow_ipv4: bool) -> Finding:
    parts = urllib.parse.urlsplit(proxy)
    if parts.scheme not in {"http", "https"}:
        return fail(
            "host",
            "proxy",
            f"proxy {proxy}: only HTTP CONNECT proxies are supported",
            "use an http:// or https:// proxy URL in HTTPS_PROXY",
        )
    found = httpnet.host_addresses(parts.hostname or "", parts.port or 8080)
    if found.ipv6 or (allow_ipv4 and found.ipv4):
        return ok("host", "proxy", f"{proxy} (CONNECT; {', '.join(found.ipv6 + found.ipv4)})")
    if found.ipv4:
        return fail(
            "host",
            "proxy",
            f"the proxy {proxy} has no IPv6 address (only {', '.join(found.ipv4)})",
            "use the proxy's IPv6 address, e.g. HTTPS_PROXY=http://[2001:db8::3128]:3128",
        )
    return fail(
        "host", "proxy", f"cannot resolve the proxy {proxy}: {found.error}", "fix HTTPS_PROXY"
    )
