"""Host inspection: /proc/net/if_inet6 and /proc/net/ipv6_route, and what doctor makes of them."""

from __future__ import annotations

from pathlib import Path

from certv6.doctor.host import (
    address_finding,
    parse_if_inet6,
    parse_ipv6_route,
    read_addresses,
    read_default_routes,
    route_finding,
)
from certv6.doctor.report import Status

# Real lines (addresses changed to documentation ones): flags 80 = permanent, 01 = temporary,
# 20 = deprecated, 40 = tentative; scope 00 global, 20 link, 10 host.
IF_INET6 = """\
20010db8000000000000000000000010 02 40 00 80     eth0
20010db800000000a1b2c3d4e5f60718 02 40 00 01     eth0
20010db800000000021122fffe334455 02 40 00 100     eth0
20010db8000000000000000000000bad 02 40 00 20     eth0
20010db8000000000000000000000dad 02 40 00 40     eth0
fd000000000000000000000000000002 02 40 00 82     eth0
fe8000000000000000fc00fffe000001 02 40 20 80     eth0
00000000000000000000000000000001 01 80 10 80       lo
"""

ROUTES = """\
20010db8000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000003 00000000 00000003     eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000004 00000000 80200001       lo
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
"""  # noqa: E501


def test_addresses_and_their_kinds() -> None:
    found = {a.address: a for a in parse_if_inet6(IF_INET6)}
    static, temporary = found["2001:db8::10"], found["2001:db8::a1b2:c3d4:e5f6:718"]
    learned, deprecated = found["2001:db8::211:22ff:fe33:4455"], found["2001:db8::bad"]
    assert static.stable and not static.learned and static.is_global
    assert temporary.temporary and not temporary.stable and temporary.learned
    assert learned.stable and learned.learned  # SLAAC: stable, but the prefix is the network's
    assert deprecated.deprecated and not deprecated.stable
    assert not found["2001:db8::dad"].usable and not found["2001:db8::dad"].stable
    assert found["fd00::2"].unique_local and found["fd00::2"].stable
    assert found["fe80::fc:ff:fe00:1"].scope == "link"
    assert found["::1"].scope == "host" and found["::1"].interface == "lo"
    assert static.describe() == "2001:db8::10 (stable, static)"
    assert temporary.describe() == "2001:db8::a1b2:c3d4:e5f6:718 (temporary, learned)"


def test_garbage_lines_are_skipped() -> None:
    assert parse_if_inet6("nonsense\n\n") == ()


def test_default_route_but_not_the_reject_route_on_lo() -> None:
    routes = parse_ipv6_route(ROUTES)
    assert len(routes) == 1
    assert routes[0].describe() == "default via fe80::1 dev eth0"


def test_no_default_route() -> None:
    assert parse_ipv6_route(ROUTES.splitlines()[0]) == ()


def test_reading_from_a_proc_directory(tmp_path: Path) -> None:
    (tmp_path / "if_inet6").write_text(IF_INET6)
    (tmp_path / "ipv6_route").write_text(ROUTES)
    assert len(read_addresses(tmp_path)) == 8
    assert len(read_default_routes(tmp_path)) == 1
    assert read_addresses(tmp_path / "missing") == ()  # a kernel without IPv6


def test_public_stable_addresses_are_fine() -> None:
    finding = address_finding(parse_if_inet6(IF_INET6))
    assert finding.status == Status.OK
    assert "2001:db8::10 (stable, static)" in finding.message
    assert "fe80::" not in finding.message  # link-local is not listed


def test_no_global_address_fails() -> None:
    finding = address_finding(parse_if_inet6(IF_INET6.splitlines()[-1]))
    assert finding.status == Status.FAIL and finding.fix


def test_only_temporary_addresses_warn() -> None:
    finding = address_finding(parse_if_inet6(IF_INET6.splitlines()[1]))
    assert finding.status == Status.WARN and "temporary" in finding.message


def test_only_unique_local_addresses_warn() -> None:
    finding = address_finding(parse_if_inet6(IF_INET6.splitlines()[5]))
    assert finding.status == Status.WARN and "unique-local" in finding.message


def test_route_findings() -> None:
    assert route_finding(parse_ipv6_route(ROUTES)).status == Status.OK
    missing = route_finding(())
    assert missing.status == Status.WARN and "HTTPS_PROXY" in (missing.fix or "")
