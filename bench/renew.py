"""`certv6 renew` with nothing due: how long a cold process takes over many certificates.

    python bench/renew.py [--count 1000] [--runs 7]

Builds COUNT lineages in a temporary state directory, laid out as certv6 writes
them (lineage.json, versions/0001/ with meta.json, the current link, ari.json,
health.json with the install done), none of them due: half with renewal info
from a CA that offers ARI (window and next check in the future), half from a CA
without ARI (looked at again in a week). Then times RUNS cold `certv6 renew`
processes, as the systemd timer starts them, next to `certv6 --version`
(interpreter + click start-up).

The config points the CA at a closed port on [::1]: a run that touched the
network would fail and the script says so. Target (issue #6): well under a
second for 1,000 certificates, with each lineage's health read too (issue #13).
Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CERTV6 = str(Path(sys.executable).parent / "certv6")
NOW = datetime.datetime.now(datetime.UTC)


def iso(moment: datetime.datetime) -> str:
    return moment.isoformat()


def write_lineage(certificates: Path, index: int) -> None:
    name = f"site{index:05d}.example"
    lineage = certificates / name
    version = lineage / "versions" / "0001"
    version.mkdir(parents=True)
    serial = f"{0x1000 + index:x}"
    not_before = NOW - datetime.timedelta(days=5)
    not_after = not_before + datetime.timedelta(days=90)
    meta = {
        "domains": [name],
        "not_before": iso(not_before),
        "not_after": iso(not_after),
        "serial": serial,
        "sha256": "00" * 32,
        "order": f"https://[::1]:9/order/{index}",
    }
    (version / "meta.json").write_text(json.dumps(meta))
    for filename in ("privkey.pem", "cert.pem", "chain.pem", "fullchain.pem"):
        (version / filename).write_text("not parsed when nothing is due\n")
    (lineage / "current").symlink_to("versions/0001")
    config = {"domains": [name], "key_type": "ec256", "provider": "rfc2136", "profile": None}
    (lineage / "lineage.json").write_text(json.dumps(config))
    (lineage / "ari.json").write_text(json.dumps(ari_state(index, serial, not_before)))
    (lineage / "health.json").write_text(json.dumps(health(serial, not_before)))


def health(serial: str, issued: datetime.datetime) -> dict[str, object]:
    """A healthy lineage: issued, renewed without failure, installed into nginx."""
    target = {
        "state": "done",
        "at": iso(issued),
        "version": "0001",
        "verified": ["[2001:db8::10]:443"],
        "served_version": "0001",
        "served_not_after": iso(issued + datetime.timedelta(days=90)),
    }
    return {
        "switch": None,
        "issued": {"at": iso(issued), "serial": serial},
        "attempt": {"at": iso(issued), "ok": True, "error": None, "exit_code": 0},
        "failures": 0,
        "failing_since": None,
        "install": {
            "version": "0001",
            "since": iso(issued),
            "owed": False,
            "deploy_hook": False,
            "targets": {"nginx /etc/ssl/certv6/site/nginx": target},
        },
        "revoked": None,
    }


def ari_state(index: int, serial: str, not_before: datetime.datetime) -> dict[str, object]:
    if index % 2:
        return {
            "serial": serial,
            "offered": False,
            "next_check": iso(NOW + datetime.timedelta(days=6)),
        }
    start = not_before + datetime.timedelta(days=60)
    return {
        "serial": serial,
        "offered": True,
        "next_check": iso(NOW + datetime.timedelta(hours=5)),
        "cert_id": f"aYhba4dGQEHhs3uEe6CuLN4ByNQ.{index:06d}",
        "window": [iso(start), iso(start + datetime.timedelta(days=2))],
        "renew_at": iso(start + datetime.timedelta(hours=20)),
        "explanation_url": None,
    }


def timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return time.perf_counter() - start, done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="certv6-bench-renew-") as work:
        root = Path(work)
        state = root / "state"
        (state / "certificates").mkdir(parents=True, mode=0o700)
        for index in range(args.count):
            write_lineage(state / "certificates", index)
        config = root / "certv6.toml"
        config.write_text(f'server = "https://[::1]:9/dir"\nstate_dir = "{state}"\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith("CERTV6_")}
        os.environ.clear()
        os.environ.update(env)
        renew = [CERTV6, "--config", str(config), "renew"]
        version = [CERTV6, "--version"]
        timed(renew)  # warm the page cache once, as a timer's second run would find it
        startup = [timed(version)[0] for _ in range(args.runs)]
        results = [timed(renew) for _ in range(args.runs)]
    for _, done in results:
        if done.returncode != 0 or f"0 renewed, {args.count} skipped, 0 failed" not in done.stdout:
            print(
                f"certv6 renew did not skip everything (exit {done.returncode}):", file=sys.stderr
            )
            print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
            return 1
    seconds = [wall for wall, _ in results]
    print(f"certificates:               {args.count} (none due, no network)")
    print(
        f"certv6 renew, cold process: median {statistics.median(seconds):.3f} s, "
        f"min {min(seconds):.3f} s, max {max(seconds):.3f} s over {args.runs} runs"
    )
    print(f"certv6 --version (start-up): median {statistics.median(startup):.3f} s")
    above = statistics.median(seconds) - statistics.median(startup)
    print(f"per certificate:            {1000 * above / args.count:.3f} ms above start-up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
