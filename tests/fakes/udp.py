"""A UDP DNS responder on [::1]: each query answered with what a test function returns."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import dns.message

# The answers to one query: messages, or raw datagrams (garbage, strays) as bytes.
Reply = Callable[[dns.message.Message], list[dns.message.Message] | list[bytes]]


class Responder:
    """Answers each query with what ``reply`` returns; ``peers`` lists who asked, in order."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind(("::1", 0))
        self.port = self.sock.getsockname()[1]
        self.asked: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def peers(self) -> set[tuple[str, int]]:
        return set(self.asked)

    def _serve(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                wire, peer = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            self.asked.append(peer[:2])
            for response in self.reply(dns.message.from_wire(wire)):
                datagram = response if isinstance(response, bytes) else response.to_wire()
                self.sock.sendto(datagram, peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)
        self.sock.close()


def responders() -> Iterator[Callable[[Reply], Responder]]:
    """For a fixture: ``yield from responders()``; the test calls ``start(reply)``,
    and every one started is closed after it."""
    started: list[Responder] = []

    def start(reply: Reply) -> Responder:
        started.append(Responder(reply))
        return started[-1]

    yield start
    for running in started:
        running.close()
