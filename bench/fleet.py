"""A fleet in the lab (issue #16): three IPv6-only hosts, one three-member etcd cluster.

    python bench/fleet.py [--count 100] [--runs 7]

1. web1 issues COUNT certificates (one name each); web2 and web3 sync them
2. ``certv6 sync`` with nothing new: RUNS cold processes on web2, wall time, and the
   etcd requests each made (from its --json document)
3. rollout with ``sync --watch``: web2 and web3 follow the fleet; web1 renews one
   certificate; the time from the head's put in etcd (seen by an etcdctl watch) to
   each watcher's "synced" document
4. COUNT certificates renewed from three hosts at once (``renew --force`` on each):
   wall time, how many each host renewed, orders in total (versions in etcd)

Prints figures; asserts nothing about time. Needs root (the lab).
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from lab import Lab  # noqa: E402
from lab.fleet import EtcdCluster  # noqa: E402

CERTV6 = str(Path(sys.executable).parent / "certv6")
HOSTS = ("web1", "web2", "web3")
ZONE = "certv6.test"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="certv6-bench-fleet-") as tmp,
        Lab.start(lag=0.0) as lab,
    ):
        base = Path(tmp)
        cluster = EtcdCluster.start(lab, base / "etcd")
        try:
            configs = _configs(lab, cluster, base)
            _issue_all(lab, configs, args.count)
            _nothing_new(lab, configs, args.runs)
            _rollout(lab, cluster, configs)
            _renew_from_three(lab, cluster, configs, args.count)
        finally:
            cluster.stop()


def _configs(lab: Lab, cluster: EtcdCluster, base: Path) -> dict[str, Path]:
    key = base / "fleet.key"
    key.write_text(base64.b64encode(secrets.token_bytes(32)).decode())
    key.chmod(0o600)
    configs = {}
    for host in HOSTS:
        config = base / host / "certv6.toml"
        config.parent.mkdir()
        extra = cluster.fleet_config(fleet_key=key, host=host).replace(
            "lease_ttl = 4", "lease_ttl = 30"
        )
        lab.write_certv6_config(config, state_dir=base / host / "state", extra=extra)
        configs[host] = config
    return configs


def certv6(lab: Lab, configs: dict[str, Path], host: str, *args: str,
           timeout: float = 1800) -> subprocess.CompletedProcess[str]:  # fmt: skip
    argv = [CERTV6, "--config", str(configs[host]), *args]
    return lab.run_in(host, argv, timeout=timeout)


def _issue_all(lab: Lab, configs: dict[str, Path], count: int) -> None:
    started = time.monotonic()
    for index in range(count):
        done = certv6(lab, configs, "web1", "issue", "--name", f"s{index:03d}",
                      "-d", f"s{index:03d}.fleet.{ZONE}")  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"issue s{index:03d} failed: {done.stderr}")
    issued = time.monotonic() - started
    print(f"web1 issued {count} certificates in {issued:.1f} s ({issued / count:.2f} s each)")
    for host in ("web2", "web3"):
        started = time.monotonic()
        done = certv6(lab, configs, host, "sync", "--json")
        report = json.loads(done.stdout)
        synced = sum(1 for each in report["certificates"] if each["status"] == "synced")
        spent = time.monotonic() - started
        print(f"{host}: first sync brought {synced} certificates in {spent:.2f} s, "
              f"{report['requests']} etcd requests")  # fmt: skip


def _nothing_new(lab: Lab, configs: dict[str, Path], runs: int) -> None:
    walls, requests = [], []
    for _ in range(runs):
        started = time.monotonic()
        done = certv6(lab, configs, "web2", "sync", "--json")
        walls.append(time.monotonic() - started)
        report = json.loads(done.stdout)
        assert all(each["status"] == "up-to-date" for each in report["certificates"]), report
        requests.append(report["requests"])
    print(
        f"sync, nothing new, cold process ({len(configs)} hosts, "
        f"{len(json.loads(done.stdout)['certificates'])} certificates): median "
        f"{statistics.median(walls):.3f} s, min {min(walls):.3f} s, max {max(walls):.3f} s "
        f"over {runs} runs; etcd requests per run: {sorted(set(requests))}"
    )


def _rollout(lab: Lab, cluster: EtcdCluster, configs: dict[str, Path]) -> None:
    seen: dict[str, float] = {}
    watchers = {
        host: lab.popen_in(
            host,
            [CERTV6, "--config", str(configs[host]), "sync", "--watch", "--json"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for host in ("web2", "web3")
    }
    watch = [
        "/usr/bin/etcdctl", "--endpoints", ",".join(cluster.endpoints), "--cacert",
        str(cluster.ca_file), "--user", "root:root-secret", "watch", "/certv6/heads/s000",
    ]  # fmt: skip
    environment = {"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"}
    head = lab.popen_in("etcd1", watch, stdout=subprocess.PIPE, text=True, env=environment)
    threads = [threading.Thread(target=_read_docs, args=(host, p, seen), daemon=True)
               for host, p in watchers.items()]  # fmt: skip
    threads.append(threading.Thread(target=_read_put, args=(head, seen), daemon=True))
    for thread in threads:
        thread.start()
    time.sleep(3)  # the watchers' first pass is done, their watch is open
    seen.clear()
    done = certv6(lab, configs, "web1", "renew", "--force", "-n", "s000")
    deadline = time.monotonic() + 60
    while not {"put", "web2", "web3"} <= set(seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    for process in (*watchers.values(), head):
        process.terminate()
        process.wait(timeout=10)
    if done.returncode != 0 or "put" not in seen:
        print(f"rollout: not measured (renew exit {done.returncode}, seen {sorted(seen)})")
        return
    after = {host: seen[host] - seen["put"] for host in ("web2", "web3") if host in seen}
    shown = ", ".join(f"{host} {delay * 1000:.0f} ms" for host, delay in after.items())
    print(
        f"rollout with sync --watch, from the head's put in etcd to installed and reported: {shown}"
    )


def _read_docs(host: str, process: subprocess.Popen[str], seen: dict[str, float]) -> None:
    assert process.stdout is not None
    buffer = ""
    for line in process.stdout:
        buffer += line
        if line.startswith("}"):
            document = json.loads(buffer)
            buffer = ""
            if any(each["status"] == "synced" for each in document["certificates"]):
                seen.setdefault(host, time.monotonic())


def _read_put(process: subprocess.Popen[str], seen: dict[str, float]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip() == "PUT":
            seen.setdefault("put", time.monotonic())


def _renew_from_three(lab: Lab, cluster: EtcdCluster, configs: dict[str, Path], count: int) -> None:
    started = time.monotonic()
    with ThreadPoolExecutor(3) as pool:
        runs = dict(zip(HOSTS, pool.map(
            lambda host: certv6(lab, configs, host, "renew", "--force", "--json"), HOSTS
        ), strict=True))  # fmt: skip
    wall = time.monotonic() - started
    renewed = {}
    for host, done in runs.items():
        report = json.loads(done.stdout)
        renewed[host] = sum(1 for each in report["certificates"] if each["renewed"])
    listing = cluster.etcdctl("get", "/certv6/versions/", "--prefix", "--keys-only")
    versions = [line for line in listing.stdout.split() if line]
    orders = len(versions) - count - 1  # minus the first versions and s000's rollout renewal
    print(f"{count} certificates renewed from three hosts at once: {wall:.1f} s wall "
          f"({wall / count:.2f} s each); renewed per host: "
          + ", ".join(f"{host} {n}" for host, n in renewed.items())
          + f"; orders in total {orders} (one per certificate: {orders == count})")  # fmt: skip


if __name__ == "__main__":
    main()
