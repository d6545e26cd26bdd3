"""A free port on [::1] for a server that must be told its port up front."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port that was free for both UDP and TCP a moment ago (the kernel picks it)."""
    for _ in range(20):
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as udp:
            udp.bind(("::1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("::1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port on [::1]")
