"""Private keys at rest in a shared store: sealed with the fleet key (AES-256-GCM).

The fleet key is 32 random bytes, base64 in a file only the fleet's hosts have
(``head -c 32 /dev/urandom | base64 > fleet.key; chmod 600 fleet.key``), read
under the usual permission check. etcd then holds only ciphertext: a backup,
a snapshot or an etcd user who may read the prefix learns no private key.

The associated data is the key's place in the store (``/certv6/versions/www/0003``),
so a sealed key cannot be moved to another lineage or version unnoticed, and
``kid`` (the first 8 bytes of SHA-256 of the fleet key, hex) tells a host with
the wrong fleet key exactly that, instead of "decryption failed".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from certv6.errors import ConfigError, StoreError
from certv6.settings import read_secret_file

ALGORITHM = "A256GCM"
PLAIN = "none"


class Sealer:
    """Seal and open private keys; ``key`` None stores them as they are (encrypt_keys = false)."""

    def __init__(self, key: bytes | None) -> None:
        self._aead = AESGCM(key) if key is not None else None
        self.kid = hashlib.sha256(key).hexdigest()[:16] if key is not None else ""

    @classmethod
    def from_file(cls, path: Path | None, *, encrypt: bool, allow_insecure: bool) -> Sealer:
        """Raises ConfigError: no key file while encrypting, unreadable, or not 32 bytes."""
        if not encrypt:
            return cls(None)
        if path is None:
            raise ConfigError(
                "[store.etcd] fleet_key_file is not set, and private keys are sealed by default",
                hint="create one: head -c 32 /dev/urandom | base64 > /etc/certv6/fleet.key; "
                "chmod 600 it, copy it to every host of the fleet (docs/fleet.md)",
            )
        text = read_secret_file(path, allow_insecure=allow_insecure, what="fleet key file")
        try:
            key = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise ConfigError(
                f"fleet key file {path} does not hold 32 bytes in base64",
                hint="head -c 32 /dev/urandom | base64 > it (the same file on every host)",
            )
        return cls(key)

    def seal(self, data: bytes, place: str) -> dict[str, Any]:
        if self._aead is None:
            return {"alg": PLAIN, "data": _b64(data)}
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, data, place.encode())
        return {"alg": ALGORITHM, "kid": self.kid, "nonce": _b64(nonce), "data": _b64(sealed)}

    def open(self, box: Any, place: str) -> bytes:
        """Raises StoreError: sealed with another fleet key, tampered with, or not a box."""
        if not isinstance(box, dict) or "data" not in box:
            raise StoreError(f"{place}: the private key is missing or damaged in the store")
        if box.get("alg") == PLAIN:
            return base64.b64decode(box["data"])
        if self._aead is None:
            raise ConfigError(
                f"{place}: the private key is sealed with a fleet key (kid {box.get('kid')})",
                hint="set [store.etcd] fleet_key_file to the fleet's key file",
            )
        if box.get("kid") != self.kid:
            raise ConfigError(
                f"{place}: the private key is sealed with fleet key {box.get('kid')}, "
                f"and this host's fleet_key_file is {self.kid}",
                hint="copy the fleet's key file to this host (the same file on every host)",
            )
        try:
            nonce = base64.b64decode(box["nonce"])
            return self._aead.decrypt(nonce, base64.b64decode(box["data"]), place.encode())
        except (InvalidTag, KeyError, ValueError, binascii.Error) as error:
            raise StoreError(
                f"{place}: the sealed private key does not open (changed or moved in etcd)",
                hint="restore it from a backup, or renew the certificate (--force)",
            ) from error


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
