"""Verification: a real TLS handshake over IPv6 ([::1]) with SNI, compared byte for byte."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from install_support import TlsServer, make_material

from certv6.errors import InstallError
from certv6.install import parse_verify_endpoint, served_leaf, sni_for, wait_until_served
from fakes.clock import FakeClock

V1, V2 = make_material("v1"), make_material("v2")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TlsServer]:
    running = TlsServer(V1, tmp_path)
    yield running
    running.close()


def test_the_served_leaf_is_read_over_ipv6_with_sni(server: TlsServer) -> None:
    endpoint = parse_verify_endpoint(server.endpoint)
    der = served_leaf(endpoint, "www.example.test", timeout=5, starttls=None)
    assert der == V1.leaf_der()
    assert server.sni_seen[-1] == "www.example.test"


def test_verification_passes_when_the_new_leaf_is_served(server: TlsServer) -> None:
    clock = FakeClock()
    [verified] = wait_until_served(
        [parse_verify_endpoint(server.endpoint)],
        sni="www.example.test",
        expected_der=V1.leaf_der(),
        timeout=5,
        clock=clock,
    )
    assert verified.attempts == 1 and clock.sleeps == []


def test_the_wrong_certificate_fails_after_the_timeout_and_names_both(server: TlsServer) -> None:
    clock = FakeClock()
    with pytest.raises(InstallError) as caught:
        wait_until_served(
            [parse_verify_endpoint(server.endpoint)],
            sni="www.example.test",
            expected_der=V2.leaf_der(),
            timeout=3,
            clock=clock,
        )
    error = caught.value
    assert error.step == "verify"
    assert V1.leaf_sha256()[:16] in error.message and V2.leaf_sha256()[:16] in error.message
    assert sum(clock.sleeps) == pytest.approx(3)  # retried until the deadline, not beyond
    assert len(clock.sleeps) > 3


def test_the_check_retries_until_a_reload_takes_effect(server: TlsServer) -> None:
    # The "reload" happens after the third handshake, like old workers draining.
    class SwapOnThirdSleep(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if len(self.sleeps) == 3:
                server.serve(V2)

    [verified] = wait_until_served(
        [parse_verify_endpoint(server.endpoint)],
        sni="www.example.test",
        expected_der=V2.leaf_der(),
        timeout=10,
        clock=SwapOnThirdSleep(),
    )
    assert verified.attempts == 4


def test_nothing_listening_is_a_verify_error() -> None:
    with socket.socket(socket.AF_INET6) as unused:
        unused.bind(("::1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(InstallError, match="TLS handshake failed") as caught:
        wait_until_served(
            [parse_verify_endpoint(f"[::1]:{port}")],
            sni="x.test",
            expected_der=V1.leaf_der(),
            timeout=1,
            clock=FakeClock(),
        )
    assert caught.value.step == "verify"


def test_a_name_without_ipv6_address_is_not_checked_over_ipv4() -> None:
    # Resolved for AF_INET6 only: a failing look-up is an error, never an IPv4 fallback.
    with pytest.raises(OSError):
        served_leaf(
            parse_verify_endpoint("certv6-no-such-name.invalid:443"), "x", timeout=1, starttls=None
        )


def test_sni_for_wildcards() -> None:
    assert sni_for(("www.example.org", "example.org")) == "www.example.org"
    assert sni_for(("*.example.org",)) == "certv6-verify.example.org"


DIALOGUES = {
    # protocol: [(what the server sends, what it then expects to hear), ...]
    "smtp": [
        (b"220 mail.test ESMTP\r\n", b"EHLO certv6.invalid\r\n"),
        (b"250-mail.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n", b"STARTTLS\r\n"),
        (b"220 go ahead\r\n", None),
    ],
    "imap": [
        (b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n", b"c6 STARTTLS\r\n"),
        (b"* BYE not really\r\nc6 OK begin TLS\r\n", None),
    ],
}


@pytest.mark.parametrize("protocol", DIALOGUES)
def test_starttls(tmp_path: Path, protocol: str) -> None:
    """A real SMTP (RFC 3207) or IMAP (RFC 9051) dialogue on [::1] before the handshake."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    (tmp_path / "c.pem").write_bytes(V1.fullchain)
    (tmp_path / "k.pem").write_bytes(V1.privkey)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    listener = socket.socket(socket.AF_INET6)
    listener.bind(("::1", 0))
    listener.listen(1)
    heard: list[bytes] = []

    def server() -> None:
        conn, _ = listener.accept()
        with conn:
            for send, expect in DIALOGUES[protocol]:
                conn.sendall(send)
                if expect is not None:
                    heard.append(conn.recv(100))
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)

    thread = threading.Thread(target=server, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    try:
        der = served_leaf(
            parse_verify_endpoint(f"[::1]:{port}"), "mail.test", timeout=5, starttls=protocol
        )
    finally:
        thread.join(timeout=5)
        listener.close()
    assert der == V1.leaf_der()
    assert heard == [expect for _, expect in DIALOGUES[protocol] if expect is not None]
