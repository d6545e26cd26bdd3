"""Why an RFC 2136 server refused an update, in words an operator can act on. Pure.

``explain`` gets the raw reply (rcode, TSIG record) and what the server said about
itself when asked afterwards (``dnsupdate.probe``), and names the one cause that
fits: wrong secret, unknown key, a policy that does not allow the key, a server
that is not the zone's primary, an address the server does not take updates from.
Causes are checked from the most certain to the least; the rcode's textbook
meaning (RFC 2136 section 2.2) is the last resort.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.rcode

from certv6.providers.dnsupdate import BADKEY, BADSIG, BADTIME, Reply, ServerFacts

# The textbook meaning of each rcode (RFC 2136 section 2.2), when nothing tells more.
RCODE_MEANING = {
    dns.rcode.REFUSED: "the server refused it",
    dns.rcode.NOTAUTH: "the server is not authoritative for the zone, or did not accept the key",
    dns.rcode.NOTZONE: "the record is not inside the zone the update named",
    dns.rcode.SERVFAIL: "the server failed to apply it (see its log)",
    dns.rcode.FORMERR: "the server could not parse the update",
    dns.rcode.NOTIMP: "the server does not accept dynamic updates",
    dns.rcode.YXDOMAIN: "a prerequisite failed: a name exists that should not",
    dns.rcode.YXRRSET: "a prerequisite failed: an RRset exists that should not",
    dns.rcode.NXRRSET: "a prerequisite failed: an RRset is missing",
    dns.rcode.NXDOMAIN: "a prerequisite failed: a name is missing",
}


@dataclass(frozen=True, slots=True)
class Situation:
    """Where the update went: what a refusal is explained against."""

    zone: str
    endpoint: str  # "[addr]:53"
    key_name: str
    algorithm: str
    server_configured: bool  # the ``server`` option, or the zone's SOA MNAME
    is_mname: bool | None  # the endpoint is an address of the SOA MNAME (None: unknown)
    rdtype: str = "TXT"  # the record type the update changes (AAAA for certv6 aaaa)


@dataclass(frozen=True, slots=True)
class Refusal:
    cause: str  # the whole sentence after "rcode: "
    hint: str
    credentials: bool  # the key or what it may do (ProviderAuthError), else ProviderError


def explain(reply: Reply, facts: ServerFacts, where: Situation) -> Refusal:
    """The cause of a refused update (``reply`` is not NOERROR-and-verified)."""
    for rule in (_clock, _secret, _not_authoritative, _key_refused, _key_not_accepted, _policy):
        found = rule(reply, facts, where)
        if found is not None:
            return found
    meaning = RCODE_MEANING.get(reply.rcode, "unexpected answer")
    return Refusal(meaning, "see the server's log for why", credentials=False)


def _clock(reply: Reply, facts: ServerFacts, where: Situation) -> Refusal | None:
    if reply.tsig_error != BADTIME:
        return None
    return Refusal(
        "TSIG BADTIME: this host's clock is too far from the server's",
        "check NTP on both hosts",
        credentials=True,
    )


def _secret(reply: Reply, facts: ServerFacts, where: Situation) -> Refusal | None:
    # BIND and Knot say BADSIG, in the answer to the update or to the signed probe.
    if BADSIG not in (reply.tsig_error, facts.key_error):
        return None
    return Refusal(
        f"TSIG BADSIG: the server did not accept the signature of key {where.key_name!r}"
        f" ({where.algorithm}): the secret differs from the server's copy of the key",
        "copy the key file from the server again (the secret, name and algorithm must match)",
        credentials=True,
    )


def _not_authoritative(reply: Reply, facts: ServerFacts, where: Situation) -> Refusal | None:
    if facts.serves_zone is not False:
        return None
    if where.server_configured:
        return Refusal(
            f"this server is not the primary of zone {where.zone}: it does not even serve it",
            f"unset server in [provider.rfc2136] (certv6 then sends each zone's updates to the "
            f"primary its SOA names), or set server to the primary of {where.zone}",
            credentials=False,
        )
    return Refusal(
        f"the server named as primary in the SOA of {where.zone} does not serve the zone",
        f"fix the SOA MNAME of {where.zone}, or set server = '[addr]:53' to its real primary",
        credentials=False,
    )


def _key_refused(reply: Reply, facts: ServerFacts, where: Situation) -> Refusal | None:
    # Knot answers an update its ACL does not allow with NOTAUTH + BADKEY, for a key it knows.
    if reply.tsig_error != BADKEY or facts.knows_key is not True:
        return None
    software = f"{facts.software} " if facts.software else "the server "
    return Refusal(
        f"{software}knows key {where.key_name!r} but its policy does not let it make this"
        f" update (it answers NOTAUTH with TSIG BADKEY)",
        f"allow key {where.key_name} to update {where.rdtype} at these names in zone"
        f" {where.zone} (Knot: an acl with action: update, update-type: [{where.rdtype}]"
        f"{_delegate_note(where)})",
        credentials=True,
    )


def _key_not_accepted(reply: Reply, facts: ServerFacts, where: Situation) -> Refusal | None:
    unsigned = not reply.signed and facts.knows_key is False
    if reply.tsig_error != BADKEY and not unsigned:
        return None
    key = f"key {where.key_name!r} ({where.algorithm})"
    secondary = _secondary_note(facts, where)
    if unsigned:
        # PowerDNS: REFUSED (or NOTAUTH) without a TSIG record, for a wrong secret and for
        # a key it does not have alike.
        fix = (
            "compare it with 'pdnsutil list-tsig-keys' on the server"
            if "powerdns" in facts.software.lower()
            else "copy the key file from the server again"
        )
        return Refusal(
            f"the server answered without a TSIG record: it did not accept {key}: the secret"
            f" differs from the server's copy, or it has no key of that name and algorithm"
            f"{secondary}",
            f"{fix} (the name, algorithm and secret must match)",
            credentials=True,
        )
    if facts.software.lower().startswith("knot"):
        return Refusal(
            f"{facts.software} refused {key} with TSIG BADKEY: Knot answers so for a key it"
            f" does not have and for one that no acl of zone {where.zone} allows{secondary}",
            f"check the key on the server (name, algorithm, secret) and give zone {where.zone}"
            f" an acl for it with action: update, update-type: [{where.rdtype}]",
            credentials=True,
        )
    return Refusal(
        f"the server does not know a key named {where.key_name!r} with algorithm"
        f" {where.algorithm}{secondary}",
        "install the same key on the server (name, algorithm and secret must match)"
        + ("; or unset server to reach the primary" if secondary else ""),
        credentials=True,
    )


def _policy(reply: Reply, facts: ServerFacts, where: Situation) -> Refusal | None:
    if reply.rcode not in (dns.rcode.REFUSED, dns.rcode.NOTAUTH):
        return None
    secondary = _secondary_note(facts, where)
    if "powerdns" in facts.software.lower():
        return Refusal(
            f"{facts.software} refused the update from {reply.source}: PowerDNS takes updates"
            " only from addresses in allow-dnsupdate-from (default: loopback only) and only"
            f" with keys listed in the zone's TSIG-ALLOW-DNSUPDATE metadata{secondary}",
            f"add {reply.source} to allow-dnsupdate-from in pdns.conf (or to the zone's"
            f" ALLOW-DNSUPDATE-FROM metadata), and run 'pdnsutil set-meta"
            f" {where.zone.rstrip('.')} TSIG-ALLOW-DNSUPDATE {where.key_name}'",
            credentials=True,
        )
    if reply.rcode == dns.rcode.NOTAUTH:
        return Refusal(
            f"the server serves zone {where.zone} but does not take updates for it{secondary}",
            "send updates to the zone's primary (unset server to use its SOA MNAME)",
            credentials=False,
        )
    return Refusal(
        f"the server refused it: key {where.key_name!r} may not change {where.rdtype} records"
        f" at these names, or this host ({reply.source}) may not send updates{secondary}",
        f"allow key {where.key_name} to update {where.rdtype} at these names in the server's"
        f" update-policy (BIND) or acl (Knot){_delegate_note(where)}",
        credentials=True,
    )


def _secondary_note(facts: ServerFacts, where: Situation) -> str:
    if where.is_mname is not False or not facts.mname:
        return ""
    return f"; this server is not {facts.mname.rstrip('.')}, the primary named in the zone's SOA"


def _delegate_note(where: Situation) -> str:
    # certv6 delegate prints a policy for dns-01 TXT only; for other types it would mislead.
    return "; certv6 delegate prints one" if where.rdtype == "TXT" else ""
