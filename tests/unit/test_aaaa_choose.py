"""Which address certv6 aaaa publishes: the choice a careful admin makes by hand."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from certv6.aaaa import Criteria, choose, parse_token
from certv6.errors import ConfigError, NoHostAddress
from certv6.ifaddr import (
    IFA_F_DADFAILED,
    IFA_F_DEPRECATED,
    IFA_F_MANAGETEMPADDR,
    IFA_F_PERMANENT,
    IFA_F_STABLE_PRIVACY,
    IFA_F_TEMPORARY,
    IFA_F_TENTATIVE,
    HostAddress,
)

SLAAC = IFA_F_STABLE_PRIVACY | IFA_F_MANAGETEMPADDR


def addr(
    address: str,
    flags: int = 0,
    *,
    interface: str = "eth0",
    scope: str = "global",
    preferred: int | None = 1800,
) -> HostAddress:
    return HostAddress(address, interface, 64, scope, flags, preferred, 3600)


STABLE = addr("2001:db8:1::5a0f:1c2b", SLAAC)
TEMPORARY = addr("2001:db8:1::d00d:feed", IFA_F_TEMPORARY)
EUI64 = addr("2001:db8:1::211:22ff:fe33:4455")
MANUAL = addr("2001:db8:1::53", IFA_F_PERMANENT, preferred=None)
LINK = addr("fe80::1", IFA_F_PERMANENT, scope="link", preferred=None)
ULA = addr("fd00:1::7", SLAAC)
INTERFACES = {"lo", "eth0", "wlan0"}
ANY = Criteria()


def pick(*addresses: HostAddress, criteria: Criteria = ANY, published: Collection[str] = ()) -> str:
    return choose(addresses, criteria, interfaces=INTERFACES, published=published).chosen.address


def test_never_temporary_link_local_deprecated_tentative_or_duplicate() -> None:
    losers = [
        TEMPORARY,
        LINK,
        addr("2001:db8:2::1", SLAAC | IFA_F_DEPRECATED, preferred=0),
        addr("2001:db8:3::1", SLAAC | IFA_F_TENTATIVE),
        addr("2001:db8:4::1", SLAAC | IFA_F_DADFAILED | IFA_F_TENTATIVE),
    ]
    choice = choose([*losers, EUI64], Criteria(), interfaces=INTERFACES)
    assert choice.chosen == EUI64
    reasons = {j.address.address: j.rejected for j in choice.judged}
    assert reasons[TEMPORARY.address] == "temporary (RFC 8981 privacy address)"
    assert reasons["fe80::1"] == "link scope"
    assert reasons["2001:db8:2::1"] == "deprecated (preferred lifetime over)"
    assert reasons["2001:db8:3::1"].startswith("tentative")
    assert reasons["2001:db8:4::1"] == "duplicate address detection failed"


def test_stable_privacy_and_manual_before_eui64() -> None:
    assert pick(EUI64, STABLE, TEMPORARY) == STABLE.address
    assert pick(EUI64, MANUAL) == MANUAL.address
    dynamic = addr("2001:db8:1::99")  # DHCPv6 or a token: learned, no flags
    assert pick(EUI64, dynamic) == dynamic.address


def test_a_global_address_before_a_unique_local_one() -> None:
    assert pick(ULA, EUI64) == EUI64.address
    choice = choose([ULA, TEMPORARY], Criteria(), interfaces=INTERFACES)
    assert choice.chosen == ULA and "unique-local" in choice.why


def test_after_a_renumbering_the_new_prefix_wins_and_the_published_one_is_kept_while_good() -> None:
    old = addr("2001:db8:1::1", SLAAC, preferred=600)
    new = addr("2001:db8:2::1", SLAAC, preferred=1800)
    assert pick(old, new) == new.address  # longer preferred lifetime
    assert pick(old, new, published={old.address}) == old.address  # no flapping
    gone = addr("2001:db8:1::1", SLAAC | IFA_F_DEPRECATED, preferred=0)
    assert pick(gone, new, published={gone.address}) == new.address


def test_interface_and_token_narrow_the_choice() -> None:
    wlan = addr("2001:db8:9::5a0f", SLAAC, interface="wlan0")
    assert pick(STABLE, wlan, criteria=Criteria(interface="wlan0")) == wlan.address
    token = addr("2001:db8:1::53")
    assert pick(STABLE, token, criteria=Criteria(token=parse_token("::53"))) == token.address


def test_an_interface_that_does_not_exist() -> None:
    with pytest.raises(ConfigError, match="interface 'eth9' does not exist") as raised:
        choose([STABLE], Criteria(interface="eth9"), interfaces=INTERFACES)
    assert "eth0" in (raised.value.hint or "")


def test_no_global_address() -> None:
    with pytest.raises(NoHostAddress, match="no global IPv6 address") as raised:
        choose([LINK, addr("::1", IFA_F_PERMANENT, scope="host")], Criteria(), interfaces={"lo"})
    assert raised.value.exit_code == 15


def test_nothing_fits_lists_every_address_and_why() -> None:
    with pytest.raises(NoHostAddress) as raised:
        choose(
            [TEMPORARY, addr("2001:db8:3::1", SLAAC | IFA_F_TENTATIVE)],
            Criteria(),
            interfaces=INTERFACES,
        )
    assert "2001:db8:1::d00d:feed (temporary" in raised.value.message
    assert "duplicate address detection is still running" in (raised.value.hint or "")
    with pytest.raises(NoHostAddress) as raised:
        choose([STABLE], Criteria(token=parse_token("::53")), interfaces=INTERFACES)
    assert "ip token set ::53" in (raised.value.hint or "")


def test_the_reason_names_the_address_its_kind_and_lifetime() -> None:
    choice = choose([EUI64, STABLE, TEMPORARY], Criteria(), interfaces=INTERFACES)
    assert choice.kind == "stable-privacy"
    assert choice.why == (
        "2001:db8:1::5a0f:1c2b on eth0: a stable-privacy address (RFC 7217), preferred for"
        " 1800 s; 1 other candidate ranked lower"
    )


@pytest.mark.parametrize("text", ["2001:db8::53", "::", "banana", "::1:2:3:4:5"])
def test_bad_tokens(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_token(text)


def test_good_tokens() -> None:
    assert parse_token("::53") == 0x53
    assert parse_token(" ::1:2:3:4 ") == 0x0001_0002_0003_0004
