"""An order's look-ups all at once (dnsbulk, Dns.prefetch), against resolvers on [::1].

The bulk look-up is only a head start: whatever it keeps must be exactly what the
one-by-one look-ups would have found, and whatever it cannot answer cleanly is left
to them.
"""

from __future__ import annotations

import gc
import os
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest
from test_caa import ZONES as CAA_ZONES
from test_caa import ChasingAuthority
from test_dnsquery import ZONES as CHAIN_ZONES
from test_propagation_fakes import Authority, FakeNameserver

from certv6 import dnsbulk
from certv6.dnsquery import CaaLookup, Dns, DnsSettings
from certv6.errors import DnsError
from fakes.udp import Reply, Responder, responders

CHAINS = [
    "_acme-challenge.www.certv6.test.",  # does not exist: NXDOMAIN, the zone from its SOA
    "_acme-challenge.alias.certv6.test.",  # two CNAMEs, into another zone
    *(f"_acme-challenge.n{i}.certv6.test." for i in range(20)),
]
CAA_NAMES = [
    "restricted.example.test.",  # its own CAA
    "www.example.test.",  # climbs to example.test
    "x.y.bare.test.",  # climbs to test.: no CAA anywhere
    "alias.example.test.",  # a CNAME: left to relevant_caa
    "deep.below.example.test.",  # a CNAME to a name with CAA: left to relevant_caa
]


def same(lookup: CaaLookup) -> tuple[object, ...]:
    """A CAA look-up's result; the records of an RRset in any order."""
    return (lookup.name, lookup.owner, lookup.alias_of, frozenset(lookup.records), lookup.asked)


def dns_at(server: FakeNameserver) -> Dns:
    return Dns(DnsSettings(resolvers=(f"[::1]:{server.port}",), timeout=1.0))


def serving(authority: Authority) -> Iterator[tuple[FakeNameserver, Authority]]:
    server = FakeNameserver(authority)
    try:
        yield server, authority
    finally:
        server.close()


@pytest.fixture
def chains() -> Iterator[tuple[FakeNameserver, Authority]]:
    yield from serving(Authority(CHAIN_ZONES))


@pytest.fixture
def caa() -> Iterator[tuple[FakeNameserver, Authority]]:
    yield from serving(ChasingAuthority(CAA_ZONES))


def test_prefetched_chains_are_what_one_by_one_look_ups_find(
    chains: tuple[FakeNameserver, Authority],
) -> None:
    server, authority = chains
    plain = dns_at(server)
    expected = {name: plain.follow_cname(name) for name in CHAINS}
    zones = {name: plain.find_zone(chain[-1]) for name, chain in expected.items()}

    bulk = dns_at(server)
    bulk.prefetch(chains=CHAINS)
    asked = len(authority.queries)
    assert all(bulk.knows_chain(name) for name in CHAINS)
    assert {name: bulk.follow_cname(name) for name in CHAINS} == expected
    assert {name: bulk.find_zone(chain[-1]) for name, chain in expected.items()} == zones
    assert len(authority.queries) == asked  # the prefetch had every answer already
    assert zones["_acme-challenge.alias.certv6.test."] == "challenges.test."


def test_a_cname_loop_is_still_reported_by_follow_cname(
    chains: tuple[FakeNameserver, Authority],
) -> None:
    server, _ = chains
    bulk = dns_at(server)
    looping = "_acme-challenge.loop.certv6.test."
    bulk.prefetch(chains=[looping, *CHAINS])
    assert not bulk.knows_chain(looping)
    with pytest.raises(DnsError, match="CNAME loop"):
        bulk.follow_cname(looping)


def test_prefetched_caa_is_what_relevant_caa_finds(caa: tuple[FakeNameserver, Authority]) -> None:
    server, authority = caa
    plain = dns_at(server)
    expected = {name: same(plain.relevant_caa(name)) for name in CAA_NAMES}

    bulk = dns_at(server)
    bulk.prefetch(caa=CAA_NAMES)
    plain_names = CAA_NAMES[:3]
    assert [bulk.knows_caa(name) for name in CAA_NAMES] == [True, True, True, False, False]
    asked = len(authority.queries)
    assert {name: same(bulk.relevant_caa(name)) for name in plain_names} == {
        name: expected[name] for name in plain_names
    }
    assert len(authority.queries) == asked
    # Aliases are chased by relevant_caa itself, with the same result as without prefetch.
    assert {name: same(bulk.relevant_caa(name)) for name in CAA_NAMES[3:]} == {
        name: expected[name] for name in CAA_NAMES[3:]
    }
    restricted = plain.relevant_caa("restricted.example.test.")
    assert {r.value for r in restricted.records} == {"letsencrypt.org", "mailto:ops@example.test"}
    assert plain.relevant_caa("x.y.bare.test.").owner is None


