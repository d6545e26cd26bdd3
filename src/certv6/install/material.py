"""The certificate being installed, as the bytes the store holds."""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass

from certv6.errors import InstallError


@dataclass(frozen=True, slots=True)
class Material:
    """One version of a lineage: its names and its four PEM files."""

    name: str
    domains: tuple[str, ...]
    privkey: bytes
    cert: bytes
    chain: bytes
    fullchain: bytes

    def files(self) -> dict[str, bytes]:
        """Every file a version directory holds (see targets.VERSION_FILES)."""
        return {
            "privkey.pem": self.privkey,
            "cert.pem": self.cert,
            "chain.pem": self.chain,
            "fullchain.pem": self.fullchain,
            # HAProxy reads certificate, chain and key from one file, in any order.
            "combined.pem": self.fullchain + self.privkey,
        }

    def leaf_der(self) -> bytes:
        """The leaf certificate's DER: what a server must send for verification to pass."""
        try:
            return ssl.PEM_cert_to_DER_cert(self.cert.decode("ascii"))
        except (ValueError, UnicodeDecodeError) as error:
            raise InstallError(
                f"certificate {self.name!r}: cert.pem is not a PEM certificate"
            ) from error

    def leaf_sha256(self) -> str:
        return hashlib.sha256(self.leaf_der()).hexdigest()
