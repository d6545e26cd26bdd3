"""A small DNS listener: UDP and TCP on one IPv6 address and port, in daemon threads.

It only moves bytes; what to answer is the handler's business
(``authority.respond``). TCP follows RFC 7766: two-byte length prefix, several
queries per connection, idle connections closed after a few seconds.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import threading
from collections.abc import Callable

from certv6.model import Endpoint

Handler = Callable[[bytes, bool], bytes | None]  # (query, over TCP) -> answer or None
TCP_IDLE_SECONDS = 10.0
_POLL_SECONDS = 0.05  # how soon stop() returns


class _Udp(socketserver.ThreadingUDPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    max_packet_size = 65535


class _Tcp(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    allow_reuse_address = True  # a restart must not wait for TIME_WAIT on port 53


class DnsListener:
    """Answer DNS over UDP and TCP at ``endpoint`` (port 0: any free port)."""

    def __init__(self, endpoint: Endpoint, handler: Handler) -> None:
        self.endpoint = endpoint
        self._handler = handler
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> Endpoint:
        """Bind both sockets, then serve; returns the bound endpoint.

        Raises:
            OSError: the address cannot be bound (in use, not ours, no permission).
        """
        udp = _Udp((self.endpoint.host, self.endpoint.port), _udp_handler(self._handler))
        try:
            port = udp.server_address[1]
            tcp = _Tcp((self.endpoint.host, port), _tcp_handler(self._handler))
        except OSError:
            udp.server_close()
            raise
        self._servers = [udp, tcp]
        self.endpoint = Endpoint(self.endpoint.host, port)
        for server in self._servers:
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": _POLL_SECONDS},
                name=f"certv6-dns-{type(server).__name__.strip('_').lower()}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self.endpoint

    @property
    def running(self) -> bool:
        return bool(self._servers)

    def stop(self) -> None:
        """Stop serving and close the sockets; idempotent."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5.0)
        self._servers, self._threads = [], []


def _udp_handler(handler: Handler) -> type[socketserver.BaseRequestHandler]:
    class UdpRequest(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            answer = handler(data, False)
            if answer is not None:
                with contextlib.suppress(OSError):
                    sock.sendto(answer, self.client_address)

    return UdpRequest


def _tcp_handler(handler: Handler) -> type[socketserver.BaseRequestHandler]:
    class TcpRequest(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(TCP_IDLE_SECONDS)
            with contextlib.suppress(OSError):
                while (query := _read_message(self.request)) is not None:
                    answer = handler(query, True)
                    if answer is None:
                        return
                    self.request.sendall(struct.pack("!H", len(answer)) + answer)

    return TcpRequest


def _read_message(sock: socket.socket) -> bytes | None:
    header = _read_exactly(sock, 2)
    if header is None:
        return None
    (length,) = struct.unpack("!H", header)
    return _read_exactly(sock, length)


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = sock.recv(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
