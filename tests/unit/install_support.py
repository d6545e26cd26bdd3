"""Installer test helpers: real certificates, key/cert checks, a real TLS server on [::1]."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from certv6.install import Material
from testpki import self_signed


def make_material(tag: str, domains: tuple[str, ...] = ("www.example.test",)) -> Material:
    """A self-signed certificate with common name ``tag``, so tests can tell versions apart."""
    issued = self_signed(tag, names=domains, lifetime=datetime.timedelta(days=7))
    cert_pem = issued.cert_pem()
    chain_pem = cert_pem  # a stand-in "intermediate": only its bytes matter here
    return Material(tag, domains, issued.key_pem(), cert_pem, chain_pem, cert_pem + chain_pem)


def tag_of(cert_pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(cert_pem)
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def pair_tag(key_pem: bytes, cert_pem: bytes) -> str:
    """The certificate's tag; fails the test when the key does not belong to the certificate."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    cert = x509.load_pem_x509_certificate(cert_pem)
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki), (
        f"key does not match certificate {tag_of(cert_pem)}"
    )
    return tag_of(cert_pem)


class TlsServer:
    """A real TLS listener on [::1] serving one certificate; ``serve(material)`` swaps it."""

    def __init__(self, material: Material, directory: Path) -> None:
        self.directory = directory
        self.sni_seen: list[str | None] = []
        self._context = self._context_for(material)
        self._listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self._listener.bind(("::1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"[::1]:{self.port}"

    def serve(self, material: Material) -> None:
        self._context = self._context_for(material)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _context_for(self, material: Material) -> ssl.SSLContext:
        cert, key = self.directory / f"{material.name}.crt", self.directory / f"{material.name}.key"
        cert.write_bytes(material.fullchain)
        key.write_bytes(material.privkey)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.sni_callback = lambda sock, name, ctx: self.sni_seen.append(name)
        return context

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(2)
            try:
                with self._context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except OSError:
                pass
            finally:
                conn.close()
