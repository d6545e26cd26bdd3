"""Configuration for the lab's other DNS servers: tayga (NAT64), Knot, PowerDNS and NSD.

Pure functions of the Plan and a few paths, like configs.py. Zones they serve:

    knot.test.    Knot primary (RFC 2136 + TSIG, ACL: certv6-key TXT only, admin-key
                  anything; Knot knows limited-key but no ACL lets it update);
                  secondaries NSD and PowerDNS. NS lists knot + nsd: PowerDNS is a
                  stealth secondary until a test adds it to the NS set.
    pdns.test.    PowerDNS primary (sqlite3 backend, dnsupdate, TSIG-ALLOW-DNSUPDATE
                  certv6-key, ALLOW-DNSUPDATE-FROM the lab network); secondary NSD.
    frozen.test.  the same, but SOA-EDIT-DNSUPDATE=NONE: updates never raise the serial.
    closed.test.  PowerDNS primary that takes no updates from the lab's addresses.
    kacme.test.   delegated to the knot host's second address, where a test runs a
                  knotd configured from what `certv6 delegate` prints.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from .plan import NAT64_PREFIX, NS1_IPV4, TAYGA_IPV4, TAYGA_POOL, Plan

KNOT_ZONE = "knot.test."
PDNS_ZONE = "pdns.test."
FROZEN_ZONE = "frozen.test."
CLOSED_ZONE = "closed.test."
KACME_ZONE = "kacme.test."
PDNS_SCHEMA = Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")
TTL = 30
SOA_TIMERS = "1 3600 600 86400 1"  # serial 1, refresh 3600: NOTIFY is the secondaries' trigger
# NSD's response rate limit, as real servers run it (an identical answer more than 10
# times a second to one client gets a truncated "slip" or nothing).
NSD_RRL_PER_SECOND = 10


def delegations(plan: Plan) -> list[str]:
    """NS + glue lines in ``test.`` for the zones these servers serve."""
    knot, pdns, nsd = plan.addr("knot"), plan.addr("pdns"), plan.addr("nsd")
    lines = [
        "knot NS knot.knot",
        "knot NS nsd.knot",
        f"knot.knot AAAA {knot}",
        f"nsd.knot AAAA {nsd}",
        "pdns NS pdns.pdns",
        "pdns NS nsd.pdns",
        f"pdns.pdns AAAA {pdns}",
        f"nsd.pdns AAAA {nsd}",
        "kacme NS ns.kacme",
        f"ns.kacme AAAA {plan.addr('knot_delegate')}",
    ]
    for zone in ("frozen", "closed"):
        lines += [f"{zone} NS pdns.pdns.test.", f"{zone} NS nsd.pdns.test."]
    return lines


def _zone(origin: str, mname: str, records: list[str]) -> str:
    head = [
        f"$ORIGIN {origin}",
        f"$TTL {TTL}",
        f"@ SOA {mname} hostmaster.{origin} {SOA_TIMERS}",
    ]
    return "\n".join(head + records) + "\n"


def knot_zone(plan: Plan) -> str:
    return _zone(
        KNOT_ZONE,
        f"knot.{KNOT_ZONE}",
        [
            f"@ NS knot.{KNOT_ZONE}",
            f"@ NS nsd.{KNOT_ZONE}",
            f"knot AAAA {plan.addr('knot')}",
            f"nsd AAAA {plan.addr('nsd')}",
            f"pdns AAAA {plan.addr('pdns')}",
        ],
    )


def pdns_zone(plan: Plan, origin: str) -> str:
    in_zone = origin == PDNS_ZONE
    records = ["@ NS pdns.pdns.test.", "@ NS nsd.pdns.test."]
    if in_zone:
        records += [f"pdns AAAA {plan.addr('pdns')}", f"nsd AAAA {plan.addr('nsd')}"]
    return _zone(origin, f"pdns.{PDNS_ZONE}", records)


def kacme_zone(plan: Plan) -> str:
    return _zone(
        KACME_ZONE,
        f"ns.{KACME_ZONE}",
        [f"@ NS ns.{KACME_ZONE}", f"ns AAAA {plan.addr('knot_delegate')}"],
    )


def read_key(path: Path) -> tuple[str, str, str]:
    """(name, algorithm, secret) of a BIND key file."""
    text = path.read_text()
    name = re.search(r'key\s+"([^"]+)"', text)
    algorithm = re.search(r"algorithm\s+([\w-]+)", text)
    secret = re.search(r'secret\s+"([^"]+)"', text)
    if not (name and algorithm and secret):
        raise ValueError(f"{path} is not a BIND key file")
    return name.group(1), algorithm.group(1), secret.group(1)


# --- tayga -------------------------------------------------------------------------------


def tayga_conf(plan: Plan, data_dir: Path) -> str:
    """Stateless NAT64 (RFC 7915) under the lab's network-specific prefix.

    IPv6 clients get an address of the dynamic pool; ns1 has a fixed one, so ns4 can
    name it as the primary it transfers aonly.test from.
    """
    return (
        "tun-device nat64\n"
        f"ipv4-addr {TAYGA_IPV4}\n"
        f"prefix {NAT64_PREFIX}\n"
        f"dynamic-pool {TAYGA_POOL}\n"
        f"data-dir {data_dir}\n"
        f"map {NS1_IPV4} {plan.addr('ns1')}\n"
    )


# --- Knot --------------------------------------------------------------------------------


def knot_keys(key_files: list[Path]) -> str:
    lines = ["key:"]
    for path in key_files:
        name, algorithm, secret = read_key(path)
        lines += [f"  - id: {name}", f"    algorithm: {algorithm}", f"    secret: {secret}"]
    return "\n".join(lines) + "\n"


def knot_server(listen: str, directory: Path) -> str:
    """The server, log and default-template sections every lab knotd shares."""
    return f"""server:
    listen: {listen}@53
    rundir: {directory}
    user: root:root
