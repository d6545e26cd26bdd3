"""A fleet (issue #16): three IPv6-only hosts share certificates and locks in a real
three-member etcd cluster (TLS, password auth, RBAC), each serving with its own nginx.

The cluster and the hosts are started once for this module (tests/lab/fleet.py); each
test uses a certificate name of its own, so they do not depend on each other's state.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nginx_lab import Nginx, leaf_der, snakeoil

from jsonschemas import validated
from lab.fleet import EtcdCluster

CERTV6 = str(Path(sys.executable).parent / "certv6")
ZONE = "certv6.test"
HOSTS = ("web1", "web2", "web3")
pytestmark = pytest.mark.usefixtures("require_lab")


class HostView:
    """The lab as nginx_lab sees it, for one fleet host's namespace instead of the client's."""

    def __init__(self, lab: Any, role: str) -> None:
        self.lab, self.role = lab, role
        self.client_addr = lab.plan.addr(role)

    def popen_in_client(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        return self.lab.popen_in(self.role, argv, **kwargs)

    def run_in_client(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.lab.run_in(self.role, argv, **kwargs)


@dataclass
class Host:
    lab: Any
    role: str
    directory: Path
    cluster: EtcdCluster
    fleet_key: Path
    nginx: Nginx
    names: tuple[str, ...] = ()

    @property
    def config(self) -> Path:
        return self.directory / "certv6.toml"

    @property
    def state_dir(self) -> Path:
        return self.directory / "state"

    def write_config(self, names: tuple[str, ...], **fleet: Any) -> None:
        self.names = names
        tables = ""
        for name in names:
            values = {
                "target": "nginx",
                "directory": str(self.directory / "etc-ssl" / name),
                "verify": self.nginx.endpoint,
                "verify_timeout": 10,
                "config_test": self.nginx.config_test,
                "reload": self.nginx.reload,
            }
            tables += f"[[certificate.{name}.install]]\n"
            tables += "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())
        fleet.setdefault("fleet_key", self.fleet_key)
        fleet.setdefault("host", self.role)
        extra = self.cluster.fleet_config(**fleet) + tables
        self.lab.write_certv6_config(self.config, state_dir=self.state_dir, extra=extra)
        self._nginx_sites()

    def _nginx_sites(self) -> None:
        cert, key = self.nginx.directory / "snakeoil.crt", self.nginx.directory / "snakeoil.key"
        listen = self.nginx.listen()
        sites = (
            "server {\n"
            f"    {listen.replace(' ssl;', ' ssl default_server;')}\n"
            f"    ssl_certificate {cert};\n    ssl_certificate_key {key};\n"
            "    return 200 'default';\n}\n"
        )
        for name in self.names:
            snippet = self.directory / "etc-ssl" / name / "nginx.conf"
            if snippet.exists():
                sites += (
                    f"server {{\n    {listen}\n    server_name {name}.{ZONE};\n"
                    f"    include {snippet};\n    return 200 'ok';\n}}\n"
                )
        self.nginx.write_site(sites)

    def include_snippets(self) -> None:
        """The user's one-time step after the first install: include certv6's snippet."""
        self._nginx_sites()
        done = self.lab.run_in(self.role, self.nginx.reload, timeout=20)
        assert done.returncode == 0, done.stderr

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        argv = [CERTV6, "--config", str(self.config), *args]
        return self.lab.run_in(self.role, argv, timeout=timeout)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        argv = [CERTV6, "--config", str(self.config), *args]
        return self.lab.popen_in(
            self.role, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def served(self, name: str) -> bytes:
        return self.nginx.served_der(f"{name}.{ZONE}")

    def stored_leaf(self, name: str) -> bytes:
        current = self.state_dir / "certificates" / name / "current" / "cert.pem"
        return leaf_der(current.read_bytes())

    def current(self, name: str) -> str:
        return os.readlink(self.state_dir / "certificates" / name / "current")


@pytest.fixture(scope="module")
def fleet(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("fleet")
    cluster = EtcdCluster.start(lab, base / "etcd")
    key = base / "fleet.key"
    key.write_text(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    key.chmod(0o600)
    hosts = {}
    try:
        for role in HOSTS:
            directory = base / role
            nginx = Nginx(HostView(lab, role), directory / "nginx")
            snakeoil(nginx.directory)
            host = Host(lab, role, directory, cluster, key, nginx)
            host.write_config(())
            nginx.run()
            hosts[role] = host
        yield {"cluster": cluster, "hosts": hosts, "key": key, "base": base}
    finally:
        for host in hosts.values():
            host.nginx.stop()
        cluster.stop()


def _configure(fleet: dict[str, Any], *names: str) -> list[Host]:
    hosts = list(fleet["hosts"].values())
    for host in hosts:
        host.write_config(names)
    return hosts


def _first_certificate(hosts: list[Host], name: str) -> None:
    """web1 issues; every host syncs it, includes the snippet, and serves it."""
    done = hosts[0].run("issue", "--json", "--name", name, "-d", f"{name}.{ZONE}")
    assert done.returncode in (0, 10), done.stderr  # 10: the snippet is not included yet
    for host in hosts:
        synced = host.run("sync", "--json")
        assert synced.returncode in (0, 19), synced.stderr
        host.include_snippets()
        again = host.run("install", "--name", name)
        assert again.returncode == 0, again.stderr
        assert host.served(name) == host.stored_leaf(name)


def _etcd_json(cluster: EtcdCluster, key: str) -> Any:
    done = cluster.etcdctl("get", key, "--print-value-only")
    return json.loads(done.stdout) if done.stdout.strip() else None


def _versions(cluster: EtcdCluster, name: str) -> list[str]:
    done = cluster.etcdctl("get", f"/certv6/versions/{name}/", "--prefix", "--keys-only")
    return sorted(line.rpartition("/")[2] for line in done.stdout.split() if line)


def test_three_hosts_renew_at_once_one_order_and_all_serve_it(fleet: dict[str, Any]) -> None:
    hosts = _configure(fleet, "trio")
    _first_certificate(hosts, "trio")
    before = hosts[0].stored_leaf("trio")
    with ThreadPoolExecutor(3) as pool:
        runs = list(pool.map(lambda h: h.run("renew", "--force", "--json"), hosts))
    reports = [validated("renew", done.stdout) for done in runs]
    outcomes = [report["certificates"][0] for report in reports]
    renewed = [o for o in outcomes if o["renewed"]]
    assert len(renewed) == 1, outcomes  # exactly one order across the fleet
    for outcome in outcomes:
        if not outcome["renewed"]:
            # the others either saw the lock held (and by whom) or the new version after it
            assert "web" in outcome["detail"] or "another certv6 run stored" in outcome["detail"]
    assert _versions(fleet["cluster"], "trio") == ["0001", "0002"]
    head = _etcd_json(fleet["cluster"], "/certv6/heads/trio")
    assert head["version"] == "0002"
    for host in hosts:
        done = host.run("sync", "--json")
        assert done.returncode == 0, done.stderr
        validated("sync", done.stdout)
        assert host.current("trio") == "versions/0002"
        assert host.served("trio") == host.stored_leaf("trio") != before
    # every host serves the same certificate: the one the fleet committed
    assert len({host.served("trio") for host in hosts}) == 1


def test_private_keys_are_sealed_in_etcd(fleet: dict[str, Any]) -> None:
    hosts = _configure(fleet, "sealed")
    done = hosts[0].run("issue", "--name", "sealed", "-d", f"sealed.{ZONE}")
    assert done.returncode in (0, 10), done.stderr
    raw = fleet["cluster"].etcdctl("get", "/certv6/versions/sealed/0001", "--print-value-only")
    assert "PRIVATE KEY" not in raw.stdout
    value = json.loads(raw.stdout)
    assert value["sealed"]["privkey.pem"]["alg"] == "A256GCM"
    accounts = fleet["cluster"].etcdctl("get", "/certv6/accounts/", "--prefix")
    assert "PRIVATE KEY" not in accounts.stdout and "A256GCM" in accounts.stdout
    # a host with another fleet key is told exactly that
    other = fleet["base"] / "other.key"
    other.write_text(base64.b64encode(secrets.token_bytes(32)).decode())
    other.chmod(0o600)
    hosts[1].write_config(("sealed",), fleet_key=other)
    try:
        failed = hosts[1].run("sync")
        assert failed.returncode == 19, failed.stderr
        assert "sealed with fleet key" in failed.stderr and "Traceback" not in failed.stderr
    finally:
        hosts[1].write_config(("sealed",))


def test_sigkill_mid_order_lease_expires_another_host_finishes(fleet: dict[str, Any]) -> None:
    lab = hosts_lab = fleet["hosts"]["web1"].lab
    hosts = _configure(fleet, "killed")
    _first_certificate(hosts, "killed")
    owner = f"_acme-challenge.killed.{ZONE}."
    # Hold the renewal between publishing and validation: the secondary lags.
    with lab.lagging(30):
        process = hosts[0].popen("renew", "--force")
        deadline = time.monotonic() + 60
        while not lab.txt_at(lab.primary_addr, owner) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert lab.txt_at(lab.primary_addr, owner), "the renewal never published its value"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    assert lab.txt_at(lab.primary_addr, owner)  # left behind by the dead host
    ledger = fleet["cluster"].etcdctl("get", "/certv6/ledger/", "--prefix", "--keys-only")
    assert ledger.stdout.strip(), "the fleet's ledger names the published value"
    time.sleep(5)  # lease_ttl = 4: web1's lease is gone now
    lab.sync_secondary()
    done = hosts[1].run("renew", "--force", "--json")
    assert done.returncode == 0, done.stderr
    assert validated("renew", done.stdout)["certificates"][0]["renewed"]
    assert not lab.txt_at(lab.primary_addr, owner)  # nothing left in the DNS
    left = fleet["cluster"].etcdctl("get", "/certv6/ledger/", "--prefix", "--keys-only")
    assert not left.stdout.strip()
    del hosts_lab


def test_partitioned_host_keeps_serving_fails_clearly_and_catches_up(
    fleet: dict[str, Any],
) -> None:
    lab = fleet["hosts"]["web3"].lab
    hosts = _configure(fleet, "parted")
    _first_certificate(hosts, "parted")
    web3 = hosts[2]
    served = web3.served("parted")
    routes = [lab.plan.addr(role) for role in ("etcd1", "etcd2", "etcd3")]
    for address in routes:
        lab.run_in("web3", ["ip", "-6", "route", "add", "prohibit", f"{address}/128"], check=True)
    try:
        for command in (("sync",), ("renew", "--force")):
            done = web3.run(*command, timeout=120)
            assert done.returncode == 17, (command, done.stderr)
            assert "etcd" in done.stderr and "Traceback" not in done.stderr
        assert web3.served("parted") == served  # still serving its last certificate
        renewed = hosts[0].run("renew", "--force")
        assert renewed.returncode == 0, renewed.stderr
    finally:
        for address in routes:
            lab.run_in("web3", ["ip", "-6", "route", "del", "prohibit", f"{address}/128"])
    done = web3.run("sync", "--json")
    assert done.returncode == 0, done.stderr
    assert web3.current("parted") == "versions/0002"
    assert web3.served("parted") == web3.stored_leaf("parted") != served


def test_etcd_leader_killed_mid_renewal_never_a_torn_version(fleet: dict[str, Any]) -> None:
    lab = fleet["hosts"]["web1"].lab
    cluster = fleet["cluster"]
    hosts = _configure(fleet, "leader")
    _first_certificate(hosts, "leader")
    with lab.lagging(3):
        process = hosts[1].popen("renew", "--force", "--json")
        time.sleep(1.5)
        leader = cluster.leader()
        cluster.kill(leader)
        _out, err = process.communicate(timeout=180)
    try:
        assert process.returncode in (0, 12, 17, 18), err
        head = _etcd_json(cluster, "/certv6/heads/leader")
        versions = _versions(cluster, "leader")
        assert head["version"] in versions  # the head names a whole version, always
        stored = _etcd_json(cluster, f"/certv6/versions/leader/{head['version']}")
        assert set(stored["files"]) == {"cert.pem", "chain.pem", "fullchain.pem"}
        assert "privkey.pem" in stored["sealed"]
        if process.returncode == 0:
            assert head["version"] == "0002"
        for host in hosts:
            done = host.run("sync")
            assert done.returncode == 0, done.stderr
            assert host.current("leader") == f"versions/{head['version']}"
    finally:
        cluster.restart(leader)
        cluster.wait_healthy()


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"password": "wrong"}, 17, "authentication failed"),
        ({"ca": "other"}, 17, "ca_file"),
        ({"endpoints": ["https://[fd00:c6:ffff::1]:2379"]}, 17, "etcd"),
        ({"endpoints": ["https://192.0.2.10:2379"]}, 3, "IPv4"),  # ipv4-ok: refused input
        ({"endpoints": ["http://[fd00:c6:ffff::1]:2379"]}, 3, "https"),
        ({"prefix": "/othertool/"}, 9, "did not write"),
    ],
)
def test_bad_input(fleet: dict[str, Any], change: dict[str, Any], code: int, words: str) -> None:
    host = fleet["hosts"]["web2"]
    cluster = fleet["cluster"]
    base = fleet["base"]
    extra: dict[str, Any] = {}
    if "password" in change:
        wrong = base / "wrong-password"
        wrong.write_text("not-it\n")
        wrong.chmod(0o600)
        extra["password_file"] = wrong
    if "prefix" in change:
        cluster.etcdctl("put", "/othertool/config", "theirs")
        extra["prefix"] = change["prefix"]
    host.write_config(())
    text = host.config.read_text()
    if "ca" in change:
        other = base / "other-ca.pem"
        other.write_bytes(host.lab.ca_bundle.read_bytes())  # Pebble's listener CA, not etcd's
        text = text.replace(str(cluster.ca_file), str(other))
    if "endpoints" in change:
        start = text.index("endpoints = [")
        end = text.index("]\n", start) + 1
        text = text[:start] + f"endpoints = {json.dumps(change['endpoints'])}" + text[end:]
    host.config.write_text(text)
    if extra:
        host.write_config((), **extra)
    try:
        done = host.run("sync", "--json", timeout=120)
        assert done.returncode == code, done.stderr
        assert words in done.stderr and "Traceback" not in done.stderr
        assert validated("error", done.stdout)
    finally:
        host.write_config(())


def test_migrate_both_ways_verifiably(fleet: dict[str, Any], tmp_path: Path) -> None:
    lab = fleet["hosts"]["web1"].lab
    cluster = fleet["cluster"]
    # A single host that used the file store until now.
    state = tmp_path / "state"
    config = tmp_path / "certv6.toml"
    lab.write_certv6_config(config, state_dir=state)
    done = lab.run_in("web1", [CERTV6, "--config", str(config), "issue", "--name", "moved",
                               "-d", f"moved.{ZONE}"], timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr
    extra = cluster.fleet_config(fleet_key=fleet["key"], host="web1", prefix="/certv6/migrated/")
    lab.write_certv6_config(config, state_dir=state, extra=extra)
    to_etcd = lab.run_in("web1", [CERTV6, "--config", str(config), "store", "migrate",
                                  "--to", "etcd", "--json"], timeout=120)  # fmt: skip
    assert to_etcd.returncode == 0, to_etcd.stderr
    report = validated("store-migrate", to_etcd.stdout)
    assert report["lineages"] == 1 and report["accounts"] == 1 and report["verified_files"] == 4
    # ... and back into an empty state directory on another host
    other = tmp_path / "other"
    lab.write_certv6_config(tmp_path / "other.toml", state_dir=other, extra=extra)
    back = lab.run_in("web2", [CERTV6, "--config", str(tmp_path / "other.toml"), "store",
                               "migrate", "--to", "file", "--json"], timeout=120)  # fmt: skip
    assert back.returncode == 0, back.stderr
    assert validated("store-migrate", back.stdout)["versions"] == 1
    original = state / "certificates" / "moved" / "current"
    copied = other / "certificates" / "moved" / "current"
    for name in ("privkey.pem", "cert.pem", "chain.pem", "fullchain.pem"):
        assert (original / name).read_bytes() == (copied / name).read_bytes()
    assert oct((copied / "privkey.pem").stat().st_mode & 0o777) == "0o600"


def test_delete_removes_the_certificate_from_the_fleet(fleet: dict[str, Any]) -> None:
    hosts = _configure(fleet, "gone")
    done = hosts[0].run("issue", "--name", "gone", "-d", f"gone.{ZONE}")
    assert done.returncode in (0, 10), done.stderr
    assert hosts[1].run("sync").returncode in (0, 19)
    deleted = hosts[0].run("delete", "--name", "gone", "--yes", "--json")
    assert deleted.returncode == 0, deleted.stderr
    validated("delete", deleted.stdout)
    assert _etcd_json(fleet["cluster"], "/certv6/heads/gone") is None
    assert _versions(fleet["cluster"], "gone") == []
    synced = validated("sync", hosts[2].run("sync", "--json").stdout)
    assert "gone" not in {each["name"] for each in synced["certificates"]}
    assert not (hosts[2].state_dir / "certificates" / "gone").exists()


def _account_key(host: Host) -> bytes:
    found = sorted(host.state_dir.glob("accounts/**/account_key.pem"))
    assert len(found) == 1, found  # one CA, one account
    return found[0].read_bytes()


def test_a_key_rollover_on_one_host_reaches_every_host(fleet: dict[str, Any]) -> None:
    """#14 in a fleet: the account key one host rolls over is the one every host signs with
    from then on (the later key of the same account wins), never the fleet's old one."""
    hosts = _configure(fleet, "rolled")
    _first_certificate(hosts, "rolled")
    old = _account_key(hosts[0])
    rolled = hosts[1].run("account", "rollover", "--json")
    assert rolled.returncode == 0, rolled.stderr
    validated("account", rolled.stdout)
    new = _account_key(hosts[1])
    assert new != old
    # web1 still has the old key locally: it takes the new one from the fleet, and the CA
    # (which no longer knows the old key) accepts its order.
    again = hosts[0].run("renew", "--force", "--name", "rolled", "--json")
    assert again.returncode == 0, again.stderr
    assert validated("renew", again.stdout)["certificates"][0]["renewed"]
    assert _account_key(hosts[0]) == new
    # and web2's new key was not overwritten by the fleet's old one either
    third = hosts[1].run("renew", "--force", "--name", "rolled", "--json")
    assert third.returncode == 0, third.stderr
    assert _account_key(hosts[1]) == new
