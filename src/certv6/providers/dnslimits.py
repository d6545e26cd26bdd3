"""The bounds of certv6's DNS listener: it runs on port 53 of a public address.

A server anyone can reach must not become anyone's tool. The listener keeps
(``Limits``, defaults in parentheses):

- a fixed pool of UDP workers (4) behind a bounded queue (256 datagrams): a
  flood costs dropped queries, never threads or memory;
- at most 32 TCP connections at once; the next is closed at once. Each is
  closed when idle for 5 s (RFC 7766 6.2.3: "a few seconds") and after 30 s
  whatever it does, so a slow sender cannot hold a slot;
- a per-source rate limit on UDP answers (response rate limiting, as BIND's
  RRL): 50 a second with bursts of 100, per /56 (one site's prefix; BIND's
  default for IPv6). Over the limit every second query gets an empty answer
  with TC set and the rest none: a spoofed victim gets nothing bigger than
  the query, a real resolver retries over TCP, which cannot be spoofed.

What is answered is authority.py's business: only its zones (REFUSED otherwise),
ANY with one small record (RFC 8482), UDP answers within the client's size and
TC rather than anything bigger.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from certv6.clock import Clock

_HEADER = 12
_QR, _TC = 0x8000, 0x0200
_KEEP = 0x7900  # opcode and RD of the query
_MAX_SOURCES = 10_000  # prefixes remembered at once; full buckets are forgotten first


@dataclass(frozen=True, slots=True)
class Limits:
    udp_workers: int = 4
    udp_queue: int = 256
    tcp_connections: int = 32
    tcp_idle: float = 5.0
    tcp_lifetime: float = 30.0
    rate: float = 50.0  # UDP answers per second per source prefix
    burst: float = 100.0
    prefix: int = 56
    slip: int = 2  # every slip-th query over the limit gets a truncated answer; 0: none


class RateLimiter:
    """Token buckets per source prefix. Not thread-safe: the UDP receiver alone uses it."""

    def __init__(self, limits: Limits, clock: Clock) -> None:
        self._limits = limits
        self._clock = clock
        self._buckets: dict[str, tuple[float, float, int]] = {}  # tokens, last seen, over

    def verdict(self, source: str) -> str:
        """ "answer", "slip" (send a truncated answer) or "drop" for a query from ``source``."""
        key = self._key(source)
        now = self._clock.monotonic()
        tokens, last, over = self._buckets.get(key, (self._limits.burst, now, 0))
        tokens = min(self._limits.burst, tokens + (now - last) * self._limits.rate)
        if tokens >= 1.0:
            self._remember(key, (tokens - 1.0, now, 0))
            return "answer"
        over += 1
        self._remember(key, (tokens, now, over))
        slip = self._limits.slip
        return "slip" if slip and over % slip == 0 else "drop"

    def _key(self, source: str) -> str:
        try:
            address = ipaddress.ip_address(source.split("%", maxsplit=1)[0])
        except ValueError:
            return source
        # On [::] the socket also takes IPv4 as ::ffff:a.b.c.d; a /56 would put all of
        # IPv4 in one bucket, so those count per /24 like BIND's RRL does.
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        if mapped is not None or address.version == 4:
            return str(ipaddress.ip_network(f"{mapped or address}/24", strict=False))
        return str(ipaddress.ip_network(f"{address}/{self._limits.prefix}", strict=False))

    def _remember(self, key: str, state: tuple[float, float, int]) -> None:
        if key not in self._buckets and len(self._buckets) >= _MAX_SOURCES:
            self._forget_full(state[1])
        self._buckets[key] = state

    def _forget_full(self, now: float) -> None:
        # A full bucket is the same as no bucket; if none is full, the oldest goes.
        burst, rate = self._limits.burst, self._limits.rate
        full = [k for k, (t, seen, _) in self._buckets.items() if t + (now - seen) * rate >= burst]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= _MAX_SOURCES:
            self._buckets.pop(next(iter(self._buckets)))


def truncated(query: bytes) -> bytes | None:
    """An empty answer with TC set and the query's question, never longer than the query.

    None when the query has no readable single question (then nothing is sent).
    """
    if len(query) < _HEADER or query[2] & 0x80:
        return None
    (qid, flags, qdcount) = struct.unpack("!HHH", query[:6])
    if qdcount != 1:
        return None
    end = _question_end(query)
    if end is None:
        return None
    header = struct.pack("!HHHHHH", qid, _QR | _TC | (flags & _KEEP), 1, 0, 0, 0)
    return header + query[_HEADER:end]


def _question_end(query: bytes) -> int | None:
    position = _HEADER
    while position < len(query):
        length = query[position]
        if length == 0:
            end = position + 1 + 4  # the root label, then QTYPE and QCLASS
            return end if end <= len(query) else None
        if length & 0xC0:  # a compression pointer cannot start a query's first name
            return None
        position += 1 + length
    return None
