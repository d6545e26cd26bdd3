"""Doctor checks that turn facts into findings: the CA, resolvers, NAT64, proxy, names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from certv6.doctor import ca, names, network
from certv6.doctor.host import parse_if_inet6
from certv6.doctor.report import Status
from certv6.httpnet import HostAddresses, HttpProbe
from fakes.connect_proxy import without_proxy_variables

URL = "https://ca.example/dir"
DIRECTORY: dict[str, Any] = {
    "newNonce": "https://ca.example/nonce",
    "renewalInfo": "https://ca.example/ari",
    "meta": {
        "termsOfService": "https://ca.example/tos.pdf",
        "externalAccountRequired": True,
        "caaIdentities": ["ca.example"],
        "profiles": {"shortlived": "6 days", "classic": "90 days"},
    },
}
NEW = ca.Account(url=None, agree_tos=False, eab_configured=False)


def probe(body: dict[str, Any] | None = DIRECTORY, proxy: str | None = None) -> HttpProbe:
    problem = "" if body is not None else "ca.example has no IPv6 address (only 192.0.2.1)"
    hint = None if body is not None else "set HTTPS_PROXY"
    return HttpProbe(URL, proxy, 200 if body else None, body, problem, hint, 0.012)


def by_check(findings: list[Any]) -> dict[str, Any]:
    return {finding.check: finding for finding in findings}


def test_a_new_account_at_a_demanding_ca() -> None:
    found = by_check(ca.ca_findings(URL, probe(), HostAddresses(("2001:db8::1",), ()), (), NEW))
    assert found["directory"].status == Status.OK
    assert found["directory"].message == f"{URL} reached over IPv6 (2001:db8::1) in 12 ms"
    assert found["terms"].status == Status.WARN and "agree_tos" in found["terms"].fix
    assert found["eab"].status == Status.FAIL and "eab_kid" in found["eab"].fix
    assert "ARI" in found["ari"].message
    assert found["profiles"].message == "offered: classic, shortlived"


def test_an_existing_account_needs_no_terms_or_eab() -> None:
    account = ca.Account(url="https://ca.example/acct/1", agree_tos=False, eab_configured=False)
    found = by_check(ca.ca_findings(URL, probe(), HostAddresses(("2001:db8::1",), ()), (), account))
    assert {found["terms"].status, found["eab"].status} == {Status.OK}


def test_an_unreachable_directory_is_one_failure_with_the_fix() -> None:
    found = ca.ca_findings(URL, probe(body=None), HostAddresses((), ("192.0.2.1",)), (), NEW)
    assert len(found) == 1
    assert found[0].status == Status.FAIL
    assert (found[0].message, found[0].fix) == (
        "ca.example has no IPv6 address (only 192.0.2.1)",
        "set HTTPS_PROXY",
    )


@pytest.mark.parametrize(
    ("proxy", "host", "found", "nat64", "route"),
    [
        (
            "http://[2001:db8::3128]:3128",
            "ca.example",
            HostAddresses((), ()),
            (),
            "through the proxy",
        ),
        (None, "2001:db8::ca", HostAddresses((), ()), (), "over IPv6 to 2001:db8::ca"),
        (
            None,
            "ca.example",
            HostAddresses(("64:ff9b::c000:201",), ()),
            ("64:ff9b::/96",),
            "through NAT64 (ca.example has IPv4 only; DNS64 gives 64:ff9b::c000:201)",
        ),
        (
            None,
            "ca.example",
            HostAddresses(("2001:db8::1", "64:ff9b::c000:201"), ()),
            ("64:ff9b::/96",),
            "over IPv6",
        ),
        (None, "ca.example", HostAddresses((), ("192.0.2.1",)), (), "over IPv4 (192.0.2.1)"),
    ],
)
def test_route_to_the_ca(
    proxy: str | None, host: str, found: HostAddresses, nat64: tuple[str, ...], route: str
) -> None:
    assert ca.route(probe(proxy=proxy), host, found, nat64).startswith(route)


def test_caa_identities_configured_published_or_known() -> None:
    published = ca.published_identities(DIRECTORY)
    assert published == ("ca.example",)
    assert ca.caa_identities(URL, published, ("Extra.Example.",)) == ("extra.example", "ca.example")
    le = "https://acme-v02.api.letsencrypt.org/directory"
    assert ca.caa_identities(le, (), ()) == ("letsencrypt.org",)
    assert ca.caa_identities(URL, ca.published_identities({"meta": {}}), ()) == ()
    assert ca.identities_finding(()).status == Status.WARN


def test_resolver_findings() -> None:
    checks = [
        network.ResolverCheck("[2001:db8::53]:53", (), "", 0.002),
        network.ResolverCheck("2001:db8::54", (), "The DNS operation timed out.", None),
    ]
    found = network.resolver_findings(checks, ignored=("192.0.2.53",))
    assert [f.status for f in found] == [Status.OK, Status.FAIL, Status.WARN]
    assert found[0].message == "[2001:db8::53]:53 answers in 2 ms"
    assert "192.0.2.53" in found[2].message
    assert network.resolver_findings([], ())[0].status == Status.FAIL


def test_nat64_findings() -> None:
    assert "RFC 7050" in network.nat64_finding(None, ("64:ff9b::/96",)).message
    assert "configured" in network.nat64_finding("64:ff9b::/96", ()).message
    assert network.nat64_finding("64:ff9b::/96", ("2001:db8:64::/96",)).status == Status.WARN
    assert "cannot be reached" in network.nat64_finding(None, ()).message


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    return without_proxy_variables(monkeypatch)


@pytest.mark.parametrize(
    ("variables", "status", "text"),
    [
        ({}, Status.OK, "none: connections go straight"),
        ({"HTTPS_PROXY": "http://u:secret@[2001:db8::3128]:3128"}, Status.OK, "u:***@"),
        ({"https_proxy": "http://192.0.2.8:3128"}, Status.FAIL, "has no IPv6 address"),
        ({"HTTPS_PROXY": "socks5://[2001:db8::1]:1080"}, Status.FAIL, "only HTTP CONNECT"),
        ({"HTTP_PROXY": "http://[2001:db8::3128]:3128"}, Status.WARN, "HTTPS_PROXY"),
        (
            {"HTTPS_PROXY": "http://[2001:db8::3128]:3128", "NO_PROXY": "ca.example"},
            Status.OK,
            "NO_PROXY excludes it",
        ),
    ],
)
def test_proxy_finding(
    no_proxy_env: pytest.MonkeyPatch, variables: dict[str, str], status: Status, text: str
) -> None:
    for name, value in variables.items():
        no_proxy_env.setenv(name, value)
    finding = network.proxy_finding(URL, allow_ipv4=False)
    assert finding.status == status
    assert text in finding.message
    assert "secret" not in finding.message


# --- names ---------------------------------------------------------------------------------

HOST = parse_if_inet6(
    "20010db8000000000000000000000010 02 40 00 80 eth0\n"
    "20010db800000000a1b2c3d4e5f60718 02 40 00 01 eth0\n"
    "20010db800000000021122fffe334455 02 40 00 00 eth0\n"
)
MINE = {address.address: address for address in HOST}


@pytest.mark.parametrize(
    ("aaaa", "status", "text"),
    [
        (("2001:db8::10",), Status.OK, "2001:db8::10 (stable, static): this host's"),
        (("2001:db8::211:22ff:fe33:4455",), Status.OK, "update the AAAA record when it changes"),
        (("2001:db8::a1b2:c3d4:e5f6:718",), Status.WARN, "it will change"),
        (("2001:db8::99",), Status.WARN, "not an address of this host"),
    ],
)
def test_aaaa_against_this_hosts_addresses(
    aaaa: tuple[str, ...], status: Status, text: str
) -> None:
    fix = "certv6 aaaa -d www.example.org"
    finding = names._judge_addresses("www.example.org", aaaa, MINE, fix)
    assert finding.status == status
    assert text in finding.message
    if status == Status.WARN or "prefix comes from the network" in finding.message:
        assert fix in f"{finding.message} {finding.fix}"  # the exact command that fixes it


@dataclass(frozen=True)
class Server:
    zone: str = "example.org."
    label: str = "ns1.example.org [2001:db8::53]"
    ipv4: str = ""
    reach: str = "direct"
    status: str = "waiting"
    problem: str = ""
    rtt: float | None = 0.003


@pytest.mark.parametrize(
    ("server", "strict", "status", "text"),
    [
        (Server(), False, Status.OK, "answers authoritatively over IPv6 in 3 ms"),
        (Server(reach="nat64", ipv4="192.0.2.53"), False, Status.OK, "through NAT64"),
        (Server(reach="unverifiable", ipv4="192.0.2.53"), False, Status.WARN, "IPv4 only"),
        (Server(reach="unverifiable", ipv4="192.0.2.53"), True, Status.FAIL, "no NAT64"),
        (Server(status="unreachable", rtt=None), False, Status.WARN, "no answer over IPv6"),
        (Server(status="unreachable", rtt=None), True, Status.FAIL, "no answer"),
        (Server(problem="REFUSED"), False, Status.FAIL, "answers, but REFUSED"),
    ],
)
def test_nameserver_findings(server: Server, strict: bool, status: Status, text: str) -> None:
    (finding,) = names.nameserver_findings("www.example.org", [server], strict)
    assert finding.status == status
    assert text in finding.message
