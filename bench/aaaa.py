"""``certv6 aaaa`` in the lab: how long following a renumbering takes.

    python bench/aaaa.py [--runs 5] [--lag 5]

Each run advertises a new prefix on the client's second link (real router
advertisements; the client's kernel forms the addresses) and deprecates the
old one, waits until duplicate address detection is over, then:

- one-shot: times a cold ``certv6 aaaa`` process (choose, read the RRset at the
  primary, one UPDATE, wait for both nameservers), with the secondary in step
  and with it lagging LAG seconds;
- watcher: with ``certv6 aaaa --watch`` running, times from the advertisement
  being sent to both nameservers serving the new address (detection, 2 s of
  settling, DAD, the UPDATE and the propagation wait).

Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import secrets
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from lab import Lab, wait_until  # noqa: E402  (after the path is set)
from lab.slaac import Prefix, Uplink  # noqa: E402

CERTV6 = str(Path(sys.executable).parent / "certv6")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lag", type=float, default=5.0)
    args = parser.parse_args()
    with Lab.start() as lab, tempfile.TemporaryDirectory() as work, Uplink.create(lab) as link:
        name = f"bench-{secrets.token_hex(3)}.certv6.test"
        config = lab.write_certv6_config(Path(work) / "c.toml", state_dir=Path(work) / "state")
        text = config.read_text().replace(str(lab.tsig_key_file), str(lab.admin_key_file))
        # A short write pacing: this measures how fast a change is followed, not the pacing.
        top = f'aaaa_names = ["{name}"]\naaaa_interface = "{link.name}"\naaaa_min_interval = 0.5\n'
        config.write_text(top + text)
        state = Renumbering(lab, link)
        one_shot = [state.one_shot(config, name) for _ in range(args.runs)]
        with lab.lagging(args.lag):
            lagging = [state.one_shot(config, name) for _ in range(args.runs)]
        watched = state.watched(config, name, args.runs)
    print(f"certv6 aaaa, median of {args.runs} (wall of a cold process, RA to visible)")
    print(f"  one-shot, secondary in step     {statistics.median(one_shot):6.2f} s")
    lag = statistics.median(lagging)
    print(
        f"  one-shot, secondary {args.lag:g} s behind {lag:6.2f} s  ({lag - args.lag:.2f} s over)"
    )
    print(f"  --watch: RA sent -> both serve  {statistics.median(watched):6.2f} s")


class Renumbering:
    def __init__(self, lab: Lab, link: Uplink) -> None:
        self.lab, self.link = lab, link
        self.previous: str | None = None
        self.older: str | None = None

    def renumber(self) -> str:
        new = f"fd00:c6:{self.lab.id[2:]}:{secrets.randbelow(0xFFFE) + 1:x}::/64"
        old = [Prefix(self.previous, preferred=0)] if self.previous else []
        self.link.advertise(Prefix(new), *old)
        if self.older:
            self.link.flush(self.older)  # as if its valid lifetime had run out
        self.older, self.previous = self.previous, new
        return new

    def stable_in(self, network: str) -> str:
        import ipaddress

        net = ipaddress.IPv6Network(network)
        return next(
            a
            for a in self.link.global_addresses("stable-privacy")
            if ipaddress.IPv6Address(a) in net
        )

    def both_serve(self, name: str, address: str) -> bool:
        return all(
            {r.address for rrset in self.lab.query(s, name + ".", "AAAA").answer for r in rrset}
            == {address}
            for s in (self.lab.primary_addr, self.lab.secondary_addr)
        )

    def one_shot(self, config: Path, name: str) -> float:
        network = self.renumber()
        self.link.settle()
        began = time.monotonic()
        done = self.lab.run_in_client([CERTV6, "--config", str(config), "--quiet", "aaaa"])
        wall = time.monotonic() - began
        if done.returncode != 0 or not self.both_serve(name, self.stable_in(network)):
            raise SystemExit(f"certv6 aaaa failed ({done.returncode}): {done.stderr}")
        return wall

    def watched(self, config: Path, name: str, runs: int) -> list[float]:
        import subprocess

        watcher = self.lab.popen_in_client(
            [CERTV6, "--config", str(config), "--quiet", "aaaa", "--watch"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        times = []
        try:
            for _ in range(runs):
                time.sleep(3.0)  # let the previous write age past the (short) pacing
                began = time.monotonic()
                network = self.renumber()
                wait_until(lambda: self.link.global_addresses("stable-privacy"), timeout=30)
                self.link.settle()
                target = self.stable_in(network)
                wait_until(
                    lambda target=target: self.both_serve(name, target),  # type: ignore[misc]
                    timeout=120,
                    interval=0.02,
                )
                times.append(time.monotonic() - began)
        finally:
            watcher.send_signal(signal.SIGTERM)
            watcher.communicate(timeout=30)
        return times


if __name__ == "__main__":
    main()
