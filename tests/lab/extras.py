"""Starting the lab's NAT64 (at lab start) and its other DNS servers (on demand).

tayga runs in the nat64 host: it needs its tun device, routes for the NAT64 prefix and
its IPv4 pool, and forwarding in that namespace. Knot, PowerDNS and NSD start only when
a test asks (``Lab.start_servers``), so the lab itself starts as fast as before.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from . import probes, servers
from .errors import LabError
from .netns import run_ip
from .plan import NAT64_PREFIX, TAYGA_ROUTES
from .prereq import find_binary

if TYPE_CHECKING:
    from .instance import Lab


def start_tayga(lab: Lab) -> None:
    """Create tayga's tun device, route the prefix and the pool into it, and run it."""
    directory = lab.workdir / "tayga"
    conf = directory / "tayga.conf"
    tayga = _binary("tayga")
    netns = lab.netns("nat64")
    _run([lab.ip, "netns", "exec", netns, tayga, "--mktun", "-c", str(conf)])
    batch = (
        "link set nat64 up\n"
        f"route add {NAT64_PREFIX} dev nat64\n"
        f"route add {TAYGA_ROUTES} dev nat64\n"
    )
    run_ip(["-n", netns, "-batch", "-"], ip=lab.ip, input=batch)
    forwarding = ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]
    _run([lab.ip, "netns", "exec", netns, _binary("sysctl"), "-qw", *forwarding])
    lab.spawn("tayga", "nat64", [tayga, "--nodetach", "-c", str(conf)], cwd=directory)


def start_servers(lab: Lab, *, timeout: float) -> None:
    """Write the configs of Knot, PowerDNS and NSD, start them, wait until all answer."""
    plan = lab.plan
    keys = [lab.tsig_key_file, lab.limited_key_file, lab.admin_key_file]
    knot = lab.workdir / "knot"
    knot.mkdir(mode=0o700)
    (knot / "knot.conf").write_text(servers.knot_conf(plan, knot, keys))
    (knot / "knot.test.zone").write_text(servers.knot_zone(plan))
    pdns = lab.workdir / "pdns"
    pdns.mkdir(mode=0o700)
    (pdns / "pdns.conf").write_text(servers.pdns_conf(plan, pdns))
    servers.pdns_database(plan, pdns / "pdns.sqlite3", lab.tsig_key_file)
    nsd = lab.workdir / "nsd"
    nsd.mkdir(mode=0o700)
    (nsd / "nsd.conf").write_text(servers.nsd_conf(plan, nsd))
    for name, text in servers.nsd_zone_files(plan).items():
        (nsd / name).write_text(text)
    lab.spawn("knotd", "knot", [_binary("knotd"), "-c", str(knot / "knot.conf")], cwd=knot)
    lab.spawn("pdns", "pdns", [_binary("pdns_server"), f"--config-dir={pdns}"], cwd=pdns)
    nsd_argv = [_binary("nsd"), "-d", "-c", str(nsd / "nsd.conf")]
    lab.spawn("nsd", "nsd", nsd_argv, cwd=nsd)
    checks = [
        ("knotd", plan.addr("knot"), servers.KNOT_ZONE),
        ("pdns", plan.addr("pdns"), servers.PDNS_ZONE),
        ("pdns", plan.addr("pdns"), servers.FROZEN_ZONE),
        ("pdns", plan.addr("pdns"), servers.CLOSED_ZONE),
        ("pdns", plan.addr("pdns"), servers.KNOT_ZONE),
        *(("nsd", plan.addr("nsd"), zone) for zone in servers.NSD_ZONES),
    ]
    lab.wait_for(
        [
            (f"{daemon} answers for {zone}", daemon, _soa(address, zone))
            for daemon, address, zone in checks
        ],
        timeout=timeout,
    )


def spawn_upstream_pebble(lab: Lab, binary: Path, env: dict[str, str]) -> None:
    """Run the upstream Pebble build in the CA's namespace (the caller waits for it)."""
    ca = lab.workdir / "ca"
    argv = [
        str(binary),
        "-config",
        str(ca / "upstream-pebble-config.json"),
        "-dnsserver",
        f"[{lab.ca_resolver}]:53",
    ]
    lab.spawn("pebble-upstream", "ca", argv, cwd=ca, env=env)


def _soa(address: str, zone: str) -> Callable[[], object]:
    # Over TCP: NSD's rate limit must not slow the readiness checks down.
    return lambda: probes.soa_serial(address, zone, timeout=0.5, tcp=True)


def _binary(name: str) -> str:
    found = find_binary(name)
    if found is None:
        raise LabError(f"{name} is not installed (see scripts/bootstrap)")
    return str(found)


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
