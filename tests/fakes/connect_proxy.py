"""A tiny HTTP CONNECT proxy (RFC 9110 section 9.3.6) for the tests: real sockets, IPv6.

    python tests/fakes/connect_proxy.py --listen '[fd00:c6:1::3128]:3128' \\
        --map ca-v4only.certv6.test=fd00:c6:1::ca --deny forbidden.test

It answers ``CONNECT host:port`` with ``200 Connection established`` and then copies
bytes both ways, so TLS runs end to end between the client and the server (the proxy
sees nothing). Every other method gets 405. ``--deny HOST`` answers 403, like a proxy
whose policy forbids a destination.

``--map NAME=ADDRESS`` is the one stand-in: a real proxy on a dual-stack network would
reach NAME's IPv4 address; the lab has no IPv4 anywhere, so the proxy connects to the
IPv6 ADDRESS instead. Names that are not mapped are resolved normally.

Prints ``ready [addr]:port`` once listening, and one line per tunnel:
``CONNECT host:port -> address`` or ``CONNECT host:port refused: reason``.

``--forward ADDRESS`` makes it a plain TCP relay instead (no CONNECT): every connection
is piped to ADDRESS on the same port. The lab uses that as a NAT64 stand-in for TCP:
listening at the RFC 6052 address of an IPv4 server, it hands the connection to the
server, which is what a NAT64 does for the client. Prints ``FORWARD -> address``.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any

PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")


def without_proxy_variables(monkeypatch: Any) -> Any:
    """Remove the proxy variables (either case) for a test; returns ``monkeypatch``."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


BUFFER = 65536
HEADER_LIMIT = 16384


class ConnectProxy:
    """Serve CONNECT on ``listen`` (host, port) in background threads until ``close``."""

    def __init__(
        self,
        listen: tuple[str, int] = ("::1", 0),
        *,
        mapping: Mapping[str, str] | None = None,
        deny: set[str] | None = None,
        forward: str | None = None,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.forward = forward
        self.mapping = {k.lower(): v for k, v in (mapping or {}).items()}
        self.deny = {host.lower() for host in deny or set()}
        self.log = log
        self.tunnels: list[str] = []  # "host:port" of every tunnel opened
        self._server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(listen)
        self._server.listen(64)
        self.address = self._server.getsockname()[0]
        self.port = self._server.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://[{self.address}]:{self.port}"

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        with client:
            if self.forward is not None:
                self._relay(client, self.forward)
                return
            head = _read_head(client)
            if head is None:
                return
            method, _, target = head.partition(" ")
            target = target.split(" ")[0]
            if method != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            host, _, port = target.rpartition(":")
            host = host.strip("[]").lower()
            if host in self.deny:
                self.log(f"CONNECT {target} refused: denied by policy")
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            self._tunnel(client, target, host, int(port))

    def _tunnel(self, client: socket.socket, target: str, host: str, port: int) -> None:
        address = self.mapping.get(host, host)
        try:
            upstream = socket.create_connection((address, port), timeout=5)
        except OSError as error:
            self.log(f"CONNECT {target} refused: {error}")
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        self.tunnels.append(target)
        self.log(f"CONNECT {target} -> {address}")
        with upstream:
            upstream.settimeout(None)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
            back.start()
            _pipe(client, upstream)
            back.join(timeout=30)

    def _relay(self, client: socket.socket, address: str) -> None:
        try:
            upstream = socket.create_connection((address, self.port), timeout=5)
        except OSError as error:
            self.log(f"FORWARD -> {address} failed: {error}")
            return
        self.log(f"FORWARD -> {address}")
        with upstream:
            upstream.settimeout(None)
            back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
            back.start()
            _pipe(client, upstream)
            back.join(timeout=30)


def _read_head(client: socket.socket) -> str | None:
    client.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = client.recv(1024)
        except OSError:
            return None
        if not chunk or len(data) > HEADER_LIMIT:
            return None
        data += chunk
    client.settimeout(None)
    return data.split(b"\r\n", 1)[0].decode("latin-1")


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(BUFFER):
            sink.sendall(chunk)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def _endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="[addr]:port")
    parser.add_argument("--map", action="append", default=[], help="NAME=IPV6ADDRESS")
    parser.add_argument("--deny", action="append", default=[], help="HOST to refuse (403)")
    parser.add_argument("--forward", help="relay every connection to ADDRESS (no CONNECT)")
    args = parser.parse_args(argv)
    mapping = dict(item.split("=", 1) for item in args.map)

    def log(line: str) -> None:
        print(line, flush=True)

    proxy = ConnectProxy(
        _endpoint(args.listen),
        mapping=mapping,
        deny=set(args.deny),
        forward=args.forward,
        log=log,
    )
    log(f"ready [{proxy.address}]:{proxy.port}")
    threading.Event().wait()  # until killed


if __name__ == "__main__":
    main()
