import pytest

from certv6.errors import ConfigError
from certv6.model import Identifier, parse_endpoint, parse_identifier, parse_identifiers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.org", "example.org"),
        ("Example.ORG", "example.org"),
        ("example.org.", "example.org"),
        ("*.example.org", "*.example.org"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("a-b.c-d.example", "a-b.c-d.example"),
    ],
)
def test_accepts_and_normalises(text: str, expected: str) -> None:
    assert parse_identifier(text).name == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("*.*.example.org", "wildcard"),
        ("www.*.example.org", "wildcard"),
        ("foo*.example.org", "wildcard"),
        ("*", "wildcard"),
        ("a..example", "empty"),
        ("example.org..", "empty"),
        ("-a.example", "letters"),
        ("a-.example", "letters"),
        ("a_b.example", "letters"),
        ("localhost", "two labels"),  # ipv4-ok: a refused name
        ("192.0.2.1", "IP address"),
        ("2001:db8::1", "IP address"),
        ("[2001:db8::1]", "IP address"),
        ("example.123", "all digits"),
        ("a" * 64 + ".example", ""),
        (".".join(["a" * 60] * 5), ""),
        ("", ""),
    ],
)
def test_refuses_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_identifier(text)
    assert why.lower() in str(raised.value).lower()


def test_wildcard_shares_the_owner_of_its_base() -> None:
    wildcard, base = Identifier("*.example.org"), Identifier("example.org")
    assert wildcard.wildcard and not base.wildcard
    assert wildcard.base == "example.org"
    assert wildcard.challenge_owner == base.challenge_owner == "_acme-challenge.example.org."


def test_identifiers_keep_order_and_drop_duplicates() -> None:
    parsed = parse_identifiers(["b.example", "A.example", "b.example.", "*.b.example"])
    assert [i.name for i in parsed] == ["b.example", "a.example", "*.b.example"]
    with pytest.raises(ConfigError):
        parse_identifiers([])


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("[2001:db8::53]:5353", "2001:db8::53", 5353),
        ("[2001:DB8:0::53]", "2001:db8::53", 53),
        ("2001:db8::53", "2001:db8::53", 53),
        ("ns1.example:54", "ns1.example", 54),
        ("ns1.example", "ns1.example", 53),
    ],
)
def test_endpoints(text: str, host: str, port: int) -> None:
    endpoint = parse_endpoint(text, 53)
    assert (endpoint.host, endpoint.port) == (host, port)


def test_endpoint_prints_ipv6_in_brackets() -> None:
    assert str(parse_endpoint("2001:db8::1", 53)) == "[2001:db8::1]:53"


@pytest.mark.parametrize("text", ["[2001:db8::1", "[2001:db8::1]x", "[zz::1]:53", "h:0", "h:x", ""])
def test_bad_endpoints(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_endpoint(text, 53)
