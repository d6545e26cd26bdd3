"""certv6.dnsquery against a fake resolver that speaks DNS on [::1]."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_propagation_fakes import Authority, FakeNameserver, zone_text

from certv6.dnsquery import Dns, DnsSettings, NameserverAddresses, nameservers_from_resolv_conf
from certv6.errors import ConfigError, DnsError

ZONES = {
    "certv6.test.": zone_text(
        5,
        """@ NS ns1
@ NS ns2
ns1 AAAA 2001:db8::1
ns1 A 192.0.2.1
ns2 A 192.0.2.53
_acme-challenge.alias CNAME hop.certv6.test.
hop CNAME www.challenges.test.
_acme-challenge.loop CNAME _acme-challenge.loop.certv6.test.""",
    ),
    "challenges.test.": zone_text(7, "@ NS ns1\nns1 AAAA 2001:db8::11"),
}


@pytest.fixture(scope="module")
def dns_client() -> Iterator[Dns]:
    resolver = FakeNameserver(Authority(ZONES))
    try:
        yield Dns(DnsSettings(resolvers=(f"[::1]:{resolver.port}",), timeout=1.0))
    finally:
        resolver.close()


def test_a_name_without_cname_is_its_own_chain(dns_client: Dns) -> None:
    assert dns_client.follow_cname("_acme-challenge.www.certv6.test") == (
        "_acme-challenge.www.certv6.test.",
    )


def test_follow_cname_across_zones(dns_client: Dns) -> None:
    assert dns_client.follow_cname("_acme-challenge.alias.certv6.test.") == (
        "_acme-challenge.alias.certv6.test.",
        "hop.certv6.test.",
        "www.challenges.test.",
    )


def test_cname_loop_raises(dns_client: Dns) -> None:
    with pytest.raises(DnsError, match="CNAME loop"):
        dns_client.follow_cname("_acme-challenge.loop.certv6.test.")


def test_find_zone_of_a_name_that_does_not_exist(dns_client: Dns) -> None:
    assert dns_client.find_zone("_acme-challenge.www.certv6.test.") == "certv6.test."
    assert dns_client.find_zone("www.challenges.test.") == "challenges.test."


def test_nameservers_with_both_families(dns_client: Dns) -> None:
    assert dns_client.nameservers("certv6.test.") == (
        NameserverAddresses("ns1.certv6.test.", ("2001:db8::1",), ("192.0.2.1",)),
        NameserverAddresses("ns2.certv6.test.", (), ("192.0.2.53",)),
    )


def test_addresses_of_a_missing_name_are_empty(dns_client: Dns) -> None:
    assert dns_client.addresses("nothing.certv6.test.", "AAAA") == ()


def test_resolv_conf_keeps_ipv6_nameservers_only(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 192.0.2.1\nnameserver 2001:db8::53\n")
    assert nameservers_from_resolv_conf(conf) == ("2001:db8::53",)
    assert nameservers_from_resolv_conf(conf, allow_ipv4=True)[0] == "192.0.2.1"
    with pytest.raises(ConfigError):
        Dns(DnsSettings(resolv_conf=tmp_path / "missing"))
