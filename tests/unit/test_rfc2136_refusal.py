"""Why an RFC 2136 server refused: each server's way of saying no, as measured in the lab
(Knot 3.2, PowerDNS 4.7, BIND 9.18; tests/integration/test_servers_lab.py runs the real ones)."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode
import dns.tsigkeyring
import pytest

from certv6.providers.dnsupdate import BADKEY, BADSIG, BADTIME, Reply, ServerFacts, parse_reply
from certv6.providers.refusal import Situation, explain

ZONE = "example.test."
KNOT = "Knot DNS 3.2.6"
PDNS = "PowerDNS Authoritative Server 4.7.3"
BIND = "9.18.49-1~deb12u3-Debian"


def reply(rcode: str, *, signed: bool = True, error: int = 0) -> Reply:
    return Reply(
        rcode=dns.rcode.from_text(rcode),
        signed=signed,
        verified=signed and not error,
        tsig_error=error,
        authoritative=False,
        message=dns.message.Message(),
        source="2001:db8::10",
    )


def facts(
    software: str, *, serves: bool | None = True, knows: bool | None = True, key_error: int = 0
) -> ServerFacts:
    return ServerFacts(serves, knows, "ns1.example.test.", software, key_error)


WHERE = Situation(ZONE, "[2001:db8::53]:53", "certv6-key", "hmac-sha256", True, True)


@pytest.mark.parametrize(
    ("answer", "server", "cause", "hint", "credentials"),
    [
        # BIND: BADSIG for a wrong secret; Knot too (also in its answer to the probe).
        (
            reply("NOTAUTH", error=BADSIG),
            facts(BIND, knows=False),
            "TSIG BADSIG",
            "copy the key file",
            True,
        ),
        (
            reply("NOTAUTH", error=BADKEY),
            facts(KNOT, knows=False, key_error=BADSIG),
            "secret differs",
            "copy",
            True,
        ),
        # PowerDNS: wrong secret and unknown key alike are REFUSED without a TSIG record.
        (
            reply("REFUSED", signed=False),
            facts(PDNS, knows=False),
            "without a TSIG record",
            "pdnsutil list-tsig-keys",
            True,
        ),
        # Knot's policy refusal of a key it knows: NOTAUTH + BADKEY.
        (
            reply("NOTAUTH", error=BADKEY),
            facts(KNOT),
            "knows key 'certv6-key' but its policy",
            "update-type: [TXT]",
            True,
        ),
        # Knot, a key no acl of the zone mentions: indistinguishable from an unknown one.
        (
            reply("NOTAUTH", error=BADKEY),
            facts(KNOT, knows=False),
            "for a key it does not have and for one that no acl",
            "acl",
            True,
        ),
        # BIND, an unknown key (or algorithm).
        (
            reply("NOTAUTH", error=BADKEY),
            facts(BIND, knows=False),
            "does not know a key named 'certv6-key'",
            "install the same key",
            True,
        ),
        # PowerDNS allow-dnsupdate-from / TSIG-ALLOW-DNSUPDATE.
        (
            reply("REFUSED"),
            facts(PDNS),
            "refused the update from 2001:db8::10",
            "allow-dnsupdate-from",
            True,
        ),
        # BIND update-policy.
        (reply("REFUSED"), facts(BIND), "may not change TXT records", "update-policy", True),
        # Not the zone's server at all (Knot: NOTAUTH unsigned; BIND/PowerDNS: signed).
        (
            reply("NOTAUTH", signed=False),
            facts(KNOT, serves=False, knows=False),
            "is not the primary of zone example.test.",
            "unset server",
            False,
        ),
        (
            reply("NOTAUTH"),
            facts(BIND, serves=False),
            "is not the primary of zone example.test.",
            "unset server",
            False,
        ),
        (reply("NOTAUTH", error=BADTIME), facts(BIND), "clock", "NTP", True),
        (reply("NOTIMP"), facts(BIND), "does not accept dynamic updates", "log", False),
    ],
)
def test_each_refusal_names_its_cause(
    answer: Reply, server: ServerFacts, cause: str, hint: str, credentials: bool
) -> None:
    refusal = explain(answer, server, WHERE)
    assert cause in refusal.cause
    assert hint in refusal.hint
    assert refusal.credentials is credentials


def test_a_secondary_given_as_server_is_named() -> None:
    secondary = Situation(ZONE, "[2001:db8::54]:53", "certv6-key", "hmac-sha256", True, False)
    refusal = explain(reply("REFUSED", error=BADKEY), facts(BIND, knows=False), secondary)
    assert "this server is not ns1.example.test, the primary named in the zone's SOA" in (
        refusal.cause
    )
    assert "unset server" in refusal.hint


def test_without_server_a_wrong_mname_is_named() -> None:
    found = Situation(ZONE, "[2001:db8::53]:53", "certv6-key", "hmac-sha256", False, True)
    refusal = explain(reply("NOTAUTH"), facts(BIND, serves=False), found)
    assert "the server named as primary in the SOA of example.test. does not serve" in (
        refusal.cause
    )


def test_an_unsigned_refused_is_read_not_a_network_error() -> None:
    # Knot answers a TSIG-signed query outside its zones with REFUSED and no TSIG record;
    # dnspython's own query functions raise "response requires a TSIG" for it.
    query = dns.message.make_query("certv6-key.", "SOA")
    query.use_tsig(dns.tsigkeyring.from_text({"certv6-key": "c2VjcmV0c2VjcmV0c2VjcmV0"}))
    query.to_wire()  # signs it
    unsigned = dns.message.Message(id=query.id)
    unsigned.flags = dns.flags.QR
    unsigned.question = list(query.question)
    unsigned.set_rcode(dns.rcode.REFUSED)
    parsed = parse_reply(unsigned.to_wire(), query, "::1")
    assert (parsed.rcode, parsed.signed, parsed.verified) == (dns.rcode.REFUSED, False, False)


@pytest.mark.parametrize(
    ("answer", "server", "cause", "hint"),
    [
        # BIND update-policy: a dns-01 key (zonesub TXT) asked to change AAAA.
        (reply("REFUSED"), facts(BIND), "may not change AAAA records", "to update AAAA at"),
        # Knot's acl refusal of a key it knows.
        (reply("NOTAUTH", error=BADKEY), facts(KNOT), "policy", "update-type: [AAAA]"),
        (
            reply("NOTAUTH", error=BADKEY),
            facts(KNOT, knows=False),
            "no acl",
            "update-type: [AAAA]",
        ),
    ],
)
def test_a_refused_aaaa_update_names_aaaa_not_txt(
    answer: Reply, server: ServerFacts, cause: str, hint: str
) -> None:
    # certv6 aaaa (issue #21): the refusal is about the record type that was sent.
    aaaa = Situation(ZONE, "[2001:db8::53]:53", "certv6-key", "hmac-sha256", True, True, "AAAA")
    refusal = explain(answer, server, aaaa)
    assert cause in refusal.cause and hint in refusal.hint
    assert "TXT" not in refusal.cause + refusal.hint
    # certv6 delegate prints a dns-01 (TXT) policy: no use for AAAA, so not offered.
    assert "certv6 delegate" not in refusal.hint
