"""A nameserver that never answers (run as a script inside the blackhole namespace).

It holds UDP and TCP port 53 on inherited sockets: UDP queries are read and dropped, TCP
connections are accepted and left silent.  Clients therefore time out, as with a dead server
behind a firewall that drops, instead of failing fast with ICMP unreachable / TCP reset.
"""

from __future__ import annotations

import argparse
import collections
import selectors
import socket

MAX_HELD = 256


def serve(udp: socket.socket, tcp: socket.socket) -> None:
    held: collections.deque[socket.socket] = collections.deque()
    sel = selectors.DefaultSelector()
    sel.register(udp, selectors.EVENT_READ)
    sel.register(tcp, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            if key.fileobj is udp:
                udp.recvfrom(65535)
            else:
                conn, _ = tcp.accept()
                held.append(conn)
                if len(held) > MAX_HELD:
                    held.popleft().close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--udp-fd", type=int, required=True)
    parser.add_argument("--tcp-fd", type=int, required=True)
    args = parser.parse_args()
    serve(socket.socket(fileno=args.udp_fd), socket.socket(fileno=args.tcp_fd))


if __name__ == "__main__":
    main()
