"""Prove the server serves the new certificate: a TLS handshake over IPv6, with SNI.

Identity is compared by exact bytes: the served leaf's DER must equal the new
certificate's. That is why the handshake uses ``CERT_NONE``: nothing the server
sends is trusted or used, a chain check would only add ways to fail (a private
CA, a test CA) without making the byte comparison any stronger.

After a reload, old workers keep serving the old certificate for a moment, so
the check retries until the new leaf is seen or ``timeout`` passes.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

from certv6.clock import Clock
from certv6.errors import InstallError
from certv6.model import Endpoint

STEP = "verify"
ATTEMPT_TIMEOUT = 5.0
STARTTLS_PORTS = {25: "smtp", 587: "smtp", 143: "imap"}


@dataclass(frozen=True, slots=True)
class Verified:
    endpoint: Endpoint
    seconds: float
    attempts: int


def wait_until_served(
    endpoints: Sequence[Endpoint],
    *,
    sni: str,
    expected_der: bytes,
    timeout: float,
    clock: Clock,
    starttls: str | None = None,
) -> list[Verified]:
    """Retry each endpoint until it serves ``expected_der`` as its leaf.

    Raises:
        InstallError: (step "verify") an endpoint still served another certificate,
            or no handshake worked, when ``timeout`` passed.
    """
    return [
        _wait_one(
            endpoint,
            sni=sni,
            expected=expected_der,
            timeout=timeout,
            clock=clock,
            starttls=starttls,
        )
        for endpoint in endpoints
    ]


def served_leaf(endpoint: Endpoint, sni: str, *, timeout: float, starttls: str | None) -> bytes:
    """The DER of the leaf certificate ``endpoint`` sends for ``sni``.

    Raises:
        OSError: no IPv6 address, connection refused, handshake failed (ssl.SSLError).
    """
    protocol = starttls or STARTTLS_PORTS.get(endpoint.port)
    with _connect(endpoint, timeout) as raw:
        if protocol:
            _starttls(raw, protocol)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # compared by bytes below; see the module docstring
        with context.wrap_socket(raw, server_hostname=sni) as tls:
            der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError("the server sent no certificate")
    return der


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def _wait_one(
    endpoint: Endpoint,
    *,
    sni: str,
    expected: bytes,
    timeout: float,
    clock: Clock,
    starttls: str | None,
) -> Verified:
    start = clock.monotonic()
    deadline = start + timeout
    delay, attempts, last = 0.05, 0, ""
    while True:
        attempts += 1
        remaining = max(0.1, deadline - clock.monotonic())
        try:
            der = served_leaf(
                endpoint, sni, timeout=min(ATTEMPT_TIMEOUT, remaining), starttls=starttls
            )
        except OSError as error:
            last = f"TLS handshake failed: {error}"
        else:
            if der == expected:
                return Verified(endpoint, clock.monotonic() - start, attempts)
            last = f"it serves sha256 {fingerprint(der)[:16]}…, not the new certificate"
        if clock.monotonic() >= deadline:
            raise InstallError(
                f"verify: {endpoint} (SNI {sni}): {last} "
                f"(expected sha256 {fingerprint(expected)[:16]}…, waited {timeout:.0f} s)",
                step=STEP,
                hint="check that the server's TLS block for this name includes certv6's snippet",
            )
        clock.sleep(min(delay, max(0.0, deadline - clock.monotonic())))
        delay = min(delay * 2, 0.5)


def _connect(endpoint: Endpoint, timeout: float) -> socket.socket:
    # AF_INET6 only: a name without an AAAA record fails here instead of
    # quietly checking some IPv4 listener.
    infos = socket.getaddrinfo(endpoint.host, endpoint.port, socket.AF_INET6, socket.SOCK_STREAM)
    last: OSError = OSError(f"{endpoint.host} has no IPv6 address")
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError as error:
            sock.close()
            last = error
            continue
        return sock
    raise last


def _starttls(sock: socket.socket, protocol: str) -> None:
    """Ask a mail server to start TLS (RFC 3207 for SMTP, RFC 9051 6.2.1 for IMAP)."""
    if protocol == "smtp":
        _expect(sock, b"220")
        sock.sendall(b"EHLO certv6.invalid\r\n")
        _expect(sock, b"250")
        sock.sendall(b"STARTTLS\r\n")
        _expect(sock, b"220")
    else:
        _expect(sock, b"* OK")
        sock.sendall(b"c6 STARTTLS\r\n")
        _expect(sock, b"c6 OK")


def _expect(sock: socket.socket, prefix: bytes) -> None:
    """Read one reply (SMTP continuation lines "250-" included) and check how it starts."""
    while True:
        line = _read_line(sock)
        if not line.startswith(prefix):
            if line.startswith(b"* ") and prefix.startswith(b"c6"):
                continue  # untagged IMAP data before the tagged answer
            raise OSError(f"STARTTLS refused: {line[:80].decode(errors='replace')!r}")
        if not (len(line) > 3 and line[3:4] == b"-"):
            return


def _read_line(sock: socket.socket, limit: int = 4096) -> bytes:
    # Byte by byte, so nothing of the TLS handshake that follows is read here.
    line = bytearray()
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk or len(line) > limit:
            raise OSError("the server closed the connection during STARTTLS")
        line += chunk
    return bytes(line)
