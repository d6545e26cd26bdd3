"""Real TLS servers (nginx, HAProxy) in the lab's IPv6-only client namespace, for installer tests.

Each server gets its own directory under the test's tmp dir (config, pid, logs,
temp files), listens on ``[lab.client_addr]:PORT`` only, and is stopped by pid.
"""

from __future__ import annotations

import signal
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testpki import self_signed

NGINX = "/usr/sbin/nginx"
HAPROXY = "/usr/sbin/haproxy"
START_TIMEOUT = 10.0


def snakeoil(directory: Path, name: str = "snakeoil") -> tuple[Path, Path]:
    """A self-signed certificate, like the one a server ships with before certv6 runs."""
    return self_signed(name).write(directory / f"{name}.crt", directory / f"{name}.key")


@dataclass
class Server:
    """A server process in the client namespace; ``served(sni)`` is the leaf it sends now."""

    lab: Any
    directory: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"[{self.lab.client_addr}]:{self.port}"

    @property
    def config_test(self) -> list[str]:
        """The server's own config test, as certv6's install table runs it."""
        raise NotImplementedError

    @property
    def reload(self) -> list[str]:
        """The server's own reload command, as certv6's install table runs it."""
        raise NotImplementedError

    def start(self, argv: list[str]) -> None:
        log = (self.directory / "server.out").open("wb")
        self.process = self.lab.popen_in_client(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._listening():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"{argv[0]} did not start:\n{self.output()}")
            time.sleep(0.05)

    def stop(self) -> None:
        # `ip netns exec` execs the server, so this pid is the server's master process.
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def output(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-3000:]
            for path in sorted(self.directory.glob("*.out")) + sorted(self.directory.glob("*.log"))
        )

    def served_der(self, sni: str) -> bytes:
        """The leaf served for ``sni``, read by a handshake from inside the client namespace."""
        script = (
            "import socket, ssl, sys\n"
            "c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); c.check_hostname = False\n"
            "c.verify_mode = ssl.CERT_NONE\n"
            f"s = socket.create_connection(({self.lab.client_addr!r}, {self.port}), timeout=5)\n"
            f"t = c.wrap_socket(s, server_hostname={sni!r})\n"
            "sys.stdout.write(ssl.DER_cert_to_PEM_cert(t.getpeercert(True)))\n"
        )
        done = self.lab.run_in_client(["python3", "-c", script], timeout=20)
        assert done.returncode == 0, done.stderr
        return ssl.PEM_cert_to_DER_cert(done.stdout)

    def _listening(self) -> bool:
        probe = self.lab.run_in_client(
            ["python3", "-c", _CONNECT.format(addr=self.lab.client_addr, port=self.port)],
            timeout=10,
        )
        return probe.returncode == 0


_CONNECT = "import socket; socket.create_connection(('{addr}', {port}), timeout=1).close()"


class Nginx(Server):
    """nginx with a private prefix; ``site`` holds the user's server blocks."""

    def __init__(self, lab: Any, directory: Path, port: int = 8443) -> None:
        super().__init__(lab, directory, port)
        directory.mkdir(parents=True, exist_ok=True)
        self.conf = directory / "nginx.conf"
        self.site = directory / "site.conf"
        self.conf.write_text(
            "worker_processes 1;\n"
            f"error_log {directory}/error.log info;\n"
            f"pid {directory}/nginx.pid;\n"
            "events { worker_connections 64; }\n"
            "http {\n"
            "    access_log off;\n"
            "    server_names_hash_bucket_size 128;\n"
            # Every temp path inside the test's directory (the compiled-in ones are under /var).
            f"    client_body_temp_path {directory}/body;\n"
            f"    proxy_temp_path {directory}/proxy;\n"
            f"    fastcgi_temp_path {directory}/fastcgi;\n"
            f"    uwsgi_temp_path {directory}/uwsgi;\n"
            f"    scgi_temp_path {directory}/scgi;\n"
            f"    include {self.site};\n"
            "}\n"
        )

    def write_site(self, server_blocks: str) -> None:
        self.site.write_text(server_blocks)

    def listen(self) -> str:
        return f"listen [{self.lab.client_addr}]:{self.port} ssl;"

    @property
    def config_test(self) -> list[str]:
        return [NGINX, "-t", "-c", str(self.conf)]

    @property
    def reload(self) -> list[str]:
        return [NGINX, "-s", "reload", "-c", str(self.conf)]

    def run(self) -> None:
        self.start([NGINX, "-c", str(self.conf), "-g", "daemon off;"])


class HAProxy(Server):
    """HAProxy in master-worker mode; a reload is SIGUSR2 to the master."""

    def __init__(self, lab: Any, directory: Path, crt: Path, port: int = 8444) -> None:
        super().__init__(lab, directory, port)
        directory.mkdir(parents=True, exist_ok=True)
        self.cfg = directory / "haproxy.cfg"
        self.cfg.write_text(
            "global\n"
            "    master-worker\n"
            f"    pidfile {directory}/haproxy.pid\n"
            "defaults\n"
            "    mode http\n"
            "    timeout connect 5s\n"
            "    timeout client 5s\n"
            "    timeout server 5s\n"
            "frontend https\n"
            f"    bind [{lab.client_addr}]:{port} v6only ssl crt {crt}\n"
            "    http-request return status 200 content-type text/plain string ok\n"
        )

    @property
    def config_test(self) -> list[str]:
        return [HAPROXY, "-c", "-q", "-f", str(self.cfg)]

    @property
    def reload(self) -> list[str]:
        assert self.process is not None
        return ["kill", "-USR2", str(self.process.pid)]

    def run(self) -> None:
        self.start([HAPROXY, "-W", "-db", "-f", str(self.cfg)])


def leaf_der(cert_pem: bytes) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert_pem.decode())