def test_threads_prefetching_the_same_names_ask_each_question_once(
    chains: tuple[FakeNameserver, Authority],
) -> None:
    server, authority = chains
    bulk = dns_at(server)
    names = [f"_acme-challenge.t{i}.certv6.test." for i in range(40)]
    workers = [
        threading.Thread(target=bulk.prefetch, kwargs={"chains": names, "caa": names})
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    counted = Counter((name, kind) for name, kind, _ in authority.queries)
    assert counted[(names[7], "CNAME")] == 1
    assert max(counted.values()) == 1
    assert all(bulk.knows_chain(name) for name in names)


def test_what_the_bulk_look_up_cannot_answer_is_asked_one_by_one() -> None:
    # Every UDP answer truncated: the bulk look-up keeps nothing, the resolver retries
    # each question over TCP and finds the answer.
    authority = Authority(CHAIN_ZONES, truncate_udp=True)
    server = FakeNameserver(authority)
    try:
        bulk = dns_at(server)
        bulk.prefetch(chains=CHAINS[:3])
        assert not bulk.knows_chain(CHAINS[1])
        assert bulk.follow_cname(CHAINS[1])[-1] == "www.challenges.test."
    finally:
        server.close()
    assert any(tcp for _, _, tcp in authority.queries)


# dnsbulk.ask_all on raw sockets


@pytest.fixture
def raw() -> Iterator[Callable[[Reply], Responder]]:
    yield from responders()


def nxdomain(query: dns.message.Message) -> bytes:
    response = dns.message.make_response(query)
    response.set_rcode(dns.rcode.NXDOMAIN)
    return response.to_wire()


def open_fds() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


QUESTIONS = [(f"n{i}.certv6.test.", "CAA") for i in range(30)]


def test_every_question_on_its_own_port_gets_its_own_answer(
    raw: Callable[[Reply], Responder],
) -> None:
    server = raw(lambda query: [nxdomain(query)])
    before = open_fds()
    found = dnsbulk.ask_all("::1", server.port, QUESTIONS)
    assert set(found) == set(QUESTIONS)
    assert all(wire[3] & 0x0F == dns.rcode.NXDOMAIN for wire in found.values())
    assert len(server.peers) == len(QUESTIONS)  # RFC 5452 9.2: a source port each
    assert open_fds() <= before  # none left open (another test's may close meanwhile)


def test_a_stray_datagram_is_ignored_and_a_changed_case_accepted(
    raw: Callable[[Reply], Responder],
) -> None:
    def stray_then_answer(query: dns.message.Message) -> list[bytes]:
        other = dns.message.make_query("other.certv6.test.", "CAA")
        other.id = query.id  # the right ID, the wrong question
        shouted = dns.message.make_response(query)
        shouted.question[0].name = dns.name.from_text(query.question[0].name.to_text().upper())
        shouted.answer.append(
            dns.rrset.from_text(query.question[0].name, 60, "IN", "CAA", '0 issue "ca.example"')
        )
        return [nxdomain(other), b"\x00", shouted.to_wire()]

    server = raw(stray_then_answer)
    found = dnsbulk.ask_all("::1", server.port, QUESTIONS[:3])
    assert set(found) == set(QUESTIONS[:3])
    assert all(dnsbulk.answer_count(wire) == 1 for wire in found.values())


@pytest.mark.parametrize("flaw", ["truncated", "servfail", "silent"])
def test_an_answer_that_is_not_clean_is_left_to_the_ordinary_look_up(
    raw: Callable[[Reply], Responder], flaw: str
) -> None:
    def flawed(query: dns.message.Message) -> list[bytes]:
        response = dns.message.make_response(query)
        if flaw == "truncated":
            response.flags |= dns.flags.TC
        elif flaw == "servfail":
            response.set_rcode(dns.rcode.SERVFAIL)
        else:
            return []
        return [response.to_wire()]

    server = raw(flawed)
    before = open_fds()
    assert dnsbulk.ask_all("::1", server.port, QUESTIONS[:5], seconds=0.9) == {}
    assert open_fds() <= before  # none left open (another test's may close meanwhile)
    if flaw == "silent":
        # Asked once more after RESEND_AFTER, on the same socket, before giving up.
        assert len(server.asked) == 10 and len(server.peers) == 5


def test_a_closed_port_answers_nothing() -> None:
    closed = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    closed.bind(("::1", 0))
    port = closed.getsockname()[1]
    closed.close()  # the kernel answers with ICMP port unreachable: every question ends
    assert dnsbulk.ask_all("::1", port, QUESTIONS[:4]) == {}
