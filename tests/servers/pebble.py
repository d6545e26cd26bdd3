"""A Pebble of its own on [::1], for what the lab's shared Pebble is not set up for.

The lab's Pebble runs without external account binding; this one can require it
(``eab_keys``: kid -> base64url HMAC key, RFC 8555 7.3.4). It validates nothing
here (no DNS behind it): accounts, orders, keys; issuance runs against the lab.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from fakes.ports import free_port
from fakes.tls import make_tls

PEBBLE = "/usr/bin/pebble"
START_TIMEOUT = 15.0


class Pebble:
    def __init__(self, directory: Path, *, eab_keys: Mapping[str, str] | None = None) -> None:
        self.directory = directory
        self.eab_keys = dict(eab_keys or {})
        self.port = free_port()
        self.directory_url = f"https://[::1]:{self.port}/dir"
        self.ca_bundle = directory / "ca.pem"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Pebble:
        self.directory.mkdir(parents=True, exist_ok=True)
        tls = make_tls(self.directory)
        config = {
            "pebble": {
                "listenAddress": f"[::1]:{self.port}",
                "managementListenAddress": f"[::1]:{free_port()}",
                "certificate": str(tls.cert),
                "privateKey": str(tls.key),
                "httpPort": 5002,
                "tlsPort": 5001,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": bool(self.eab_keys),
                "externalAccountMACKeys": self.eab_keys,
            }
        }
        path = self.directory / "pebble.json"
        path.write_text(json.dumps(config))
        log = (self.directory / "pebble.log").open("wb")
        env = {"PATH": "/usr/bin:/bin", "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
        self._process = subprocess.Popen(
            [PEBBLE, "-config", str(path), "-dnsserver", "[::1]:9"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self._wait()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)

    def _wait(self) -> None:
        assert self._process is not None
        pause = threading.Event()
        for _ in range(int(START_TIMEOUT / 0.05)):
            if self._process.poll() is not None:
                raise RuntimeError(f"pebble exited: {(self.directory / 'pebble.log').read_text()}")
            try:
                with socket.create_connection(("::1", self.port), timeout=1):
                    return
            except OSError:
                pause.wait(0.05)
        raise RuntimeError(f"pebble did not listen on [::1]:{self.port}")
