"""Issue a certificate in the IPv6-only lab and show what happened (see scripts/demo)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from lab import Lab, verify_chain  # noqa: E402

CERTV6 = str(Path(sys.executable).parent / "certv6")
DOMAINS = ["demo.certv6.test", "*.demo.certv6.test"]


def main() -> int:
    started = time.monotonic()
    with Lab.start() as lab:
        print(
            f"lab up in {time.monotonic() - started:.2f} s: CA {lab.ca_directory}, "
            f"nameservers [{lab.primary_addr}] (primary) and [{lab.secondary_addr}] (secondary)"
        )
        no_ipv4 = lab.run_in_client(["ip", "-4", "addr"]).stdout.strip() == ""
        print(f"client namespace {lab.client_ns}: IPv6 only ({'no' if no_ipv4 else 'HAS'} IPv4)")
        config = lab.write_certv6_config(
            lab.workdir / "certv6.toml", state_dir=lab.workdir / "state"
        )
        argv = [CERTV6, "--config", str(config), "issue", "--name", "demo"]
        for domain in DOMAINS:
            argv += ["-d", domain]
        print("$ " + " ".join(argv[1:]))
        before = time.monotonic()
        issued = lab.run_in_client(argv, timeout=120)
        took = time.monotonic() - before
        sys.stderr.write(issued.stderr)
        sys.stdout.write(issued.stdout)
        if issued.returncode != 0:
            print(f"issuance FAILED (exit {issued.returncode})")
            return 1
        print(f"issuance took {took:.2f} s (cold process, wall clock)")
        show(lab, config)
    print(f"lab torn down; demo total {time.monotonic() - started:.2f} s")
    return 0


def show(lab: Lab, config: Path) -> None:
    listing = lab.run_in_client([CERTV6, "--config", str(config), "list"])
    print(listing.stdout, end="")
    live = lab.workdir / "state" / "certificates" / "demo" / "current"
    print(
        subprocess.run(
            [
                "openssl",
                "x509",
                "-in",
                str(live / "cert.pem"),
                "-noout",
                "-subject",
                "-issuer",
                "-ext",
                "subjectAltName",
                "-dates",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    root = lab.workdir / "pebble-root.pem"
    root.write_text("".join(lab.pebble_roots()))
    verified = verify_chain(live, root)
    print(f"chain check against Pebble's root: {verified.stdout.strip() or verified.stderr}")
    left = lab.txt_at(lab.primary_addr, "_acme-challenge.demo.certv6.test.") | lab.txt_at(
        lab.secondary_addr, "_acme-challenge.demo.certv6.test."
    )
    print(f"challenge TXT values left on the nameservers: {len(left)}")


if __name__ == "__main__":
    sys.exit(main())