log:
  - target: stderr
    any: info
database:
    storage: {directory}
template:
  - id: default
    storage: {directory}
    zonefile-sync: -1
    journal-content: changes
"""


def knot_conf(plan: Plan, directory: Path, key_files: list[Path]) -> str:
    """Knot primary for knot.test: certv6-key may update TXT, admin-key anything."""
    main, limited, admin = (read_key(path)[0] for path in key_files)
    nsd, pdns = plan.addr("nsd"), plan.addr("pdns")
    return (
        knot_server(plan.addr("knot"), directory)
        + knot_keys(key_files)
        + f"""remote:
  # via: the knot host has a second address; NOTIFY must come from the primary's own.
  - id: nsd
    address: {nsd}@53
    via: {plan.addr("knot")}
  - id: pdns
    address: {pdns}@53
    via: {plan.addr("knot")}
acl:
  - id: txt-update
    key: {main}
    action: update
    update-type: [TXT]
  - id: admin-update
    key: {admin}
    action: update
  - id: transfer
    address: {plan.network}
    action: transfer
zone:
  - domain: {KNOT_ZONE}
    file: {directory}/knot.test.zone
    notify: [nsd, pdns]
    acl: [txt-update, admin-update, transfer]
"""
        + f"# {limited} is known (a key section above) but no ACL lets it update.\n"
    )


# --- PowerDNS ----------------------------------------------------------------------------


def pdns_conf(plan: Plan, directory: Path) -> str:
    return f"""launch=gsqlite3
