"""A nameserver that answers SERVFAIL to every query, over UDP and TCP (for the fault tests).

    python servfail.py ADDRESS      (runs until killed; binds ADDRESS port 53)

Started inside a lab namespace, on the client host's address: the lab delegates
``_acme-challenge.standalone.certv6.test`` to that host, so its only nameserver
is this one.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading

import dns.message
import dns.rcode


def answer(wire: bytes) -> bytes:
    query = dns.message.from_wire(wire)
    response = dns.message.make_response(query)
    response.set_rcode(dns.rcode.SERVFAIL)
    return response.to_wire()


def serve_udp(sock: socket.socket) -> None:
    while True:
        wire, peer = sock.recvfrom(65535)
        try:
            sock.sendto(answer(wire), peer)
        except Exception as error:  # a garbled query: ignore it, like a server would
            print(f"servfail: udp: {error}", file=sys.stderr)


def serve_tcp_client(connection: socket.socket) -> None:
    with connection:
        while True:
            header = connection.recv(2, socket.MSG_WAITALL)
            if len(header) < 2:
                return
            (size,) = struct.unpack("!H", header)
            reply = answer(connection.recv(size, socket.MSG_WAITALL))
            connection.sendall(struct.pack("!H", len(reply)) + reply)


def main() -> None:
    address = sys.argv[1]
    udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    udp.bind((address, 53))
    tcp = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((address, 53))
    tcp.listen(16)
    threading.Thread(target=serve_udp, args=(udp,), daemon=True).start()
    print("ready", flush=True)
    while True:
        connection, _ = tcp.accept()
        threading.Thread(target=serve_tcp_client, args=(connection,), daemon=True).start()


if __name__ == "__main__":
    main()
