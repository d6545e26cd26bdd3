"""A three-member etcd cluster in the lab's IPv6-only namespaces etcd1-3 (issue #16).

Clients speak TLS to ``https://[<lab>::e1]:2379`` (a throw-away CA; the certificate lists
all three addresses), with password authentication and RBAC: user ``certv6`` may read and
write ``/certv6/`` and ``/othertool/`` only (``/othertool/`` holds another tool's key, for
the "prefix another tool uses" test). Members talk to each other over plain HTTP on the lab
segment: that is etcd's own business, not a certv6 connection.

    cluster = EtcdCluster.start(lab, workdir)
    cluster.endpoints          # ["https://[fd00:c6:..::e1]:2379", ...]
    cluster.kill("etcd2")      # SIGKILL one member; cluster.restart("etcd2")
    cluster.leader()           # the role of the current leader
    cluster.stop()
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testpki import Authority

ETCD = "/usr/bin/etcd"
ETCDCTL = "/usr/bin/etcdctl"
MEMBERS = ("etcd1", "etcd2", "etcd3")
START_TIMEOUT = 30.0
USER = "certv6"


@dataclass
class EtcdCluster:
    lab: Any
    directory: Path
    ca_file: Path
    password_file: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    auth: bool = False

    @classmethod
    def start(cls, lab: Any, directory: Path) -> EtcdCluster:
        directory.mkdir(parents=True, exist_ok=True)
        authority = Authority.create("certv6 lab etcd CA")
        ips = [lab.plan.addr(role) for role in MEMBERS]
        server = authority.server("etcd.certv6.test", ips=ips, names=["etcd.certv6.test"])
        server.write(directory / "etcd.pem", directory / "etcd.key")
        ca_file = directory / "etcd-ca.pem"
        ca_file.write_bytes(authority.pem())
        password = directory / "etcd-password"
        password.write_text("fleet-secret\n")
        password.chmod(0o600)
        cluster = cls(lab, directory, ca_file, password)
        for role in MEMBERS:
            cluster._run(role, new=True)
        cluster.wait_healthy()
        cluster._set_up_auth()
        return cluster

    @property
    def endpoints(self) -> list[str]:
        return [f"https://[{self.lab.plan.addr(role)}]:2379" for role in MEMBERS]

    def _peer(self, role: str) -> str:
        return f"http://[{self.lab.plan.addr(role)}]:2380"

    def _run(self, role: str, *, new: bool) -> None:
        address = self.lab.plan.addr(role)
        cluster = ",".join(f"{member}={self._peer(member)}" for member in MEMBERS)
        argv = [
            ETCD, "--name", role, "--data-dir", str(self.directory / role),
            "--listen-client-urls", f"https://[{address}]:2379",
            "--advertise-client-urls", f"https://[{address}]:2379",
            "--listen-peer-urls", self._peer(role),
            "--initial-advertise-peer-urls", self._peer(role),
            "--initial-cluster", cluster,
            "--initial-cluster-state", "new" if new else "existing",
            "--initial-cluster-token", f"lab-{self.lab.id}",
            "--cert-file", str(self.directory / "etcd.pem"),
            "--key-file", str(self.directory / "etcd.key"),
            "--heartbeat-interval", "100", "--election-timeout", "1000",
            "--auth-token", "simple",
        ]  # fmt: skip
        log = (self.directory / f"{role}.log").open("ab")
        self.processes[role] = self.lab.popen_in(role, argv, stdout=log, stderr=subprocess.STDOUT)

    def etcdctl(
        self, *args: str, user: str | None = "root:root-secret", role: str = "etcd1",
        check: bool = True, only: bool = False,
    ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        # Every member's endpoint: etcdctl picks one that answers (a test kills the leader).
        endpoints = self.endpoints[MEMBERS.index(role)] if only else ",".join(self.endpoints)
        argv = [ETCDCTL, "--endpoints", endpoints,
                "--cacert", str(self.ca_file), "--command-timeout", "5s"]  # fmt: skip
        if user:
            argv += ["--user", user]
        done = self.lab.run_in(role, [*argv, *args], env={"ETCDCTL_API": "3"}, timeout=30)
        if check and done.returncode != 0:
            raise AssertionError(f"etcdctl {' '.join(args)}: {done.stdout}{done.stderr}")
        return done

    def _set_up_auth(self) -> None:
        # RBAC as docs/fleet.md describes it: a role with read-write on the fleet's prefix.
        self.etcdctl("user", "add", "root:root-secret", user=None)
        self.etcdctl("role", "add", "root", user=None)
        self.etcdctl("user", "grant-role", "root", "root", user=None)
        self.etcdctl("user", "add", f"{USER}:fleet-secret", user=None)
        self.etcdctl("role", "add", "certv6-fleet", user=None)
        for prefix in ("/certv6/", "/othertool/"):
            self.etcdctl("role", "grant-permission", "certv6-fleet", "--prefix=true",
                         "readwrite", prefix, user=None)  # fmt: skip
        self.etcdctl("user", "grant-role", USER, "certv6-fleet", user=None)
        self.etcdctl("auth", "enable", user=None)
        self.auth = True

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            user = "root:root-secret" if self.auth else None
            done = self.etcdctl("endpoint", "health", "--cluster", user=user, check=False)
            if done.returncode == 0:
                return
            for role, process in self.processes.items():
                if process.poll() is not None:
                    log = (self.directory / f"{role}.log").read_text()[-2000:]
                    raise AssertionError(f"etcd {role} exited:\n{log}")
            if time.monotonic() > deadline:
                raise AssertionError(f"etcd not healthy after {timeout} s: {done.stderr}")
            time.sleep(0.3)

    def leader(self) -> str:
        for role in MEMBERS:
            if role not in self.processes or self.processes[role].poll() is not None:
                continue
            done = self.etcdctl("endpoint", "status", "-w", "json", role=role, check=False,
                                only=True)  # fmt: skip
            if done.returncode == 0:
                status = json.loads(done.stdout)[0]["Status"]
                leader = int(status["leader"])
                member = int(status["header"]["member_id"])
                if leader == member:
                    return role
        raise AssertionError("no etcd member says it is the leader")

    def kill(self, role: str) -> None:
        process = self.processes.pop(role)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def restart(self, role: str) -> None:
        self._run(role, new=False)

    def stop(self) -> None:
        for role in list(self.processes):
            process = self.processes.pop(role)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def fleet_config(self, *, prefix: str = "/certv6/", password_file: Path | None = None,
                     fleet_key: Path, host: str, extra: str = "") -> str:  # fmt: skip
        endpoints = ", ".join(json.dumps(url) for url in self.endpoints)
        return (
            "[store]\n"
            'backend = "etcd"\n'
            f"host = {json.dumps(host)}\n"
            "[store.etcd]\n"
            f"endpoints = [{endpoints}]\n"
            f"prefix = {json.dumps(prefix)}\n"
            f"ca_file = {json.dumps(str(self.ca_file))}\n"
            f'username = "{USER}"\n'
            f"password_file = {json.dumps(str(password_file or self.password_file))}\n"
            f"fleet_key_file = {json.dumps(str(fleet_key))}\n"
            "lease_ttl = 4\n"
            "timeout = 3\n" + extra
        )