gsqlite3-database={directory}/pdns.sqlite3
# Write-ahead log: updates, transfers and the notify bookkeeping at start-up write at
# once; with the default rollback journal one of them got SERVFAIL (database locked).
gsqlite3-pragma-journal-mode=WAL
local-address={plan.addr("pdns")}
local-port=53
socket-dir={directory}
daemon=no
guardian=no
disable-syslog=yes
loglevel=6
setuid=
setgid=
primary=yes
secondary=yes
dnsupdate=yes
# Updates only from the addresses a zone's ALLOW-DNSUPDATE-FROM metadata lists.
allow-dnsupdate-from=
allow-notify-from={plan.network}
allow-axfr-ips={plan.network}
version-string=full
# PowerDNS sends NOTIFY for an updated zone when its communicator next runs, every
# xfr-cycle-interval seconds (default 60: secondaries then lag up to a minute). Short
# here so the tests that wait for it stay short; the lag is real all the same.
xfr-cycle-interval=3
"""


def pdns_database(plan: Plan, path: Path, key_file: Path) -> None:
    """The sqlite3 backend: zones, records, the TSIG key and each zone's metadata."""
    name, algorithm, secret = read_key(key_file)
    with sqlite3.connect(path) as db:
        db.executescript(PDNS_SCHEMA.read_text())
        db.execute(
            "INSERT INTO tsigkeys (name, algorithm, secret) VALUES (?, ?, ?)",
            (name, algorithm, secret),
        )
        for origin in (PDNS_ZONE, FROZEN_ZONE, CLOSED_ZONE):
            zone_id = _pdns_add_zone(db, origin, pdns_zone(plan, origin), "MASTER", "")
            meta = [("TSIG-ALLOW-DNSUPDATE", name), ("ALSO-NOTIFY", plan.addr("nsd"))]
            if origin != CLOSED_ZONE:
                meta.append(("ALLOW-DNSUPDATE-FROM", str(plan.network)))
            if origin == FROZEN_ZONE:
                meta.append(("SOA-EDIT-DNSUPDATE", "NONE"))
            db.executemany(
                "INSERT INTO domainmetadata (domain_id, kind, content) VALUES (?, ?, ?)",
                [(zone_id, kind, content) for kind, content in meta],
            )
        # A secondary of knot.test, seeded with Knot's initial copy.
        _pdns_add_zone(db, KNOT_ZONE, knot_zone(plan), "SLAVE", plan.addr("knot"))


def _pdns_add_zone(db: sqlite3.Connection, origin: str, text: str, kind: str, primary: str) -> int:
    apex = origin.rstrip(".")
    # notified_serial / last_check as if serial 1 had been sent and checked already: else
    # PowerDNS writes them at start-up, in the middle of the first tests' updates.
    cursor = db.execute(
        "INSERT INTO domains (name, type, master, notified_serial, last_check)"
        " VALUES (?, ?, ?, 1, strftime('%s', 'now'))",
        (apex, kind, primary),
    )
    zone_id = int(cursor.lastrowid or 0)
    rows = []
    for line in text.splitlines():
        if line.startswith("$"):
            continue
        owner, rtype, content = line.split(maxsplit=2)
        name = apex if owner == "@" else f"{owner}.{apex}"
        rows.append((zone_id, name, rtype, _pdns_content(rtype, content), TTL, 0, 0, 1))
    db.executemany(
        "INSERT INTO records (domain_id, name, type, content, ttl, prio, disabled, auth)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    return zone_id


def _pdns_content(rtype: str, content: str) -> str:
    # PowerDNS stores names without the final dot.
    if rtype in ("NS", "SOA"):
        return " ".join(part.rstrip(".") for part in content.split())
    return content


# --- NSD ---------------------------------------------------------------------------------


def nsd_conf(plan: Plan, directory: Path) -> str:
    """NSD: secondary of knot.test (from Knot) and of the PowerDNS zones, with RRL on."""
    knot, pdns = plan.addr("knot"), plan.addr("pdns")
    zones = [(zone, knot if zone == KNOT_ZONE else pdns) for zone in NSD_ZONES]
    out = f"""server:
    ip-address: {plan.addr("nsd")}
    port: 53
    do-ip4: no
    username: ""
    chroot: ""
    zonesdir: "{directory}"
    pidfile: ""
    xfrdfile: "{directory}/xfrd.state"
    zonelistfile: "{directory}/zone.list"
    database: ""
    verbosity: 2
    rrl-ratelimit: {NSD_RRL_PER_SECOND}
    rrl-slip: 2
    rrl-ipv6-prefix-length: 64
remote-control:
    control-enable: no
"""
    for origin, primary in zones:
        out += (
            f"zone:\n    name: {origin}\n    zonefile: {origin}zone\n"
            f"    allow-notify: {primary} NOKEY\n    request-xfr: AXFR {primary} NOKEY\n"
        )
    return out


NSD_ZONES = (KNOT_ZONE, PDNS_ZONE, FROZEN_ZONE, CLOSED_ZONE)


def nsd_zone_files(plan: Plan) -> dict[str, str]:
    """Seed copies (serial 1), so NSD answers at once, like the BIND secondaries."""
    return {
        f"{zone}zone": knot_zone(plan) if zone == KNOT_ZONE else pdns_zone(plan, zone)
        for zone in NSD_ZONES
    }
