"""RFC 6052 synthesis/extraction against the RFC's own table, and RFC 7050 discovery."""

from __future__ import annotations

import ipaddress

import pytest

from certv6.propagation import nat64

IPV4 = ipaddress.IPv4Address("192.0.2.33")

# RFC 6052 section 2.4, "Text Representation of IPv4-Embedded IPv6 Address", plus
# the Well-Known Prefix example of the same section.
RFC6052_TABLE = [
    ("2001:db8::/32", "2001:db8:c000:221::"),
    ("2001:db8:100::/40", "2001:db8:1c0:2:21::"),
    ("2001:db8:122::/48", "2001:db8:122:c000:2:2100::"),
    ("2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"),
    ("2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"),
    ("2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33"),
    ("64:ff9b::/96", "64:ff9b::192.0.2.33"),
]


@pytest.mark.parametrize(("prefix", "embedded"), RFC6052_TABLE)
def test_synthesize_matches_rfc6052_table(prefix: str, embedded: str) -> None:
    address = nat64.synthesize(IPV4, nat64.parse_prefix(prefix))
    assert address == ipaddress.IPv6Address(embedded)


@pytest.mark.parametrize(("prefix", "embedded"), RFC6052_TABLE)
def test_extract_matches_rfc6052_table(prefix: str, embedded: str) -> None:
    length = int(prefix.split("/")[1])
    assert nat64.extract(ipaddress.IPv6Address(embedded), length) == IPV4


@pytest.mark.parametrize("length", nat64.PREFIX_LENGTHS)
def test_synthesize_then_extract_round_trips(length: int) -> None:
    prefix = nat64.prefix_of(ipaddress.IPv6Address("2001:db8:aaaa:bb00::"), length)
    for text in ("0.0.0.0", "192.0.0.170", "203.0.113.255", "255.255.255.255"):  # ipv4-ok
        ipv4 = ipaddress.IPv4Address(text)
        address = nat64.synthesize(ipv4, prefix)
        assert nat64.extract(address, length) == ipv4
        assert address in prefix
        assert (int(address) >> 56) & 0xFF == 0  # the u-octet, bits 64-71


@pytest.mark.parametrize(
    "text",
    [
        "2001:db8::/33",  # not an RFC 6052 length
        "2001:db8::1/96",  # host bits set
        "2001:db8:0:0:ff00::/96",  # bits 64-71 not zero
        "192.0.2.0/24",  # not IPv6
        "nonsense",
    ],
)
def test_parse_prefix_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r".+"):
        nat64.parse_prefix(text)


def test_extract_refuses_other_lengths() -> None:
    with pytest.raises(ValueError, match="/80"):
        nat64.extract(ipaddress.IPv6Address("64:ff9b::1"), 80)


def _wka_answers(prefix: str) -> list[str]:
    network = nat64.parse_prefix(prefix)
    return [str(nat64.synthesize(ipv4, network)) for ipv4 in nat64.WELL_KNOWN_IPV4]


@pytest.mark.parametrize("prefix", [row[0] for row in RFC6052_TABLE])
def test_rfc7050_discovery_at_every_length(prefix: str) -> None:
    assert nat64.prefixes_from_answers(_wka_answers(prefix)) == (nat64.parse_prefix(prefix),)


def test_rfc7050_one_well_known_address_is_enough() -> None:
    assert nat64.prefixes_from_answers(["64:ff9b::c000:ab"]) == (nat64.WELL_KNOWN_PREFIX,)


def test_rfc7050_several_prefixes_in_answer_order() -> None:
    answers = _wka_answers("2001:db8:122::/48") + _wka_answers("64:ff9b::/96")
    assert nat64.prefixes_from_answers(answers) == (
        ipaddress.IPv6Network("2001:db8:122::/48"),
        ipaddress.IPv6Network("64:ff9b::/96"),
    )


def test_rfc7050_answers_without_well_known_addresses_give_no_prefix() -> None:
    # A real AAAA (no DNS64) or a synthesized address of some other IPv4 address.
    answers = ["2001:db8::1", str(nat64.synthesize(IPV4, nat64.WELL_KNOWN_PREFIX))]
    assert nat64.prefixes_from_answers(answers) == ()
    assert nat64.prefixes_from_answers([]) == ()


def test_rfc7050_ignores_a_non_zero_u_octet() -> None:
    # 192.0.0.170 at the /64 position, but bits 64-71 are set: not an RFC 6052 address.
    assert nat64.prefixes_from_answers(["2001:db8:122:344:ffc0:0:aa00:0"]) == ()
