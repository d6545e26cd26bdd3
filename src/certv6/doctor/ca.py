"""The CA: is its directory reachable from here (how), and what does it ask and offer?

One GET of the directory under certv6's own network rules (httpnet), no account
needed. Its ``meta`` (RFC 8555 7.1.1) says whether the CA has terms to agree to,
needs external account binding, and which CAA identities it answers to; a
``renewalInfo`` URL means ARI (RFC 9773), ``meta.profiles`` lists profiles.

The CA's TLS chain is also held to the strict RFC 5280 checks Python 3.13 makes by default
(issue #22): a home-made CA that works on 3.11 breaks on the upgrade, so doctor says so before.
"""

from __future__ import annotations

import ipaddress
import platform
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from certv6.doctor.caa import KNOWN_IDENTITIES
from certv6.doctor.report import Finding, fail, ok, warn
from certv6.httpnet import HostAddresses, HttpProbe
from certv6.x509strict import StrictFailure


@dataclass(frozen=True, slots=True)
class Account:
    """What this host already has with the CA (an account makes terms and EAB moot)."""

    url: str | None
    agree_tos: bool
    eab_configured: bool


def route(probe: HttpProbe, host: str, found: HostAddresses, nat64: Sequence[str]) -> str:
    """How the directory was reached: through a proxy, NAT64, or straight over IPv6/IPv4."""
    if probe.proxy:
        return f"through the proxy {probe.proxy}"
    if _is_ip(host):
        return f"over IPv{ipaddress.ip_address(host).version} to {host}"
    synthesized = [a for a in found.ipv6 if _inside(a, nat64)]
    if found.ipv6 and len(synthesized) == len(found.ipv6):
        return f"through NAT64 ({host} has IPv4 only; DNS64 gives {', '.join(synthesized)})"
    if found.ipv6:
        return f"over IPv6 ({', '.join(found.ipv6)})"
    return f"over IPv4 ({', '.join(found.ipv4)}), allowed by --allow-ipv4"


def ca_findings(
    url: str, probe: HttpProbe, found: HostAddresses, nat64: Sequence[str], account: Account
) -> list[Finding]:
    host = urllib.parse.urlsplit(url).hostname or url
    if probe.body is None:
        # A strict-check failure gets its fix on the "x509 strict" line (strictness_finding).
        fix = "fix the CA's certificate (x509 strict, below)" if probe.strict else probe.hint
        return [fail("ca", "directory", probe.problem, fix or "check server = ...")]
    meta = probe.body.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    return [
        ok(
            "ca",
            "directory",
            f"{url} reached {route(probe, host, found, nat64)} in {probe.elapsed * 1000:.0f} ms",
        ),
        _terms(meta, account),
        _eab(meta, account),
        _ari(probe.body),
        _profiles(meta),
    ]


def strictness_finding(
    probe: HttpProbe, compared: HttpProbe | None, *, python_strict: bool
) -> Finding | None:
    """ca / x509 strict, from the directory probe and ``compared``, the same GET with the
    strict flag the other way: cleared when ``probe`` failed a strict check (is that the only
    problem?), set when this Python does not check strictly by default (will 3.13 refuse it?).
    """
    if probe.strict is not None:
        return _refused(probe.strict, compared)
    if probe.body is None:
        return None  # failed for another reason: the directory finding says which
    if compared is None:
        what = "this Python's default" if python_strict else "not checked"
        return ok("ca", "x509 strict", f"the CA's TLS chain meets RFC 5280 ({what})")
    return _accepted_here(compared)


def _refused(strict: StrictFailure, compared: HttpProbe | None) -> Finding:
    reason = f"the strict RFC 5280 checks ({strict.reason})"
    if compared is not None and compared.body is not None:
        message = f"only {reason} refuse the CA's TLS chain: it verifies without them"
        return fail("ca", "x509 strict", message + ", but certv6 keeps them on", strict.rule.fix)
    rest = compared.problem if compared is not None else "not checked"
    message = f"the CA's TLS chain fails {reason}; without them: {rest}"
    return fail("ca", "x509 strict", message, strict.rule.fix)


def _accepted_here(strict_probe: HttpProbe) -> Finding:
    """The chain passed with this Python's default; ``strict_probe`` forced the strict flag."""
    strict = strict_probe.strict
    if strict is not None:
        return warn(
            "ca",
            "x509 strict",
            f"the CA's TLS chain breaks RFC 5280 {strict.rule.section} ({strict.reason}):"
            f" Python {platform.python_version()} accepts it, Python 3.13 and later refuse it",
            strict.hint,
        )
    if strict_probe.body is None:
        return warn("ca", "x509 strict", f"not checked: {strict_probe.problem}", strict_probe.hint)
    return ok("ca", "x509 strict", "the CA's TLS chain meets RFC 5280 as Python 3.13 checks it")


def published_identities(body: Mapping[str, Any] | None) -> tuple[str, ...]:
    """``meta.caaIdentities`` of a directory document (RFC 8555 7.1.1), if any."""
    meta = (body or {}).get("meta")
    published = meta.get("caaIdentities") if isinstance(meta, dict) else None
    return tuple(map(str, published)) if isinstance(published, list) else ()


def caa_identities(
    url: str, published: Sequence[str], configured: Sequence[str]
) -> tuple[str, ...]:
    """The CA's CAA names: configured and published; else the ones known for its host."""
    names = [*configured, *published]
    if not names:
        names = list(KNOWN_IDENTITIES.get(urllib.parse.urlsplit(url).hostname or "", ()))
    return tuple(dict.fromkeys(name.lower().rstrip(".") for name in names))


def identities_finding(identities: Sequence[str]) -> Finding:
    if identities:
        return ok("ca", "caa identities", ", ".join(identities))
    return warn(
        "ca",
        "caa identities",
        "the CA publishes no CAA identities (meta.caaIdentities)",
        "set caa_identities = [...] so certv6 can check CAA records before ordering",
    )


def _terms(meta: Mapping[str, Any], account: Account) -> Finding:
    terms = meta.get("termsOfService")
    if not terms:
        return ok("ca", "terms", "no terms of service to agree to")
    if account.agree_tos or account.url:
        return ok("ca", "terms", f"{terms} (agreed)")
    return warn(
        "ca",
        "terms",
        f"the CA's terms of service must be agreed to: {terms}",
        "read them, then set agree_tos = true or pass --agree-tos",
    )


def _eab(meta: Mapping[str, Any], account: Account) -> Finding:
    if not meta.get("externalAccountRequired"):
        return ok("ca", "eab", "external account binding not required")
    if account.eab_configured or account.url:
        return ok("ca", "eab", "external account binding required and configured")
    return fail(
        "ca",
        "eab",
        "the CA requires external account binding (EAB) and none is configured",
        "set eab_kid and eab_hmac_key_file from your CA's account page",
    )


def _ari(body: Mapping[str, Any]) -> Finding:
    if body.get("renewalInfo"):
        return ok("ca", "ari", "renewal information (ARI, RFC 9773) offered")
    return ok("ca", "ari", "no ARI: renewal times come from the certificate's lifetime")


def _profiles(meta: Mapping[str, Any]) -> Finding:
    profiles = meta.get("profiles")
    if isinstance(profiles, dict) and profiles:
        return ok("ca", "profiles", "offered: " + ", ".join(sorted(map(str, profiles))))
    return ok("ca", "profiles", "no certificate profiles offered")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _inside(address: str, prefixes: Sequence[str]) -> bool:
    ip = ipaddress.IPv6Address(address.partition("%")[0])
    return any(ip in ipaddress.IPv6Network(prefix) for prefix in prefixes)
