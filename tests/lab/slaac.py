"""A second link for the lab's client, with a router that sends real router advertisements.

    with Uplink.create(lab) as uplink:          # a veth pair: bridge namespace <-> client
        uplink.advertise(Prefix("fd00:c6:1:1::/64"))
        uplink.settle()                         # until duplicate address detection is over
        uplink.addresses()                      # what the client's kernel made of it

The client's kernel forms the addresses itself (SLAAC, RFC 4862) from the
prefixes in each advertisement (RFC 4861 4.2, 4.6.2): with addr_gen_mode 3 a
stable-privacy one (RFC 7217, flag ``stable-privacy``) and, with use_tempaddr 2,
a temporary one (RFC 8981, flag ``temporary``); a prefix advertised with
preferred lifetime 0 makes both ``deprecated``. A token (``ip token``) makes
``<prefix>::<token>`` instead of the stable-privacy identifier. So the flags
certv6 reads are the kernel's own, not set by hand.

The advertisement has router lifetime 0 (not a default router, RFC 4861 4.2),
so the client's routes stay as the lab made them, and the link is the client's
only: other lab hosts see nothing. Both ends go with the lab's namespaces.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from .errors import LabError
from .netns import run_ip
from .ra import Prefix

__all__ = ["Prefix", "Uplink"]

ROUTER_LINK_LOCAL = "fe80::1"
RA_SCRIPT = Path(__file__).with_name("ra.py")


class Uplink:
    """The client end is ``name`` in the client namespace; the router end is in the bridge's."""

    def __init__(self, lab: Any, name: str) -> None:
        self.lab = lab
        self.name = name
        self.router_end = "rt" + name[2:]

    @classmethod
    def create(cls, lab: Any, *, token: str | None = None) -> Uplink:
        uplink = cls(lab, "ul" + secrets.token_hex(3))
        uplink._build(token)
        return uplink

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def _build(self, token: str | None) -> None:
        client, bridge = self.lab.netns("client"), self.lab.netns("bridge")
        self._ip(
            "-n",
            bridge,
            "link",
            "add",
            self.router_end,
            "type",
            "veth",
            "peer",
            "name",
            self.name,
            "netns",
            client,
        )
        conf = f"net.ipv6.conf.{self.name}"
        # accept_ra 2: even if forwarding were on; addr_gen_mode 3: random stable-privacy
        # (RFC 7217) without a stable_secret; use_tempaddr 2: make and prefer temporary ones;
        # max_addresses: the kernel stops forming addresses at 16 per link (temporary ones
        # count), and a test that renumbers eight times would silently get no new ones.
        mode = "0" if token else "3"
        self._sysctl(
            client,
            f"{conf}.accept_ra=2",
            f"{conf}.autoconf=1",
            f"{conf}.use_tempaddr=2",
            f"{conf}.max_addresses=256",
            f"{conf}.addr_gen_mode={mode}",
        )
        self._ip("-n", client, "link", "set", self.name, "up")
        if token:
            self._ip("-n", client, "token", "set", token, "dev", self.name)
        # The router itself takes no addresses from its own advertisements.
        self._sysctl(
            bridge,
            f"net.ipv6.conf.{self.router_end}.addr_gen_mode=1",
            f"net.ipv6.conf.{self.router_end}.accept_ra=0",
        )
        self._ip("-n", bridge, "link", "set", self.router_end, "up")
        self._ip(
            "-n",
            bridge,
            "address",
            "add",
            f"{ROUTER_LINK_LOCAL}/64",
            "dev",
            self.router_end,
            "nodad",
        )

    def advertise(self, *prefixes: Prefix) -> None:
        """One RA with these prefixes, sent from the router end (in the bridge namespace)."""
        specs = [f"{p.network},{p.valid},{p.preferred}" for p in prefixes]
        done = self.lab.run_in(
            "bridge", [sys.executable, str(RA_SCRIPT), self.router_end, *specs], timeout=30
        )
        if done.returncode != 0:
            raise RuntimeError(f"sending the RA failed: {done.stderr.strip()}")

    def addresses(self) -> list[dict[str, Any]]:
        """``ip -j addr`` of the client end: address, flags as ip prints them, lifetimes."""
        out = self._ip(
            "-n", self.lab.netns("client"), "-j", "-6", "address", "show", "dev", self.name
        )
        found = []
        for link in json.loads(out or "[]"):
            for info in link.get("addr_info", []):
                flags = {k for k, v in info.items() if v is True}
                found.append({"address": info["local"], "scope": info.get("scope"), "flags": flags})
        return found

    def global_addresses(self, *flags: str, without: tuple[str, ...] = ()) -> list[str]:
        return [
            a["address"]
            for a in self.addresses()
            if a["scope"] == "global" and set(flags) <= a["flags"] and not set(without) & a["flags"]
        ]

    def settle(self, timeout: float = 15.0) -> None:
        """Wait until no address of the link is tentative any more (DAD takes about 1 s)."""
        deadline = time.monotonic() + timeout
        while any("tentative" in a["flags"] for a in self.addresses()):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.name}: addresses still tentative after {timeout} s")
            time.sleep(0.1)

    def add(self, address: str, *flags: str) -> None:
        self._ip(
            "-n", self.lab.netns("client"), "address", "add", address, "dev", self.name, *flags
        )

    def flush(self, prefix: str) -> None:
        """Remove every address of the link inside ``prefix`` (ip address flush ... to)."""
        self._ip(
            "-n", self.lab.netns("client"), "-6", "address", "flush", "dev", self.name, "to", prefix
        )

    def remove(self) -> None:
        if not self.lab.stopped:
            self._ip("-n", self.lab.netns("bridge"), "link", "del", self.router_end, check=False)

    def _ip(self, *args: str, check: bool = True) -> str:
        try:
            return run_ip(list(args))
        except LabError:
            if check:
                raise
            return ""  # best effort on the way out: the namespace may be gone already

    def _sysctl(self, namespace: str, *settings: str) -> None:
        for setting in settings:
            key, _, value = setting.partition("=")
            path = "/proc/sys/" + key.replace(".", "/")
            done = self.lab.run_in(
                "client" if namespace == self.lab.netns("client") else "bridge",
                ["sh", "-c", f"echo {value} > {path}"],
            )
            if done.returncode != 0:
                raise RuntimeError(f"{setting} in {namespace}: {done.stderr.strip()}")
