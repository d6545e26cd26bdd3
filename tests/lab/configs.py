"""Configuration text for every lab daemon: zone files, named.conf, unbound.conf, Pebble.

Pure functions of the Plan (and a few paths), so they are easy to read side by side.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import servers
from .plan import (
    IPV4ONLY_ADDRESSES,
    NAT64_PREFIX,
    NS1_IPV4,
    NS4_IPV4,
    PEBBLE_MANAGEMENT_PORT,
    PEBBLE_PORT,
    RELAY_PORT,
    UPSTREAM_PEBBLE_MANAGEMENT_PORT,
    UPSTREAM_PEBBLE_PORT,
    Plan,
)

ZONE = "certv6.test."
CHALLENGE_ZONE = "challenges.test."
AONLY_ZONE = "aonly.test."
PARTIAL_ZONE = "partial.test."
TLD_ZONE = "test."

# Keys the lab creates.  certv6-key may change TXT in every lab zone; limited-key only in
# certv6.test (so a test can watch a correctly scoped key being REFUSED elsewhere).
MAIN_KEY = "certv6-key"
LIMITED_KEY = "limited-key"
# admin-key may change any record type in every primary zone: tests use it to add the CAA,
# A and AAAA records they need (the keys above only change TXT, like real dns-01 keys).
ADMIN_KEY = "admin-key"
# scoped-key may change TXT at one name only (SCOPED_OWNER), as `certv6 delegate` scopes a key:
# a batch with another name is REFUSED as a whole, and certv6 must name the refused one.
SCOPED_KEY = "scoped-key"
SCOPED_OWNER = "_acme-challenge.scoped.certv6.test."

# A name for Pebble with only an IPv4 address (TEST-NET-1, unreachable from the lab): the
# IPv6-only client cannot reach it directly, only through a proxy that maps it to Pebble.
CA_V4ONLY = "ca-v4only"
CA_V4ONLY_IPV4 = "192.0.2.14"

# Short TTLs everywhere so caches never hide a change for long.  SOA minimum 1 keeps negative
# answers (NXDOMAIN for a not-yet-published _acme-challenge) nearly uncached.  refresh 3600
# makes NOTIFY the secondary's only trigger, which is what lets the relay control its lag.
DEFAULT_TTL = 30
INITIAL_SERIAL = 1


def _soa(mname: str) -> str:
    return f"@ SOA {mname} hostmaster.certv6.test. {INITIAL_SERIAL} 3600 600 86400 1"


def _zone_text(origin: str, mname: str, records: list[str]) -> str:
    head = [f"$ORIGIN {origin}", f"$TTL {DEFAULT_TTL}", _soa(mname)]
    return "\n".join(head + records) + "\n"


def tld_zone(plan: Plan) -> str:
    """``test.``: real delegations (NS + glue) for every lab zone."""
    return _zone_text(
        TLD_ZONE,
        "tld.test.",
        [
            "@ NS tld",
            f"tld AAAA {plan.addr('tld')}",
            "certv6 NS ns1.certv6",
            "certv6 NS ns2.certv6",
            f"ns1.certv6 AAAA {plan.addr('ns1')}",
            f"ns2.certv6 AAAA {plan.addr('ns2')}",
            "challenges NS ns3.challenges",
            f"ns3.challenges AAAA {plan.addr('ns3')}",
            "aonly NS ns1.certv6",
            "aonly NS ns4.aonly",
            f"ns4.aonly A {NS4_IPV4}",  # IPv4-only nameserver: reachable only through NAT64
            "partial NS ns1.certv6",
            "partial NS dead.partial",
            f"dead.partial AAAA {plan.addr('blackhole')}",
            # Served by Knot, PowerDNS and NSD once Lab.start_servers() ran (tests/lab/servers.py).
            *servers.delegations(plan),
        ],
    )


def certv6_zone(plan: Plan) -> str:
    client = plan.addr("client")
    return _zone_text(
        ZONE,
        "ns1.certv6.test.",
        [
            "@ NS ns1",
            "@ NS ns2",
            f"ns1 AAAA {plan.addr('ns1')}",
            f"ns2 AAAA {plan.addr('ns2')}",
            f"client AAAA {client}",
            f"www AAAA {client}",
            f"ca AAAA {plan.addr('ca')}",
            f"{CA_V4ONLY} A {CA_V4ONLY_IPV4}",
            # dns-01 delegated by CNAME into another zone, directly and through a second hop.
            "_acme-challenge.cname CNAME cname.challenges.test.",
            "_acme-challenge.cname2 CNAME hop",
            "hop CNAME cname2.challenges.test.",
            # A CNAME loop the client must detect rather than follow forever.
            "_acme-challenge.loop CNAME loop2",
            "loop2 CNAME _acme-challenge.loop",
            # Delegated to the client itself (it will answer there in a later feature).
            "_acme-challenge.standalone NS client",
        ],
    )


def challenges_zone(plan: Plan) -> str:
    return _zone_text(
        CHALLENGE_ZONE,
        "ns3.challenges.test.",
        ["@ NS ns3", f"ns3 AAAA {plan.addr('ns3')}"],
    )


def aonly_zone(plan: Plan) -> str:
    return _zone_text(
        AONLY_ZONE,
        "ns1.certv6.test.",
        ["@ NS ns1.certv6.test.", "@ NS ns4", f"ns4 A {NS4_IPV4}"],
    )


def partial_zone(plan: Plan) -> str:
    return _zone_text(
        PARTIAL_ZONE,
        "ns1.certv6.test.",
        ["@ NS ns1.certv6.test.", "@ NS dead", f"dead AAAA {plan.addr('blackhole')}"],
    )


# --- BIND -----------------------------------------------------------------------------------


def _named_options(plan: Plan, directory: Path, listen: str) -> str:
    return f"""options {{
    directory "{directory}";
    pid-file none;
    session-keyfile none;
    listen-on {{ none; }};
    listen-on-v6 {{ {listen}; }};
    recursion no;
    dnssec-validation no;
    notify-delay 0;
    // BIND's rate limiters release work in ticks of 10 events; at the default rate of 20/s
    // a tick is 500 ms, which would add up to 0.5 s to every NOTIFY and SOA check.  At 1000/s
    // a tick is 10 ms, so the relay alone decides how long the secondary lags.
    notify-rate 1000;
    startup-notify-rate 1000;
    serial-query-rate 1000;
    allow-query {{ any; }};
    allow-transfer {{ {plan.network}; {NAT64_PREFIX}; }};
    querylog yes;
}};
controls {{ }};
"""


def _key_includes(key_files: list[Path]) -> str:
    return "".join(f'include "{k}";\n' for k in key_files)


def _txt_policy(*keys: str, scoped: tuple[str, str] | None = None) -> str:
    grants = " ".join(f"grant {k} zonesub TXT;" for k in keys)
    if scoped:
        grants += f" grant {scoped[0]} name {scoped[1]} TXT;"
    return f"update-policy {{ {grants} grant {ADMIN_KEY} zonesub ANY; }};"


def named_conf(plan: Plan, role: str, directory: Path, key_files: list[Path]) -> str:
    """named.conf for one BIND role: tld, ns1, ns2, ns3 or ns4 (IPv4 only, behind NAT64)."""
    if role == "ns4":
        return _ipv4_only_named(directory)
    out = _named_options(plan, directory, f"{plan.addr(role)}")
    ns1 = plan.addr("ns1")
    if role == "tld":
        # admin-key may change the delegations (a test moves a zone's NS set).
        out += _key_includes([k for k in key_files if k.name == f"{ADMIN_KEY}.key"])
        out += (
            'zone "test" { type primary; file "test.db"; notify no; '
            f"update-policy {{ grant {ADMIN_KEY} zonesub ANY; }}; }};\n"
        )
    elif role == "ns1":
        out += _key_includes(key_files)
        # NOTIFY for certv6.test goes only to the lag relay, which forwards it to ns2.
        out += (
            f'zone "certv6.test" {{ type primary; file "certv6.test.db"; '
            f"{_txt_policy(MAIN_KEY, LIMITED_KEY, scoped=(SCOPED_KEY, SCOPED_OWNER))} "
            f"notify explicit; also-notify {{ {ns1} port {RELAY_PORT}; }}; }};\n"
        )
        # ns4 (IPv4 only) copies aonly.test through the NAT64, without lag.
        out += (
            f'zone "aonly.test" {{ type primary; file "aonly.test.db"; '
            f"{_txt_policy(MAIN_KEY)} "
            f"notify explicit; also-notify {{ {plan.nat64_ns_addr}; }}; }};\n"
        )
        out += (
            f'zone "partial.test" {{ type primary; file "partial.test.db"; '
            f"{_txt_policy(MAIN_KEY)} notify no; }};\n"
        )
    elif role == "ns2":
        out += _secondary("certv6.test", ns1)
    elif role == "ns3":
        # ns3 knows limited-key too, so using it here is REFUSED (not a BADKEY TSIG error).
        out += _key_includes(key_files)
        out += (
            f'zone "challenges.test" {{ type primary; file "challenges.test.db"; '
            f"{_txt_policy(MAIN_KEY)} notify no; }};\n"
        )
    else:
        raise ValueError(f"no BIND in role {role}")
    return out


def _ipv4_only_named(directory: Path) -> str:
    """ns4.aonly.test: IPv4 only. It reaches ns1 (and ns1 it) only through the NAT64, where
    ns1 appears as NS1_IPV4 (a fixed tayga mapping) and ns4 as its address under the prefix."""
    return f"""options {{
    directory "{directory}";
    pid-file none;
    session-keyfile none;
    listen-on {{ {NS4_IPV4}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify-rate 1000;
    serial-query-rate 1000;
    allow-query {{ any; }};
    querylog yes;
}};
controls {{ }};
{_secondary("aonly.test", NS1_IPV4)}"""


def _secondary(zone: str, primary: str) -> str:
    # The zone file is pre-seeded with the primary's initial copy, so the secondary answers
    # at once and is in step without waiting for the primary to come up first.
    return (
        f'zone "{zone}" {{ type secondary; primaries {{ {primary}; }}; '
        f'file "{zone}.db"; masterfile-format text; allow-notify {{ {primary}; }}; '
        f"notify no; }};\n"
    )


def named_zone_files(plan: Plan, role: str) -> dict[str, str]:
    """Zone files to write into a BIND role's directory before it starts."""
    return {
        "tld": {"test.db": tld_zone(plan)},
        "ns1": {
            "certv6.test.db": certv6_zone(plan),
            "aonly.test.db": aonly_zone(plan),
            "partial.test.db": partial_zone(plan),
        },
        "ns2": {"certv6.test.db": certv6_zone(plan)},
        "ns3": {"challenges.test.db": challenges_zone(plan)},
        "ns4": {"aonly.test.db": aonly_zone(plan)},
    }[role]


# --- unbound --------------------------------------------------------------------------------

RESOLVER_KINDS = ("client", "client_nat64", "ca")


def unbound_conf(plan: Plan, kind: str, directory: Path) -> str:
    """A resolver that only knows the lab: everything outside ``test.`` is refused."""
    listen = {
        "client": plan.client_resolver,
        "client_nat64": plan.client_resolver_nat64,
        "ca": plan.ca_resolver,
    }[kind]
    lines = [
        "server:",
        "  verbosity: 1",
        "  use-syslog: no",
        '  logfile: ""',
        "  log-time-ascii: yes",
        "  do-daemonize: no",
        '  chroot: ""',
        '  username: ""',
        f'  directory: "{directory}"',
        f'  pidfile: "{directory}/unbound.pid"',
        f"  interface: {listen}",
        f"  outgoing-interface: {listen}",
        "  port: 53",
        "  do-ip4: no",
        "  do-ip6: yes",
        "  num-threads: 1",
        "  so-reuseport: no",
        f"  access-control: {plan.network} allow",
        f'  module-config: "{"dns64 iterator" if kind == "client_nat64" else "iterator"}"',
        # Nothing leaves the lab: refuse all names except the lab's own and ipv4only.arpa.
        '  local-zone: "." refuse',
        '  local-zone: "test." transparent',
        '  local-zone: "ipv4only.arpa." static',
        *[f'  local-data: "ipv4only.arpa. 3600 IN A {a}"' for a in IPV4ONLY_ADDRESSES],
    ]
    if kind == "client_nat64":
        # A DNS64 host (RFC 7050 discovery answers and synthesis under the lab's prefix).
        lines += [
            f'  local-data: "ipv4only.arpa. 3600 IN AAAA {a}"' for a in plan.ipv4only_synthesized
        ]
        lines += [f"  dns64-prefix: {NAT64_PREFIX}"]
    if kind == "ca":
        # Like a CA's validator: never answer from cache, so each lookup asks a nameserver.
        lines += ["  cache-max-ttl: 0", "  cache-max-negative-ttl: 0"]
    else:
        lines += ["  cache-max-ttl: 5", "  cache-max-negative-ttl: 1"]
    lines += ["stub-zone:", '  name: "test."', f"  stub-addr: {plan.addr('tld')}"]
    if kind == "ca":
        # Name both certv6.test servers: unbound picks one per query, so while the secondary
        # lags some validations see the old zone -- exactly what a real CA does.
        lines += [
            "stub-zone:",
            '  name: "certv6.test."',
            f"  stub-addr: {plan.addr('ns1')}",
            f"  stub-addr: {plan.addr('ns2')}",
            # partial.test's second nameserver is dead only from the client's side (the
            # blackhole host stands for a path the client lacks), as when a v6-only host
            # cannot reach a server the CA reaches. Without this, whether Pebble's
            # lookups survive unbound trying the dead address first depends on machine
            # load (its DNS client times out first): a flaky test, not a finding.
            "stub-zone:",
            '  name: "partial.test."',
            f"  stub-addr: {plan.addr('ns1')}",
        ]
    return "\n".join(lines) + "\n"


# --- Pebble ---------------------------------------------------------------------------------

PEBBLE_DEFAULT_ENV: dict[str, str] = {
    "PEBBLE_VA_NOSLEEP": "1",
    "PEBBLE_WFE_NONCEREJECT": "0",
    "PEBBLE_AUTHZREUSE": "0",
}


def pebble_conf(
    plan: Plan,
    cert: Path,
    key: Path,
    *,
    port: int = PEBBLE_PORT,
    management_port: int = PEBBLE_MANAGEMENT_PORT,
) -> str:
    ca = plan.addr("ca")
    return json.dumps(
        {
            "pebble": {
                "listenAddress": f"[{ca}]:{port}",
                "managementListenAddress": f"[{ca}]:{management_port}",
                "certificate": str(cert),
                "privateKey": str(key),
                # Unused (dns-01 only), but Pebble wants them set.
                "httpPort": 5002,
                "tlsPort": 5001,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
            }
        },
        indent=2,
    )


# The upstream Pebble build next to Debian's: same listener certificate, its own ports,
# and upstream's two profiles (pebble-config.example.json beside the binary). No
# retryAfter: its Retry-After headers would only slow the tests down.
UPSTREAM_PROFILES = {
    "default": {"description": "90 days", "validityPeriod": 90 * 86400},
    "shortlived": {"description": "6 days", "validityPeriod": 6 * 86400},
}


def upstream_pebble_conf(plan: Plan, cert: Path, key: Path) -> str:
    ca = plan.addr("ca")
    conf = json.loads(pebble_conf(plan, cert, key))
    conf["pebble"]["listenAddress"] = f"[{ca}]:{UPSTREAM_PEBBLE_PORT}"
    conf["pebble"]["managementListenAddress"] = f"[{ca}]:{UPSTREAM_PEBBLE_MANAGEMENT_PORT}"
    conf["pebble"]["profiles"] = UPSTREAM_PROFILES
    return json.dumps(conf, indent=2)
