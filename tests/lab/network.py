"""Create and remove a lab's namespaces, bridge, veths and addresses.

Nothing is configured in the root namespace: veth pairs are created inside the bridge
namespace with their peer placed straight into the host namespace.
"""

from __future__ import annotations

import shutil
import subprocess

from .errors import LabError
from .netns import NETNS_ETC_DIR, existing_namespaces, run_ip
from .plan import (
    HOST_ROLES,
    IPV4_ROLE,
    NAT64_PREFIX,
    NAT64_ROUTER_IPV4,
    NS4_IPV4,
    Plan,
)


def _bridge_batch(plan: Plan) -> str:
    br = plan.bridge_ifname
    lines = [
        "link set lo up",
        "address del 127.0.0.1/8 dev lo",  # ipv4-ok: removes IPv4 from lo
        f"link add {br} type bridge",
    ]
    for role in HOST_ROLES:
        port = plan.port_ifname(role)
        lines.append(
            f"link add {port} type veth peer name {plan.host_ifname} netns {plan.netns(role)}"
        )
        lines.append(f"link set {port} master {br} up")
    lines.append(f"link set {br} up")
    return "\n".join(lines) + "\n"


def _host_batch(plan: Plan, role: str) -> str:
    eth = plan.host_ifname
    # ipv4-ok: 127.0.0.1 goes away everywhere (the lab is IPv6-only: IPv4 use fails at once).
    lines = ["link set lo up", "address del 127.0.0.1/8 dev lo"]  # ipv4-ok: removed, not used
    # nodad: the address is usable immediately instead of after duplicate detection.
    lines += [f"address add {a}/64 dev {eth} nodad" for a in plan.host_addresses(role)]
    lines.append(f"link set {eth} up")
    if role == "nat64":
        # The NAT64 router's IPv4 side: a link to ns4 (tayga's tun device comes later).
        v4 = plan.ipv4_ifname
        lines += [
            f"link add {v4} type veth peer name {v4} netns {plan.netns(IPV4_ROLE)}",
            f"address add {NAT64_ROUTER_IPV4}/24 dev {v4}",
            f"link set {v4} up",
        ]
    else:
        lines.append(f"route add {NAT64_PREFIX} via {plan.addr('nat64')} dev {eth}")
    return "\n".join(lines) + "\n"


def _ipv4_host_batch(plan: Plan) -> str:
    """ns4: IPv4 only, reachable from the lab only through the NAT64."""
    v4 = plan.ipv4_ifname
    return (
        "link set lo up\n"
        f"address add {NS4_IPV4}/24 dev {v4}\n"
        f"link set {v4} up\n"
        f"route add default via {NAT64_ROUTER_IPV4}\n"
    )


def _resolv_conf_for(plan: Plan, role: str) -> str:
    # Pebble's host uses the CA resolver; every other host the client's ordinary one.
    server = plan.ca_resolver if role == "ca" else plan.client_resolver
    return f"nameserver {server}\noptions timeout:2 attempts:2\n"


def build(plan: Plan, *, ip: str) -> None:
    """Create every namespace and wire it to the lab segment."""
    for ns in plan.namespaces:
        run_ip(["netns", "add", ns], ip=ip)
    run_ip(["-n", plan.netns("bridge"), "-batch", "-"], ip=ip, input=_bridge_batch(plan))
    # The host namespaces are independent: configure them concurrently.
    procs = {
        role: subprocess.Popen(
            [ip, "-n", plan.netns(role), "-batch", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for role in HOST_ROLES
    }
    errors = []
    for role, proc in procs.items():
        _out, err = proc.communicate(_host_batch(plan, role), timeout=30)
        if proc.returncode != 0:
            errors.append(f"{role}: {err.strip()}")
    if errors:
        raise LabError("configuring lab namespaces failed: " + "; ".join(errors))
    # The nat64 host's batch made ns4's end of their link.
    run_ip(["-n", plan.netns(IPV4_ROLE), "-batch", "-"], ip=ip, input=_ipv4_host_batch(plan))
    for role in HOST_ROLES:
        etc = NETNS_ETC_DIR / plan.netns(role)
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(_resolv_conf_for(plan, role))


def destroy(namespaces: list[str], *, ip: str) -> list[str]:
    """Delete namespaces and their /etc/netns files; return the problems met (best effort)."""
    problems = []
    present = existing_namespaces()
    for ns in namespaces:
        if ns in present:
            try:
                run_ip(["netns", "del", ns], ip=ip)
            except LabError as exc:
                problems.append(str(exc))
        shutil.rmtree(NETNS_ETC_DIR / ns, ignore_errors=True)
    return problems
