"""NOTIFY relay that makes a secondary lag on purpose (run as a script inside ns1's namespace).

The primary sends NOTIFY only here.  The relay acknowledges at once (so the primary is happy)
and forwards the NOTIFY to the secondary LAG seconds later; the secondary then does its
ordinary SOA check and IXFR.  LAG is read from a file at each NOTIFY, so the lab can change it
while running.  Packet delay (netem) would be wrong: a lagging secondary answers quickly, it
just answers with old data.
"""

from __future__ import annotations

import argparse
import os
import socket
import threading
import time

import dns.flags
import dns.message
import dns.opcode

FORWARD_ATTEMPTS = 3
FORWARD_TIMEOUT = 1.0


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')}.{int(time.time() * 1000) % 1000:03d} {msg}", flush=True)


def read_lag(path: str) -> float:
    try:
        with open(path) as f:
            return max(0.0, float(f.read().strip() or 0))
    except (OSError, ValueError):
        return 0.0


def lag_generation(path: str) -> tuple[int, int] | None:
    """Which setting of the lag is in force: set_lag replaces the file, so a new inode."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns


def forward_unless_lag_changed(
    generation: tuple[int, int] | None,
    lag_file: str,
    wire: bytes,
    source: str,
    target: str,
    port: int,
    zone: str,
) -> None:
    # A NOTIFY queued under an earlier lag (say a test's 60 s) must not fire into a later
    # test and make the secondary catch up in the middle of it; whoever changes the lag
    # puts the secondary in step (Lab.reset, sync_secondary) or publishes again.
    if lag_generation(lag_file) != generation:
        log(f"NOTIFY {zone}: dropped, the lag was changed while it waited")
        return
    forward(wire, source, target, port, zone)


def forward(wire: bytes, source: str, target: str, port: int, zone: str) -> None:
    for attempt in range(1, FORWARD_ATTEMPTS + 1):
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            # From the primary's address: the secondary accepts NOTIFY only from its primary.
            s.bind((source, 0))
            s.settimeout(FORWARD_TIMEOUT)
            s.sendto(wire, (target, port))
            try:
                s.recvfrom(4096)
            except TimeoutError:
                log(f"forward {zone} to [{target}]:{port}: no ack (attempt {attempt})")
                continue
        log(f"forwarded {zone} to [{target}]:{port}")
        return


def serve(sock: socket.socket, target: str, port: int, lag_file: str) -> None:
    source = sock.getsockname()[0]
    log(f"relay on [{source}]:{sock.getsockname()[1]} -> [{target}]:{port}")
    while True:
        wire, peer = sock.recvfrom(4096)
        try:
            msg = dns.message.from_wire(wire)
        except Exception as exc:
            log(f"junk from {peer[0]}: {exc}")
            continue
        if msg.opcode() != dns.opcode.NOTIFY or msg.flags & dns.flags.QR:
            continue
        ack = dns.message.make_response(msg)
        ack.flags |= dns.flags.AA
        sock.sendto(ack.to_wire(), peer)
        zone = msg.question[0].name.to_text() if msg.question else "?"
        generation = lag_generation(lag_file)
        lag = read_lag(lag_file)
        log(f"NOTIFY {zone} from {peer[0]}: acked, forwarding in {lag:.3f} s")
        timer = threading.Timer(
            lag,
            forward_unless_lag_changed,
            (generation, lag_file, wire, source, target, port, zone),
        )
        timer.daemon = True
        timer.start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fd", type=int, required=True, help="inherited bound UDP socket")
    parser.add_argument("--target", required=True, help="secondary's address")
    parser.add_argument("--port", type=int, default=53)
    parser.add_argument("--lag-file", required=True)
    args = parser.parse_args()
    sock = socket.socket(fileno=args.fd)
    serve(sock, args.target, args.port, args.lag_file)


if __name__ == "__main__":
    main()
