"""A small DNS listener: UDP and TCP on one IPv6 address and port, with fixed bounds.

It only moves bytes; what to answer is the handler's business
(``authority.respond``). The bounds (a fixed UDP worker pool, a cap on TCP
connections with idle and lifetime limits, per-source response rate limiting)
are described in dnslimits.py. TCP follows RFC 7766: two-byte length prefix,
several queries per connection.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass

from certv6.clock import SYSTEM_CLOCK, Clock
from certv6.model import Endpoint
from certv6.providers.dnslimits import Limits, RateLimiter, truncated

log = logging.getLogger(__name__)

Handler = Callable[[bytes, bool], bytes | None]  # (query, over TCP) -> answer or None
_POLL_SECONDS = 0.05  # how soon stop() returns
_MAX_DATAGRAM = 65535


@dataclass
class Counters:
    """What the listener did; read by tests and the debug log at stop."""

    received: int = 0
    answered: int = 0
    slipped: int = 0  # truncated answers over the rate limit
    rate_dropped: int = 0
    queue_dropped: int = 0
    tcp_refused: int = 0  # connections over the cap


class DnsListener:
    """Answer DNS over UDP and TCP at ``endpoint`` (port 0: any free port)."""

    def __init__(
        self,
        endpoint: Endpoint,
        handler: Handler,
        *,
        limits: Limits | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.endpoint = endpoint
        self.limits = limits or Limits()
        self.counters = Counters()
        self._handler = handler
        self._clock = clock
        self._stopping = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._queue: queue.Queue[tuple[bytes, tuple[str, int, int, int]]] = queue.Queue(
            self.limits.udp_queue
        )
        self._tcp_slots = threading.BoundedSemaphore(self.limits.tcp_connections)
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> Endpoint:
        """Bind both sockets, then serve; returns the bound endpoint.

        Raises:
            OSError: the address cannot be bound (in use, not ours, no permission).
        """
        udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            udp.bind((self.endpoint.host, self.endpoint.port))
            port = udp.getsockname()[1]
            # A restart must not wait for TIME_WAIT on port 53.
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((self.endpoint.host, port))
            tcp.listen(self.limits.tcp_connections)
        except OSError:
            udp.close()
            tcp.close()
            raise
        for sock in (udp, tcp):
            sock.settimeout(_POLL_SECONDS)
        self._stopping.clear()
        self._sockets = [udp, tcp]
        self.endpoint = Endpoint(self.endpoint.host, port)
        self._spawn("udp", self._receive, udp)
        for number in range(self.limits.udp_workers):
            self._spawn(f"udp-worker-{number}", self._work, udp)
        self._spawn("tcp", self._accept, tcp)
        return self.endpoint

    @property
    def running(self) -> bool:
        return bool(self._sockets)

    def stop(self) -> None:
        """Stop serving and close the sockets; idempotent."""
        self._stopping.set()
        with self._lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5.0)
        for sock in self._sockets:
            sock.close()
        if self._sockets:
            log.debug("DNS listener on %s: %s", self.endpoint, self.counters)
        self._sockets, self._threads = [], []

    def _spawn(
        self, name: str, target: Callable[[socket.socket], None], sock: socket.socket
    ) -> None:
        thread = threading.Thread(
            target=target, args=(sock,), name=f"certv6-dns-{name}", daemon=True
        )
        thread.start()
        self._threads.append(thread)

    # --- UDP: one receiver, a fixed pool of workers -----------------------------------------

    def _receive(self, sock: socket.socket) -> None:
        limiter = RateLimiter(self.limits, self._clock)
        while not self._stopping.is_set():
            try:
                data, source = sock.recvfrom(_MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError:
                return
            self._count("received")
            verdict = limiter.verdict(source[0])
            if verdict == "slip":
                self._send(sock, truncated(data), source, "slipped")
            elif verdict == "drop":
                self._count("rate_dropped")
            else:
                try:
                    self._queue.put_nowait((data, source))
                except queue.Full:
                    self._count("queue_dropped")

    def _work(self, sock: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                data, source = self._queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            self._send(sock, self._handler(data, False), source, "answered")

    def _send(
        self,
        sock: socket.socket,
        answer: bytes | None,
        source: tuple[str, int, int, int],
        what: str,
    ) -> None:
        if answer is None:
            return
        with contextlib.suppress(OSError):
            sock.sendto(answer, source)
            self._count(what)

    # --- TCP: a capped number of connections, each with idle and lifetime limits ----------

    def _accept(self, sock: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._tcp_slots.acquire(blocking=False):
                self._count("tcp_refused")
                connection.close()
                continue
            thread = threading.Thread(
                target=self._converse, args=(connection,), name="certv6-dns-tcp-conn", daemon=True
            )
            thread.start()

    def _converse(self, connection: socket.socket) -> None:
        deadline = self._clock.monotonic() + self.limits.tcp_lifetime
        with self._lock:
            self._connections.add(connection)
        try:
            with connection, contextlib.suppress(OSError):
                while not self._stopping.is_set():
                    query = self._read_message(connection, deadline)
                    if query is None:
                        return
                    answer = self._handler(query, True)
                    if answer is None:
                        return
                    connection.sendall(struct.pack("!H", len(answer)) + answer)
        finally:
            with self._lock:
                self._connections.discard(connection)
            self._tcp_slots.release()

    def _read_message(self, connection: socket.socket, deadline: float) -> bytes | None:
        header = self._read_exactly(connection, 2, deadline)
        if header is None:
            return None
        (length,) = struct.unpack("!H", header)
        return self._read_exactly(connection, length, deadline)

    def _read_exactly(self, connection: socket.socket, size: int, deadline: float) -> bytes | None:
        chunks, left = [], size
        while left:
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                return None
            connection.settimeout(min(self.limits.tcp_idle, remaining))
            chunk = connection.recv(left)  # TimeoutError (an OSError) ends the connection
            if not chunk:
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _count(self, what: str) -> None:
        with self._lock:
            setattr(self.counters, what, getattr(self.counters, what) + 1)
