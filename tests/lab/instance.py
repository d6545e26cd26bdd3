"""The Lab: an IPv6-only world of real servers in network namespaces.

    lab = Lab.start()            # or: with Lab.start() as lab: ...
    lab.nsupdate("update add _acme-challenge.www.certv6.test. 60 TXT hello")
    lab.txt_at(lab.secondary_addr, "_acme-challenge.www.certv6.test.")
    lab.stop()

See tests/lab/README.md for the topology.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self

import dns.message

from . import configs, extras, network, pki, prereq, probes, procs, servers, state
from .errors import LabError, NsupdateError
from .netns import NamespaceThreads, run_ip
from .plan import (
    NAT64_PREFIX,
    PEBBLE2_MANAGEMENT_PORT,
    PEBBLE2_PORT,
    PEBBLE_MANAGEMENT_PORT,
    PEBBLE_PORT,
    RELAY_PORT,
    UPSTREAM_PEBBLE_MANAGEMENT_PORT,
    UPSTREAM_PEBBLE_PORT,
    Plan,
)

HERE = Path(__file__).resolve().parent
BIND_ROLES = ("tld", "ns1", "ns2", "ns3", "ns4")
CA_HOST = "ca.certv6.test"
CA_V4ONLY_HOST = f"{configs.CA_V4ONLY}.certv6.test"  # A record only; see configs.CA_V4ONLY
DEFAULT_START_TIMEOUT = 20.0


@dataclass(frozen=True)
class _Check:
    """A readiness check: ``probe`` raises until the service works; ``daemon`` owns the log."""

    what: str
    daemon: str
    probe: Callable[[], object]


class Lab:
    """A running lab.  Create it with :meth:`Lab.start`; always :meth:`stop` it."""

    zone = configs.ZONE
    nat64_prefix = NAT64_PREFIX

    def __init__(self, plan: Plan, workdir: Path, bins: Mapping[str, Path], keep: bool) -> None:
        self._plan = plan
        self._bins = dict(bins)
        self._ip = str(bins["ip"])
        self._daemons: dict[str, procs.Daemon] = {}
        self._threads: dict[str, NamespaceThreads] = {}
        # Re-entrant: the SIGTERM handler may call stop() on the thread that holds them.
        self._threads_lock = threading.RLock()
        self._stop_lock = threading.RLock()
        self._stopped = False
        self._pebble_base_env: dict[str, str] = dict(configs.PEBBLE_DEFAULT_ENV)
        self._pebble_env_now: dict[str, str] = {}
        self._start_lag = 0.0
        self._servers_started = False
        self._second_ca_wanted = False
        self._state = state.LabState(
            id=plan.id,
            owner_pid=os.getpid(),
            owner_started=procs.start_time(os.getpid()),
            namespaces=plan.namespaces,
            workdir=str(workdir),
            keep_workdir=keep,
        )

        self.workdir = workdir
        self.id = plan.id
        self.client_ns = plan.netns("client")
        self.client_addr = plan.addr("client")
        self.primary_addr = plan.addr("ns1")
        self.secondary_addr = plan.addr("ns2")
        self.ns3_addr = plan.addr("ns3")
        self.tld_addr = plan.addr("tld")
        self.nat64_ns_addr = plan.nat64_ns_addr
        self.nat64_router_addr = plan.addr("nat64")
        self.blackhole_addr = plan.addr("blackhole")
        self.knot_addr = plan.addr("knot")
        self.pdns_addr = plan.addr("pdns")
        self.nsd_addr = plan.addr("nsd")
        self.knot_delegate_addr = plan.addr("knot_delegate")
        self.ca_addr = plan.addr("ca")
        self.client_resolver = plan.client_resolver
        self.client_resolver_nat64 = plan.client_resolver_nat64
        self.ca_resolver = plan.ca_resolver
        self.ca_host = CA_HOST
        self.ca_directory = f"https://[{self.ca_addr}]:{PEBBLE_PORT}/dir"
        self.ca_directory_by_name = f"https://{CA_HOST}:{PEBBLE_PORT}/dir"
        self.ca_v4only_host = CA_V4ONLY_HOST
        self.ca_directory_v4only = f"https://{CA_V4ONLY_HOST}:{PEBBLE_PORT}/dir"
        self.ca_management = f"https://[{self.ca_addr}]:{PEBBLE_MANAGEMENT_PORT}"
        # The second CA (Lab.start_second_ca): same host and listener certificate, own root.
        self.ca2_directory = f"https://[{self.ca_addr}]:{PEBBLE2_PORT}/dir"
        self.ca2_management = f"https://[{self.ca_addr}]:{PEBBLE2_MANAGEMENT_PORT}"
        self.ca_bundle = workdir / "ca" / "ca-bundle.pem"
        self.tsig_key_file = workdir / "keys" / f"{configs.MAIN_KEY}.key"
        self.limited_key_file = workdir / "keys" / f"{configs.LIMITED_KEY}.key"
        self.admin_key_file = workdir / "keys" / f"{configs.ADMIN_KEY}.key"
        self.scoped_key_file = workdir / "keys" / f"{configs.SCOPED_KEY}.key"
        self.tsig_key_name = configs.MAIN_KEY
        self.limited_key_name = configs.LIMITED_KEY
        self.startup_seconds: float | None = None

    # --- lifecycle ------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        lag: float = 0.0,
        pebble_env: Mapping[str, str] | None = None,
        *,
        timeout: float = DEFAULT_START_TIMEOUT,
        keep_workdir: bool | None = None,
    ) -> Lab:
        """Build a fresh lab and wait (at most ``timeout`` s) until every server answers.

        ``pebble_env`` overrides Pebble's defaults (PEBBLE_VA_NOSLEEP=1,
        PEBBLE_WFE_NONCEREJECT=0, PEBBLE_AUTHZREUSE=0).  The work directory is removed by
        stop() unless ``keep_workdir`` (default: env CERTV6_LAB_KEEP=1); it is always kept
        when start fails, so its logs can be read.
        """
        began = time.monotonic()
        bins = prereq.check()
        state.remove_stale(ip=str(bins["ip"]))
        plan = _claim_plan()
        if keep_workdir is None:
            keep_workdir = os.environ.get("CERTV6_LAB_KEEP") == "1"
        workdir = Path(tempfile.mkdtemp(prefix=f"certv6-lab-{plan.id}-"))
        lab = cls(plan, workdir, bins, keep_workdir)
        lab._state.save()
        _REGISTRY.add(lab)
        try:
            lab._pebble_base_env.update(pebble_env or {})
            lab._boot(lag, deadline=began + timeout)
        except BaseException as exc:
            lab._state.keep_workdir = True
            lab.stop()
            exc.add_note(f"lab {plan.id}: logs and configs kept in {workdir}")
            raise
        lab.startup_seconds = time.monotonic() - began
        return lab

    def stop(self) -> None:
        """Stop every process and remove every namespace of this lab.  Idempotent."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        procs.stop(list(self._daemons.values()))
        with self._threads_lock:
            for threads in self._threads.values():
                threads.close()
            self._threads.clear()
        problems = state.teardown(self._state, ip=self._ip)
        _REGISTRY.discard(self)
        if problems:
            warnings.warn(f"lab {self.id} teardown: " + "; ".join(problems), stacklevel=2)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def owner_pid(self) -> int:
        """The process that started the lab (and alone may stop it through the exit hooks)."""
        return self._state.owner_pid

    def _boot(self, lag: float, *, deadline: float) -> None:
        self._start_lag = lag
        self._write_files(lag)
        network.build(self._plan, ip=self._ip)
        self._start_relay()
        self._start_blackhole()
        extras.start_tayga(self)
        for role in BIND_ROLES:
            self._start_named(role)
        for kind in configs.RESOLVER_KINDS:
            self._start_unbound(kind)
        self._start_pebble(self._pebble_base_env)
        self._wait_ready(self._readiness_checks(), deadline)

    # --- files ----------------------------------------------------------------------------

    def _dir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(mode=0o700, exist_ok=True)
        return path

    def _write_files(self, lag: float) -> None:
        self._dir("keys")
        pki.write_tsig_key(self.tsig_key_file, configs.MAIN_KEY)
        pki.write_tsig_key(self.limited_key_file, configs.LIMITED_KEY)
        pki.write_tsig_key(self.admin_key_file, configs.ADMIN_KEY)
        pki.write_tsig_key(self.scoped_key_file, configs.SCOPED_KEY)
        key_files = [self.tsig_key_file, self.limited_key_file, self.admin_key_file]
        key_files.append(self.scoped_key_file)
        for role in BIND_ROLES:
            d = self._dir(role)
            (d / "named.conf").write_text(configs.named_conf(self._plan, role, d, key_files))
            for filename, text in configs.named_zone_files(self._plan, role).items():
                (d / filename).write_text(text)
        tayga = self._dir("tayga")
        (tayga / "tayga.conf").write_text(servers.tayga_conf(self._plan, tayga))
        for kind in configs.RESOLVER_KINDS:
            d = self._dir(f"unbound-{kind}")
            (d / "unbound.conf").write_text(configs.unbound_conf(self._plan, kind, d))
        ca = self._dir("ca")
        _bundle, cert, key = pki.write_listener_tls(
            ca, address=self.ca_addr, names=[CA_HOST, CA_V4ONLY_HOST]
        )
        (ca / "pebble-config.json").write_text(configs.pebble_conf(self._plan, cert, key))
        (ca / "upstream-pebble-config.json").write_text(
            configs.upstream_pebble_conf(self._plan, cert, key)
        )
        self._dir("relay")
        self.set_lag(lag)

    # --- daemons --------------------------------------------------------------------------

    def _spawn(
        self,
        name: str,
        role: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        pass_fds: Sequence[int] = (),
    ) -> procs.Daemon:
        daemon = procs.spawn(
            name,
            self._plan.netns(role),
            argv,
            log=self.workdir / f"{name}.log",
            ip=self._ip,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            pass_fds=pass_fds,
        )
        self._daemons[name] = daemon
        self._state.groups = [(d.pid, d.started) for d in self._daemons.values()]
        self._state.save()
        return daemon

    def _start_named(self, role: str) -> None:
        d = self.workdir / role
        # -g: foreground, log to stderr (our log file); -6: never use IPv4, not even outbound.
        # ns4 is the one IPv4-only server (behind the NAT64): -4.
        family = "-4" if role == "ns4" else "-6"
        argv = [str(self._bins["named"]), "-g", family, "-c", str(d / "named.conf")]
        self._spawn(f"named-{role}", role, argv, cwd=d)

    def spawn(
        self,
        name: str,
        role: str,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Run a daemon of this lab in ``role``'s namespace; stop() ends it (log: <name>.log).

        ``env`` is added to (overrides) the current environment.
        """
        if name in self._daemons:
            raise LabError(f"lab {self.id} already runs a daemon named {name!r}")
        self._spawn(name, role, argv, cwd=cwd, env={**os.environ, **env} if env else None)

    def wait_for(
        self, checks: Sequence[tuple[str, str, Callable[[], object]]], *, timeout: float
    ) -> None:
        """Run (what, daemon, probe) checks from the client until all pass, within ``timeout``."""
        deadline = time.monotonic() + timeout
        self._wait_ready([_Check(what, daemon, probe) for what, daemon, probe in checks], deadline)

    def start_servers(self, *, timeout: float = DEFAULT_START_TIMEOUT) -> Self:
        """Start Knot, PowerDNS and NSD (tests/lab/servers.py); idempotent.

        Kept out of the lab's start so tests that do not need them do not wait for them.
        """
        with self._threads_lock:
            if self._servers_started:
                return self
            self._servers_started = True
        extras.start_servers(self, timeout=timeout)
        return self

    def start_upstream_pebble(self, binary: Path, *, timeout: float = DEFAULT_START_TIMEOUT) -> str:
        """Start the upstream Pebble build next to Debian's; return its directory URL.

        Idempotent. Same listener certificate, CA resolver and environment as the
        lab's Pebble, ports 14100/15100, profiles default and shortlived.
        """
        with self._threads_lock:
            started = "pebble-upstream" in self._daemons
            if not started:
                extras.spawn_upstream_pebble(self, binary, dict(self._pebble_base_env))
        if not started:
            # Outside the lock: the checks run on the client namespace's threads.
            directory = lambda: self._pebble_get(UPSTREAM_PEBBLE_PORT, "/dir")  # noqa: E731
            check = _Check("upstream Pebble directory over TLS", "pebble-upstream", directory)
            self._wait_ready([check], time.monotonic() + timeout)
        return self.upstream_directory

    @property
    def upstream_directory(self) -> str:
        return f"https://[{self.ca_addr}]:{UPSTREAM_PEBBLE_PORT}/dir"

    def upstream_pebble_get(self, path: str, *, management: bool = False) -> bytes:
        """GET from the upstream Pebble (its management API with ``management``)."""
        port = UPSTREAM_PEBBLE_MANAGEMENT_PORT if management else UPSTREAM_PEBBLE_PORT
        return self._in("client").call(self._pebble_get, port, path)

    @property
    def plan(self) -> Plan:
        return self._plan

    @property
    def ip(self) -> str:
        return self._ip

    def _start_unbound(self, kind: str) -> None:
        d = self.workdir / f"unbound-{kind}"
        argv = [str(self._bins["unbound"]), "-d", "-c", str(d / "unbound.conf")]
        self._spawn(f"unbound-{kind}", "resolver", argv, cwd=d)

    def _start_pebble(self, env: Mapping[str, str]) -> None:
        self._pebble_env_now = dict(env)
        ca = self.workdir / "ca"
        argv = [
            str(self._bins["pebble"]),
            "-config",
            str(ca / "pebble-config.json"),
            "-dnsserver",
            f"[{self.ca_resolver}]:53",
        ]
        self._spawn("pebble", "ca", argv, env={**os.environ, **env}, cwd=ca)

    def _bound_socket(self, role: str, kind: int, port: int) -> socket.socket:
        """A socket bound (and, for TCP, listening) inside ``role``'s namespace."""

        def make() -> socket.socket:
            sock = socket.socket(socket.AF_INET6, kind)
            sock.bind((self._plan.addr(role), port))
            if kind == socket.SOCK_STREAM:
                sock.listen(16)
            return sock

        return self._in(role).call(make)

    def _start_relay(self) -> None:
        # The parent binds the socket, so the relay is ready the moment it is spawned.
        sock = self._bound_socket("ns1", socket.SOCK_DGRAM, RELAY_PORT)
        with sock:
            argv = [
                sys.executable,
                str(HERE / "relay.py"),
                "--fd",
                str(sock.fileno()),
                "--target",
                self.secondary_addr,
                "--lag-file",
                str(self._lag_file),
            ]
            self._spawn("notify-relay", "ns1", argv, pass_fds=[sock.fileno()])

    def _start_blackhole(self) -> None:
        udp = self._bound_socket("blackhole", socket.SOCK_DGRAM, 53)
        tcp = self._bound_socket("blackhole", socket.SOCK_STREAM, 53)
        with udp, tcp:
            argv = [
                sys.executable,
                str(HERE / "blackhole.py"),
                "--udp-fd",
                str(udp.fileno()),
                "--tcp-fd",
                str(tcp.fileno()),
            ]
            self._spawn("blackhole", "blackhole", argv, pass_fds=[udp.fileno(), tcp.fileno()])

    # --- readiness ------------------------------------------------------------------------

    def _readiness_checks(self) -> list[_Check]:
        def soa(server: str, zone: str) -> Callable[[], object]:
            return lambda: probes.soa_serial(server, zone, timeout=0.3)

        def resolves(server: str) -> Callable[[], object]:
            return lambda: probes.soa_serial(server, self.zone, recursive=True, timeout=0.5)

        p = self._plan
        return [
            _Check("tld answers for test.", "named-tld", soa(p.addr("tld"), "test.")),
            _Check("ns1 answers for certv6.test.", "named-ns1", soa(p.addr("ns1"), self.zone)),
            _Check("ns1 answers for aonly.test.", "named-ns1", soa(p.addr("ns1"), "aonly.test.")),
            _Check(
                "ns1 answers for partial.test.", "named-ns1", soa(p.addr("ns1"), "partial.test.")
            ),
            _Check("ns2 answers for certv6.test.", "named-ns2", soa(p.addr("ns2"), self.zone)),
            _Check(
                "ns3 answers for challenges.test.",
                "named-ns3",
                soa(p.addr("ns3"), "challenges.test."),
            ),
            _Check(
                "ns4 (IPv4 only) answers for aonly.test. through the NAT64",
                "named-ns4",
                soa(p.nat64_ns_addr, "aonly.test."),
            ),
            _Check("client resolver resolves", "unbound-client", resolves(p.client_resolver)),
            _Check(
                "NAT64 resolver resolves", "unbound-client_nat64", resolves(p.client_resolver_nat64)
            ),
            _Check("CA resolver resolves", "unbound-ca", resolves(p.ca_resolver)),
            _Check("Pebble directory over TLS", "pebble", self._fetch_directory),
        ]

    def _fetch_directory(self) -> object:
        return json.loads(self._pebble_get(PEBBLE_PORT, "/dir"))

    def _pebble_get(self, port: int, path: str) -> bytes:
        return probes.https_get(self.ca_addr, port, path, cafile=self.ca_bundle, timeout=2.0)

    def _wait_ready(self, checks: Sequence[_Check], deadline: float) -> None:
        """Run every check concurrently from the client namespace until all pass.

        Fails early if a daemon exits; on timeout the error carries the daemon's log tail.
        """
        abort = threading.Event()
        client = self._in("client")
        pending: dict[Future[None], _Check] = {
            client.submit(_poll, c.probe, deadline, abort): c for c in checks
        }
        try:
            while pending:
                done, _ = wait(pending, timeout=0.05, return_when=FIRST_COMPLETED)
                for fut in done:
                    check = pending.pop(fut)
                    exc = fut.exception()
                    if exc is not None:
                        daemon = self._daemons[check.daemon]
                        raise LabError(
                            f"lab {self.id}: {check.what}: not ready ({exc}); "
                            f"log {daemon.log}:\n{procs.tail(daemon.log)}"
                        )
                for daemon in self._daemons.values():
                    if not daemon.alive():
                        raise LabError(f"lab {self.id}: {daemon.describe_exit()}")
        finally:
            abort.set()

    # --- namespaces -----------------------------------------------------------------------

    def _in(self, role: str) -> NamespaceThreads:
        """Threads inside ``role``'s namespace (created on first use)."""
        with self._threads_lock:
            if self._stopped:
                raise LabError(f"lab {self.id} is stopped")
            if role not in self._threads:
                self._threads[role] = NamespaceThreads(self._plan.netns(role), workers=16)
            return self._threads[role]

    def netns(self, role: str) -> str:
        """Namespace name of a role (client, ns1, ca, resolver, bridge, ... see plan.ALL_ROLES)."""
        return self._plan.netns(role)

    def run_in(
        self,
        role: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 60,
        input: str | None = None,
        check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside a role's namespace (``ip netns exec``) and capture its output.

        ``env`` is added to (overrides) the current environment.  /etc/resolv.conf is the
        namespace's: the client resolver (the CA resolver in the "ca" namespace).
        """
        return subprocess.run(
            [self._ip, "netns", "exec", self.netns(role), *argv],
            env={**os.environ, **env} if env is not None else None,
            timeout=timeout,
            input=input,
            check=check,
            capture_output=True,
            text=True,
        )

    def run_in_client(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 60,
        input: str | None = None,
        check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        return self.run_in("client", argv, env=env, timeout=timeout, input=input, check=check)

    def popen_in(
        self, role: str, argv: Sequence[str], **popen_kwargs: Any
    ) -> subprocess.Popen[Any]:
        """Start a command in a role's namespace, in its own session (signal it by group).

        ``env`` replaces the environment, as with subprocess.Popen.  stop() kills anything
        still running in the lab's namespaces.
        """
        popen_kwargs.setdefault("start_new_session", True)
        return subprocess.Popen(
            [self._ip, "netns", "exec", self.netns(role), *argv], **popen_kwargs
        )

    def popen_in_client(self, argv: Sequence[str], **popen_kwargs: Any) -> subprocess.Popen[Any]:
        return self.popen_in("client", argv, **popen_kwargs)

    def add_address(self, role: str, suffix: str) -> str:
        """Give ``role``'s namespace one more lab address, ``<lab /64>::<suffix>``; return it.

        ``suffix`` may also be a whole IPv6 address (added as a /128), e.g. one inside the
        NAT64 prefix for the ``nat64`` role.  For extra services a test runs there (a proxy,
        say).  Idempotent; the address goes away with the namespace.
        """
        if ":" in suffix:
            address, length = suffix, 128
        else:
            address, length = str(self._plan.network.network_address + int(suffix, 16)), 64
        # "replace" adds the address, or leaves it as it is when a test added it before.
        argv = ["-n", self.netns(role), "address", "replace", f"{address}/{length}"]
        run_ip([*argv, "dev", self._plan.host_ifname, "nodad"], ip=self._ip)
        return address

    # --- DNS helpers ----------------------------------------------------------------------

    def query(
        self,
        server: str,
        qname: str,
        rdtype: str,
        *,
        recursive: bool = False,
        tcp: bool = False,
        timeout: float = 2.0,
        role: str = "client",
    ) -> dns.message.Message:
        """One DNS query sent from ``role``'s namespace (RD=0 unless ``recursive``).

        Raises dns.exception.Timeout when the server does not answer.
        """
        return self._in(role).call(
            probes.query, server, qname, rdtype, recursive=recursive, tcp=tcp, timeout=timeout
        )

    def txt_at(
        self, server_addr: str, owner: str, *, timeout: float = 2.0, tcp: bool = False
    ) -> set[str]:
        """TXT values ``server_addr`` serves at ``owner`` (RD=0, must be authoritative).

        ``tcp``: ask over TCP (NSD rate-limits UDP answers, like real servers).
        """
        return self._in("client").call(
            probes.txt_values, server_addr, owner, timeout=timeout, tcp=tcp
        )

    def serial_at(self, server_addr: str, zone: str, *, timeout: float = 2.0) -> int:
        return self._in("client").call(probes.soa_serial, server_addr, zone, timeout=timeout)

    def resolve(self, qname: str, rdtype: str = "AAAA", *, resolver: str | None = None) -> set[str]:
        """Values for ``qname`` from a lab resolver (the client's by default), TXT unquoted.

        NXDOMAIN and NODATA give an empty set; REFUSED/SERVFAIL raise LabError.
        """
        server = resolver or self.client_resolver
        return self._in("client").call(probes.resolved, server, qname, rdtype)

    def nsupdate(self, script: str, key_file: Path | None = None) -> None:
        """Run ``nsupdate -k KEY`` in the client namespace; raise NsupdateError on failure.

        Without a ``server`` line nsupdate finds the primary itself (SOA MNAME through the
        client resolver); a final ``send`` is added if missing.
        """
        text = script if script.endswith("\n") else script + "\n"
        if not re.search(r"^\s*send\s*$", text, re.MULTILINE):
            text += "send\n"
        key = key_file or self.tsig_key_file
        done = self.run_in_client(
            [str(self._bins["nsupdate"]), "-k", str(key)], input=text, timeout=60
        )
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip()
            raise NsupdateError(
                f"nsupdate with {key.name} failed ({done.returncode}): {detail}",
                returncode=done.returncode,
                stderr=done.stderr,
            )

    # --- secondary lag --------------------------------------------------------------------

    @property
    def _lag_file(self) -> Path:
        return self.workdir / "relay" / "lag"

    def set_lag(self, seconds: float) -> None:
        """Delay before ns2 hears of a change to certv6.test (applies to later NOTIFYs)."""
        if seconds < 0:
            raise ValueError("lag must be >= 0")
        tmp = self._lag_file.with_suffix(".tmp")
        tmp.write_text(f"{seconds}\n")
        os.replace(tmp, self._lag_file)

    @property
    def lag(self) -> float:
        return float(self._lag_file.read_text())

    @contextmanager
    def lagging(self, seconds: float) -> Iterator[Self]:
        """``with lab.lagging(5): ...`` -- set the lag, and restore the previous one after."""
        before = self.lag
        self.set_lag(seconds)
        try:
            yield self
        finally:
            self.set_lag(before)

    def sync_secondary(self, *, timeout: float = 5.0) -> int:
        """Make ns2 catch up with ns1 now, whatever the lag; return the common serial.

        Sends ns2 a NOTIFY from ns1's address (as the relay would) instead of waiting for a
        delayed one.
        """
        deadline = time.monotonic() + timeout
        self._in("ns1").call(
            probes.notify, self.secondary_addr, self.zone, source=self.primary_addr
        )
        while True:
            want = self.serial_at(self.primary_addr, self.zone)
            if self.serial_at(self.secondary_addr, self.zone) == want:
                return want
            if time.monotonic() >= deadline:
                raise LabError(f"ns2 did not reach serial {want} within {timeout} s")
            time.sleep(0.02)

    def reset(self) -> None:
        """Back to the start-time settings: lag, Pebble environment, ns2 in step with ns1.

        Records published by earlier users stay; use unique owner names.
        """
        self.set_lag(self._start_lag)
        if self._pebble_env_now != self._pebble_base_env:
            self.restart_pebble()
        if self._second_ca_wanted and "pebble2" not in self._daemons:
            self.start_second_ca()  # a test stopped it
        self.sync_secondary()

    # --- Pebble ---------------------------------------------------------------------------

    def restart_pebble(
        self, env: Mapping[str, str] | None = None, *, timeout: float = 15.0
    ) -> None:
        """Restart Pebble with ``env`` applied over the lab's start-time Pebble environment.

        Pebble forgets every account and order and makes a new issuing root.
        """
        deadline = time.monotonic() + timeout
        old = self._daemons.pop("pebble")
        procs.stop([old])
        self._start_pebble({**self._pebble_base_env, **(env or {})})
        self._wait_ready(
            [_Check("Pebble directory over TLS", "pebble", self._fetch_directory)], deadline
        )

    def pebble_roots(self, *, second: bool = False) -> list[str]:
        """[root, intermediate] PEMs of Pebble's current issuing chain (management API).

        ``second``: of the second CA (``start_second_ca``).
        """
        port = PEBBLE2_MANAGEMENT_PORT if second else PEBBLE_MANAGEMENT_PORT
        return [
            self._in("client").call(self._pebble_get, port, path).decode()
            for path in ("/roots/0", "/intermediates/0")
        ]

    def start_second_ca(self, *, timeout: float = 15.0) -> Self:
        """A second Pebble at ``ca2_directory`` (management ``ca2_management``); idempotent.

        Another CA for the tests of CA fallback: same host, same listener certificate
        and resolver, its own accounts and its own issuing root. Started only when a
        test asks, so the lab itself starts as fast as before; ``reset()`` starts it
        again after a test stopped it (``stop_second_ca``).
        """
        with self._threads_lock:
            self._second_ca_wanted = True
            if "pebble2" in self._daemons:
                return self
        deadline = time.monotonic() + timeout
        ca = self.workdir / "ca"
        config = ca / "pebble2-config.json"
        text = configs.pebble_conf(
            self._plan,
            ca / "listener.pem",
            ca / "listener.key",
            port=PEBBLE2_PORT,
            management_port=PEBBLE2_MANAGEMENT_PORT,
        )
        config.write_text(text)
        argv = [
            str(self._bins["pebble"]),
            "-config",
            str(config),
            "-dnsserver",
            f"[{self.ca_resolver}]:53",
        ]
        env = {**os.environ, **self._pebble_base_env}
        self._spawn("pebble2", "ca", argv, env=env, cwd=ca)
        fetch = lambda: json.loads(self._pebble_get(PEBBLE2_PORT, "/dir"))  # noqa: E731
        self._wait_ready([_Check("second Pebble directory over TLS", "pebble2", fetch)], deadline)
        return self

    def stop_second_ca(self) -> None:
        """Stop the second Pebble (connections are refused); ``reset()`` starts it again."""
        daemon = self._daemons.pop("pebble2", None)
        if daemon is not None:
            procs.stop([daemon])

    @property
    def pebble_env(self) -> dict[str, str]:
        """The environment Pebble is running with now."""
        return dict(self._pebble_env_now)

    # --- certv6 ---------------------------------------------------------------------------

    def write_certv6_config(
        self,
        path: Path,
        *,
        state_dir: Path,
        extra: str = "",
        server: str | None = None,
        provider: bool = True,
    ) -> Path:
        """Write a certv6 TOML config that uses this lab; ``extra`` is appended verbatim.

        ``server``: another directory URL (the upstream Pebble's); ``provider=False``:
        no [provider.*] table at all (dns-persist-01 needs none).
        """
        text = (
            f"server = {_toml_str(server or self.ca_directory)}\n"
            'email = "ops@certv6.test"\n'
            "agree_tos = true\n"
            f"state_dir = {_toml_str(str(state_dir))}\n"
            f"ca_bundle = {_toml_str(str(self.ca_bundle))}\n"
            f"resolvers = [{_toml_str(f'[{self.client_resolver}]:53')}]\n"
        )
        if provider:
            text += f"\n[provider.rfc2136]\nkey_file = {_toml_str(str(self.tsig_key_file))}\n"
        if extra:
            text += "\n" + extra
        path.write_text(text)
        return path

    def facts(self) -> dict[str, Any]:
        """Everything a human or another tool needs to use this lab, JSON-friendly."""
        return {
            "id": self.id,
            "workdir": str(self.workdir),
            "zone": self.zone,
            "namespaces": {
                role: self.netns(role) for role in ("client", "ns1", "ns2", "ns3", "ca", "resolver")
            },
            "client_ns": self.client_ns,
            "client_addr": self.client_addr,
            "primary_addr": self.primary_addr,
            "secondary_addr": self.secondary_addr,
            "ns3_addr": self.ns3_addr,
            "tld_addr": self.tld_addr,
            "nat64_ns_addr": self.nat64_ns_addr,
            "nat64_prefix": self.nat64_prefix,
            "blackhole_addr": self.blackhole_addr,
            "client_resolver": self.client_resolver,
            "client_resolver_nat64": self.client_resolver_nat64,
            "ca_resolver": self.ca_resolver,
            "ca_directory": self.ca_directory,
            "ca_directory_by_name": self.ca_directory_by_name,
            "ca_bundle": str(self.ca_bundle),
            "tsig_key_file": str(self.tsig_key_file),
            "limited_key_file": str(self.limited_key_file),
            "admin_key_file": str(self.admin_key_file),
            "ca_directory_v4only": self.ca_directory_v4only,
            "ca2_directory": self.ca2_directory,
            "lag": self.lag,
            "pebble_env": self.pebble_env,
            "startup_seconds": self.startup_seconds,
        }

    def __repr__(self) -> str:
        status = "stopped" if self._stopped else "running"
        return f"<Lab {self.id} {status} {self.workdir}>"


def _toml_str(value: str) -> str:
    # TOML basic strings use JSON's escapes for everything a path or URL can contain.
    return json.dumps(value)


def _poll(probe: Callable[[], object], deadline: float, abort: threading.Event) -> None:
    """Call ``probe`` until it stops raising; give up at ``deadline`` with its last error."""
    while True:
        try:
            probe()
            return
        except Exception as exc:
            if time.monotonic() >= deadline or abort.is_set():
                raise LabError(f"{type(exc).__name__}: {exc}") from exc
        time.sleep(0.02)


def _claim_plan() -> Plan:
    """A Plan whose id no running lab uses (claimed atomically through its state file)."""
    for _ in range(64):
        plan = Plan(secrets.randbelow(0x10000))
        if state.claim(plan.id):
            return plan
    raise LabError("could not find a free lab id")


# --- every running lab, so an exiting or SIGTERMed process still cleans up ---------------


class _Registry:
    """The labs this process runs, plus the atexit / SIGTERM hooks that stop them."""

    def __init__(self) -> None:
        self._labs: set[Lab] = set()
        self._lock = threading.RLock()  # the SIGTERM handler runs on the main thread
        self._hooked = False
        self._previous_sigterm: Any = signal.SIG_DFL

    def add(self, lab: Lab) -> None:
        with self._lock:
            self._labs.add(lab)
            first = not self._hooked
            self._hooked = True
        if not first:
            return
        atexit.register(self.stop_all)
        # Handlers can only be installed from the main thread; atexit still covers the rest.
        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)

    def discard(self, lab: Lab) -> None:
        with self._lock:
            self._labs.discard(lab)

    def stop_all(self) -> None:
        with self._lock:
            # A forked child inherits this registry and its hooks; only the owner may stop a lab.
            labs = [lab for lab in self._labs if lab.owner_pid == os.getpid()]
        for lab in labs:
            try:
                lab.stop()
            except Exception as exc:  # keep cleaning up the others
                print(f"certv6 lab {lab.id}: stop failed: {exc}", file=sys.stderr)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.stop_all()
        previous = self._previous_sigterm
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            # Die of SIGTERM as we would have without the lab, now that nothing is left behind.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)


_REGISTRY = _Registry()


def stop_all() -> None:
    """Stop every lab this process started (also run at exit and on SIGTERM)."""
    _REGISTRY.stop_all()
