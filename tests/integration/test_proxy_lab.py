"""A CA the IPv6-only client can reach only through an HTTPS proxy (CONNECT) or NAT64.

``ca-v4only.certv6.test`` has only an A record (192.0.2.14): the client has no IPv4 at
all, so it cannot reach that name directly. A CONNECT proxy (tests/fakes/connect_proxy.py)
runs in the resolver's namespace on its own lab address ``::3128``; it stands in for a
dual-stack proxy by connecting to Pebble's IPv6 address for that name (``--map``). Pebble's
certificate covers the name, so TLS through the tunnel is verified end to end. The last
test takes the NAT64 way instead (DNS64 resolver plus a TCP relay at the RFC 6052 address).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from certv6_run import CERTV6, Client, make_client

from jsonschemas import validated

pytestmark = pytest.mark.lab

PROXY_SCRIPT = Path(__file__).resolve().parents[1] / "fakes" / "connect_proxy.py"
PROXY_PORT = 3128
READY_WITHIN = 10.0


@dataclass
class Helper:
    """The proxy (or relay) process of tests/fakes/connect_proxy.py, in a lab namespace."""

    url: str
    process: subprocess.Popen[str]

    def log(self) -> str:
        """Everything it printed so far (it is stopped first)."""
        stop(self.process)
        out, _ = self.process.communicate(timeout=10)
        return out


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # its own session: the helper and nothing else
        process.wait(timeout=10)


@contextlib.contextmanager
def helper(lab: Any, role: str, address: str, port: int, *args: str) -> Iterator[Helper]:
    argv = [sys.executable, str(PROXY_SCRIPT), "--listen", f"[{address}]:{port}", *args]
    process = lab.popen_in(role, argv, stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([process.stdout], [], [], READY_WITHIN)
        assert ready and process.stdout is not None, "the helper did not start"
        assert process.stdout.readline().startswith("ready "), "the helper did not start"
        yield Helper(f"http://[{address}]:{port}", process)
    finally:
        stop(process)


@pytest.fixture
def proxy(lab: Any) -> Iterator[Helper]:
    address = lab.add_address("resolver", "3128")  # ...::3128, like [2001:db8::3128]:3128
    mapping = f"{lab.ca_v4only_host}={lab.ca_addr}"
    with helper(lab, "resolver", address, PROXY_PORT, "--map", mapping, "--deny", lab.ca_host) as h:
        yield h


@pytest.fixture
def client(lab: Any, tmp_path: Path) -> Client:
    client = make_client(lab, tmp_path)
    text = client.config.read_text().replace(lab.ca_directory, lab.ca_directory_v4only)
    client.config.write_text(text)
    return client


def run(lab: Any, client: Client, *args: str, env: dict[str, str] | None = None) -> Any:
    done = lab.run_in_client([CERTV6, "--config", str(client.config), *args], env=env, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def directory_check(done: Any) -> dict[str, Any]:
    report = validated("doctor", done.stdout)
    return next(c for c in report["checks"] if c["section"] == "ca" and c["check"] == "directory")


def test_without_the_proxy_doctor_and_issue_name_the_problem(lab: Any, client: Client) -> None:
    done = run(lab, client, "doctor", "--json")
    assert done.returncode == 13
    check = directory_check(done)
    assert check["status"] == "fail"
    assert check["message"] == f"{lab.ca_v4only_host} has no IPv6 address (only 192.0.2.14)"
    assert "HTTPS_PROXY" in check["fix"]
    done = run(lab, client, "issue", "-d", "noproxy.certv6.test")
    assert done.returncode == 4
    assert f"certv6: error: {lab.ca_v4only_host} has no IPv6 address" in done.stderr
    assert "gave up after" not in done.stderr  # failed at once, no retries


def test_issuance_works_through_the_proxy(lab: Any, client: Client, proxy: Helper) -> None:
    env = {"HTTPS_PROXY": proxy.url}
    done = run(lab, client, "doctor", "--json", "-d", "viaproxy.certv6.test", env=env)
    assert done.returncode == 0, done.stdout
    check = directory_check(done)
    assert f"reached through the proxy {proxy.url}" in check["message"]
    done = run(lab, client, "issue", "--json", "-d", "viaproxy.certv6.test", env=env)
    assert done.returncode == 0, done.stderr
    assert validated("issue", done.stdout)["domains"] == ["viaproxy.certv6.test"]
    tunnels = [line for line in proxy.log().splitlines() if line.startswith("CONNECT")]
    assert tunnels and all(
        line == f"CONNECT {lab.ca_v4only_host}:14000 -> {lab.ca_addr}" for line in tunnels
    )


def test_a_proxy_that_refuses_the_ca(lab: Any, tmp_path: Path, proxy: Helper) -> None:
    client = make_client(lab, tmp_path)  # the CA by its name, which the proxy refuses
    text = client.config.read_text().replace(lab.ca_directory, lab.ca_directory_by_name)
    client.config.write_text(text)
    done = run(lab, client, "doctor", "--json", env={"HTTPS_PROXY": proxy.url})
    assert done.returncode == 13
    assert directory_check(done)["message"] == (
        f"the proxy {proxy.url} would not CONNECT to {lab.ca_host}: 403 Forbidden"
    )
    # NO_PROXY sends the same CA around the proxy, straight over IPv6.
    env = {"HTTPS_PROXY": proxy.url, "NO_PROXY": lab.ca_host}
    done = run(lab, client, "doctor", "--json", env=env)
    assert done.returncode == 0, done.stdout
    assert "reached over IPv6" in directory_check(done)["message"]
    tunnels = [line for line in proxy.log().splitlines() if line.startswith("CONNECT")]
    assert tunnels == [f"CONNECT {lab.ca_host}:14000 refused: denied by policy"]  # the first run


def test_an_ipv4_only_ca_through_nat64(lab: Any, client: Client, tmp_path: Path) -> None:
    """Behind DNS64 the CA's A record gets an AAAA in the NAT64 prefix; certv6 connects there.

    The lab's NAT64 host gets the RFC 6052 address of 192.0.2.14 and relays TCP to Pebble
    (a NAT64 stand-in for TCP); the client's system resolver is the DNS64 one, through a
    private mount of /etc/resolv.conf for this one command.
    """
    prefix = ipaddress.IPv6Network(lab.nat64_prefix)
    synthesized = str(prefix[int(ipaddress.IPv4Address("192.0.2.14"))])
    lab.add_address("nat64", synthesized)
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver {lab.client_resolver_nat64}\n")
    text = client.config.read_text()
    client.config.write_text(text.replace(lab.client_resolver, lab.client_resolver_nat64))
    behind_dns64 = [
        "unshare",
        "-m",
        "--",
        "sh",
        "-c",
        'mount --bind "$0" /etc/resolv.conf && exec "$@"',
    ]
    argv = [*behind_dns64, str(resolv), CERTV6, "--config", str(client.config)]
    with helper(lab, "nat64", synthesized, 14000, "--forward", lab.ca_addr) as relay:
        done = lab.run_in_client([*argv, "doctor", "--json"], timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        message = directory_check(done)["message"]
        assert f"through NAT64 ({lab.ca_v4only_host} has IPv4 only; DNS64 gives {synthesized})" in (
            message
        )
        done = lab.run_in_client([*argv, "issue", "--json", "-d", "nat64.certv6.test"], timeout=120)
        assert done.returncode == 0, done.stderr
        assert relay.log().count(f"FORWARD -> {lab.ca_addr}") >= 2
