"""The standalone provider's DNS server on [::1]: what a resolver and a CA's validator see."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from certv6.dnsquery import Dns, DnsSettings
from certv6.errors import ConfigError, ProviderError
from certv6.model import TxtRecord
from certv6.providers import ProviderContext
from certv6.providers.standalone import StandaloneProvider
from fakes.ports import free_port

APEX = "_acme-challenge.www.example.test."
NS = "ns.example.test."


def make(tmp_path: Path, **options: object) -> StandaloneProvider:
    context = ProviderContext(
        name="standalone",
        options={"listen": f"[::1]:{free_port()}", "nameservers": [NS], **options},
        dns=Dns(DnsSettings(resolvers=("[::1]:9",))),
        state_dir=tmp_path,
    )
    return StandaloneProvider(context)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[StandaloneProvider]:
    provider = make(tmp_path, zones=["acme.example.test"])
    provider.preflight()
    provider.present([TxtRecord(APEX, "v1"), TxtRecord(APEX, "v2")])
    provider.present([TxtRecord("www.acme.example.test.", "v3")])
    yield provider
    provider.close()


def ask(
    server: StandaloneProvider, qname: str, rdtype: str, *, tcp: bool = False, edns: int = 0
) -> dns.message.Message:
    query = dns.message.make_query(qname, rdtype, use_edns=edns, flags=0)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, "::1", port=server.endpoint.port, timeout=2)


def texts(response: dns.message.Message) -> set[str]:
    return {b"".join(r.strings).decode() for rrset in response.answer for r in rrset}


@pytest.mark.parametrize("tcp", [False, True])
def test_txt_values_are_served_authoritatively(server: StandaloneProvider, tcp: bool) -> None:
    response = ask(server, APEX, "TXT", tcp=tcp)
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    assert texts(response) == {"v1", "v2"}
    assert all(rrset.ttl == 0 for rrset in response.answer)  # nothing may cache a challenge


def test_soa_and_ns_at_the_apex(server: StandaloneProvider) -> None:
    soa = ask(server, APEX, "SOA").answer[0]
    assert soa.rdtype == dns.rdatatype.SOA and soa[0].mname.to_text() == NS
    assert soa[0].minimum == 0  # no negative caching (RFC 2308)
    ns = ask(server, APEX, "NS").answer[0]
    assert [r.target.to_text() for r in ns] == [NS]


def test_serial_moves_with_every_change(server: StandaloneProvider) -> None:
    before = ask(server, APEX, "SOA").answer[0][0].serial
    server.present([TxtRecord(APEX, "v9")])
    server.present([TxtRecord(APEX, "v9")])  # no change, no new serial
    after = ask(server, APEX, "SOA").answer[0][0].serial
    assert after == before + 1


def test_nodata_and_nxdomain_carry_the_soa(server: StandaloneProvider) -> None:
    nodata = ask(server, APEX, "AAAA")
    assert (nodata.rcode(), nodata.answer) == (dns.rcode.NOERROR, [])
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA
    nx = ask(server, "nothing." + APEX, "TXT")
    assert nx.rcode() == dns.rcode.NXDOMAIN and nx.flags & dns.flags.AA
    assert nx.authority[0].name.to_text() == APEX


def test_configured_zone_for_cname_targets(server: StandaloneProvider) -> None:
    assert texts(ask(server, "www.acme.example.test.", "TXT")) == {"v3"}
    assert ask(server, "acme.example.test.", "SOA").answer[0].name.to_text() == "acme.example.test."
    assert ask(server, "other.acme.example.test.", "TXT").rcode() == dns.rcode.NXDOMAIN


def test_names_it_does_not_serve_are_refused(server: StandaloneProvider) -> None:
    response = ask(server, "www.example.test.", "A")
    assert response.rcode() == dns.rcode.REFUSED and not response.flags & dns.flags.AA


def test_case_of_the_question_is_kept(server: StandaloneProvider) -> None:
    response = ask(server, APEX.upper(), "TXT")
    assert response.answer[0].name.to_text() == APEX.upper()
    assert texts(response) == {"v1", "v2"}


def test_edns_version_other_than_0_gets_badvers(server: StandaloneProvider) -> None:
    query = dns.message.make_query(APEX, "TXT", use_edns=1)
    response = dns.query.udp(query, "::1", port=server.endpoint.port, timeout=2)
    assert response.rcode() == dns.rcode.BADVERS


def test_update_is_not_implemented(server: StandaloneProvider) -> None:
    query = dns.message.make_query(APEX, "SOA")
    query.set_opcode(dns.opcode.UPDATE)
    response = dns.query.udp(query, "::1", port=server.endpoint.port, timeout=2)
    assert response.rcode() == dns.rcode.NOTIMP


def test_garbage_gets_formerr_with_the_same_id(server: StandaloneProvider) -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(b"\x12\x34\x01\x00\x00\x01" + b"\xff" * 10, ("::1", server.endpoint.port))
        answer = sock.recv(512)
    assert answer[:2] == b"\x12\x34" and answer[2] & 0x80 and answer[3] & 0x0F == dns.rcode.FORMERR


def test_large_rrset_truncates_over_udp_and_works_over_tcp(tmp_path: Path) -> None:
    provider = make(tmp_path)
    provider.preflight()
    try:
        many = [TxtRecord(APEX, f"{i:02d}" + "x" * 41) for i in range(40)]
        provider.present(many)
        udp = ask(provider, APEX, "TXT", edns=-1)  # no EDNS: 512 bytes
        assert udp.flags & dns.flags.TC and not udp.answer
        assert len(texts(ask(provider, APEX, "TXT", tcp=True))) == 40
    finally:
        provider.close()


def test_several_queries_on_one_tcp_connection(server: StandaloneProvider) -> None:
    with socket.create_connection(("::1", server.endpoint.port), timeout=2) as sock:
        for qtype in ("TXT", "SOA"):
            wire = dns.message.make_query(APEX, qtype).to_wire()
            sock.sendall(struct.pack("!H", len(wire)) + wire)
            length = struct.unpack("!H", sock.recv(2))[0]
            data = b""
            while len(data) < length:
                data += sock.recv(length - len(data))
            assert dns.message.from_wire(data).rcode() == dns.rcode.NOERROR


def test_cleanup_removes_and_close_stops(server: StandaloneProvider) -> None:
    server.cleanup([TxtRecord(APEX, "v1"), TxtRecord(APEX, "absent")])
    assert texts(ask(server, APEX, "TXT")) == {"v2"}
    server.close()
    with pytest.raises(dns.exception.Timeout):
        dns.query.udp(
            dns.message.make_query(APEX, "TXT"), "::1", port=server.endpoint.port, timeout=0.3
        )
    server.close()  # idempotent


def test_owner_outside_any_served_zone_is_refused_before_serving(tmp_path: Path) -> None:
    provider = make(tmp_path)
    with pytest.raises(ProviderError, match=r"standalone present of www\.example\.test") as raised:
        provider.present([TxtRecord("www.example.test.", "v")])
    assert "zones = " in raised.value.hint
    assert raised.value.operation == "present"
    provider.close()


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    first = make(tmp_path)
    first.preflight()
    try:
        second = make(tmp_path, listen=str(first.endpoint))
        with pytest.raises(ProviderError, match="cannot listen on") as raised:
            second.preflight()
        assert "another DNS server" in raised.value.hint
    finally:
        first.close()


def test_address_not_on_this_host(tmp_path: Path) -> None:
    provider = make(tmp_path, listen="[2001:db8::dead]:53")
    with pytest.raises(ProviderError, match=r"\[2001:db8::dead\]:53") as raised:
        provider.preflight()
    assert "not configured on this host" in raised.value.hint


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"listen": "192.0.2.1:53"}, "not an IPv6 address"),
        ({"listen": "dns.example.test:53"}, "not an IPv6 address"),
        ({"zones": "acme.example.test"}, "zones must be a list"),
        ({"nameservers": [""]}, "nameservers must be a list"),
        ({"bogus": 1}, "unknown option"),
    ],
)
def test_bad_options(tmp_path: Path, options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make(tmp_path, **options)
