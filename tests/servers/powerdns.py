"""PowerDNS Authoritative with its HTTP API, behind nginx for TLS, all on [::1].

dns-lexicon's ``powerdns`` provider speaks this API (``/api/v1/servers/localhost/
zones/...``, ``X-API-Key``); certv6 talks to APIs over HTTPS only, and the PowerDNS
webserver has no TLS, so nginx terminates it with a throw-away CA. The zone is
served over DNS too, so a test reads what the world sees with a plain query.

    with PowerDns(tmp_path, zones=["example.test"]) as pdns:
        pdns.api_url, pdns.api_key, pdns.ca_bundle, pdns.dns_port, pdns.txt(owner), pdns.aaaa(owner)

Everything lives in the given directory; both processes are stopped by pid.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import secrets
import socket
import sqlite3
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import dns.flags
import dns.message
import dns.query

from fakes.ports import free_port
from fakes.tls import make_tls

PDNS = "/usr/sbin/pdns_server"
NGINX = "/usr/sbin/nginx"
SCHEMA = Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")
START_TIMEOUT = 15.0


class PowerDns:
    def __init__(self, directory: Path, zones: Sequence[str]) -> None:
        self.directory = directory
        self.zones = [zone.rstrip(".") + "." for zone in zones]
        self.api_key = secrets.token_urlsafe(24)
        self.dns_port = free_port()
        self.web_port = free_port()
        self.tls_port = free_port()
        self.api_url = f"https://[::1]:{self.tls_port}"
        self.ca_bundle = directory / "ca.pem"
        self._processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> PowerDns:
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            self._start_pdns()
            self._start_nginx()
            for zone in self.zones:
                self._create_zone(zone)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def txt(self, owner: str) -> set[str]:
        """The TXT values PowerDNS serves at ``owner`` now, asked over DNS (RD=0)."""
        return {b"".join(r.strings).decode() for r in self._answer(owner, "TXT")}

    def aaaa(self, owner: str) -> set[str]:
        """The AAAA values PowerDNS serves at ``owner`` now, in RFC 5952 form."""
        return {str(ipaddress.IPv6Address(r.address)) for r in self._answer(owner, "AAAA")}

    def _answer(self, owner: str, rdtype: str) -> list[Any]:
        query = dns.message.make_query(owner, rdtype, flags=0)
        response = dns.query.udp(query, "::1", port=self.dns_port, timeout=2)
        assert response.flags & dns.flags.AA, response
        return [
            rdata
            for rrset in response.answer
            if rrset.rdtype == query.question[0].rdtype
            for rdata in rrset
        ]

    def stop(self) -> None:
        for process in reversed(self._processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self._processes = []

    def _start_pdns(self) -> None:
        database = self.directory / "pdns.sqlite3"
        with sqlite3.connect(database) as connection:
            connection.executescript(SCHEMA.read_text())
        settings = {
            "launch": "gsqlite3",
            "gsqlite3-database": str(database),
            "local-address": "::1",
            "local-port": str(self.dns_port),
            "api": "yes",
            "api-key": self.api_key,
            "webserver": "yes",
            "webserver-address": "::1",
            "webserver-port": str(self.web_port),
            "webserver-allow-from": "::1/128",
            "socket-dir": str(self.directory),
            "guardian": "no",
            "daemon": "no",
            "disable-syslog": "yes",
            "loglevel": "3",
            # Every change must be visible at once: no caches between the API and DNS.
            "cache-ttl": "0",
            "query-cache-ttl": "0",
            "negquery-cache-ttl": "0",
        }
        config = self.directory / "pdns.conf"
        config.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        log = (self.directory / "pdns.log").open("wb")
        self._processes.append(
            subprocess.Popen(
                [PDNS, f"--config-dir={self.directory}"], stdout=log, stderr=subprocess.STDOUT
            )
        )
        _wait_for_port(self.web_port, self._processes[-1], "pdns_server")

    def _start_nginx(self) -> None:
        tls = make_tls(self.directory)
        temp = self.directory / "nginx-temp"
        temp.mkdir()
        config = self.directory / "nginx.conf"
        config.write_text(
            "daemon off;\n"
            f"pid {self.directory}/nginx.pid;\n"
            f"error_log {self.directory}/nginx-error.log;\n"
            "events {}\n"
            "http {\n"
            "  access_log off;\n"
            f"  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
            f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n"
            f"  scgi_temp_path {temp}/scgi;\n"
            "  server {\n"
            f"    listen [::1]:{self.tls_port} ssl;\n"
            f"    ssl_certificate {tls.cert};\n    ssl_certificate_key {tls.key};\n"
            f"    location / {{ proxy_pass http://[::1]:{self.web_port}; }}\n"
            "  }\n"
            "}\n"
        )
        log = (self.directory / "nginx.log").open("wb")
        self._processes.append(
            subprocess.Popen(
                [NGINX, "-p", str(self.directory), "-c", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        _wait_for_port(self.tls_port, self._processes[-1], "nginx")

    def _create_zone(self, zone: str) -> None:
        body = {"name": zone, "kind": "Native", "nameservers": [f"ns.{zone}"]}
        connection = http.client.HTTPConnection("::1", self.web_port, timeout=10)
        try:
            connection.request(
                "POST",
                "/api/v1/servers/localhost/zones",
                body=json.dumps(body),
                headers={"X-API-Key": self.api_key, "Content-Type": "application/json"},
            )
            response = connection.getresponse()
            answer = response.read()
        finally:
            connection.close()
        assert response.status == 201, answer


def _wait_for_port(port: int, process: subprocess.Popen[bytes], name: str) -> None:
    pause = threading.Event()
    for _ in range(int(START_TIMEOUT / 0.05)):
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; see its log")
        try:
            with socket.create_connection(("::1", port), timeout=1):
                return
        except OSError:
            pause.wait(0.05)
    raise RuntimeError(f"{name} did not listen on [::1]:{port} within {START_TIMEOUT} s")
