"""dns-01, dns-account-01 and dns-persist-01 side by side (root; prints, asserts nothing).

    python bench/challenges.py [--runs 5] [--lag 5] [--pebble PATH]

Against the upstream Pebble build (the only CA here that offers all three; default
../shared/tools/pebble/pebble, or CERTV6_UPSTREAM_PEBBLE), one name per run, each a
cold `certv6 issue --json` in the IPv6-only client namespace with a fresh state
directory. dns-persist-01 runs use no provider at all: the standing record is added
once per run by the "administrator" (admin key, outside the timing), exactly as a user
would; certv6 then only reads it on every nameserver. With --lag L the secondary
applies every change L s late: dns-01 and dns-account-01 wait for it, dns-persist-01
writes nothing and has nothing to wait for. Medians over --runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lab import (
    CERTV6,
    between_runs,
    median,
    ms,
    print_machine,
    print_table,
    secs,
    timed,
    unique_tag,
    workdir,
)

from lab import Lab  # on the path once _lab is imported

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PEBBLE = ROOT.parent / "shared/tools/pebble/pebble"
KINDS = ("dns-01", "dns-account-01", "dns-persist-01")


def one_run(lab: Lab, kind: str) -> tuple[float, float, float, bool]:
    """(wall, certv6's propagation step, its checks step, ok) for one cold issuance."""
    name = f"{unique_tag('c')}.certv6.test"
    with workdir("challenges") as directory:
        config = lab.write_certv6_config(
            directory / "certv6.toml",
            state_dir=directory / "state",
            server=lab.upstream_directory,
            provider=kind != "dns-persist-01",
        )
        base = [CERTV6, "--config", str(config)]
        if kind == "dns-persist-01":
            shown = timed(lab, [*base, "persist", "--json", "-d", name]).json()
            (record,) = shown["records"]
            lab.nsupdate(
                f'update add {record["owner"]} 30 TXT "{record["value"]}"',
                key_file=lab.admin_key_file,
            )
            lab.sync_secondary()
        argv = [*base, "issue", "--json", "--name", "b", "-d", name, "--challenge", kind]
        run = timed(lab, [*argv, "--profile", "default"])
    if not run.ok:
        print(f"  {kind}: failed ({run.returncode}): {run.stderr[-400:]}", file=sys.stderr)
        return run.wall, float("nan"), float("nan"), False
    timings = run.json()["timings"]
    return run.wall, timings.get("propagation", 0.0), timings.get("checks", 0.0), True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lag", type=float, default=5.0)
    parser.add_argument("--pebble", type=Path, default=None)
    args = parser.parse_args()
    pebble = args.pebble or Path(os.environ.get("CERTV6_UPSTREAM_PEBBLE") or DEFAULT_PEBBLE)
    print_machine()
    with Lab.start() as lab:
        lab.start_upstream_pebble(pebble)
        rows = [["challenge", "lag", "wall", "propagation", "checks", "failed runs"]]
        for lag in (0.0, args.lag):
            lab.set_lag(lag)
            for kind in KINDS:
                walls, waits, checks, failed = [], [], [], 0
                for _ in range(args.runs):
                    between_runs(lab)
                    wall, wait, check, ok = one_run(lab, kind)
                    walls.append(wall)
                    if ok:
                        waits.append(wait)
                        checks.append(check)
                    failed += not ok
                rows.append(
                    [
                        kind,
                        f"{lag:.0f} s",
                        secs(median(walls)),
                        ms(median(waits)),
                        ms(median(checks)),
                        f"{failed}/{args.runs}",
                    ]
                )
        print()
        print_table(rows)
        print(
            "\npropagation: waiting for every nameserver to serve the value; checks: the "
            "provider preflight, stale cleanup and (dns-persist-01) reading the standing "
            "record on every nameserver"
        )


if __name__ == "__main__":
    main()
