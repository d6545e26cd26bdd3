"""Apache, Postfix and Dovecot from Debian in the lab's IPv6-only client namespace.

Like nginx_lab.py: each server gets its own directory (config, pid, logs,
runtime files), listens on ``[lab.client_addr]:PORT`` only, reads certv6's
files through ``<install directory>/live`` and is stopped by pid. Postfix and
Dovecot speak STARTTLS (SMTP on 2525, IMAP on 1143); ``served_der`` does the
STARTTLS handshake the way certv6's verification does.
"""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import tempfile
import time
from pathlib import Path
from typing import Any

from nginx_lab import START_TIMEOUT, Server

APACHE = "/usr/sbin/apache2"
MODULES = Path("/usr/lib/apache2/modules")


class Apache(Server):
    """Apache with its own config file; certv6's snippet is included in the virtual host."""

    def __init__(self, lab: Any, directory: Path, name: str, snippet: Path, port: int = 8445):
        super().__init__(lab, directory, port)
        directory.mkdir(parents=True, exist_ok=True)
        self.conf = directory / "httpd.conf"
        address = f"[{lab.client_addr}]:{port}"
        modules = ("mpm_event", "authz_core", "ssl", "socache_shmcb")
        self.conf.write_text(
            "ServerRoot /etc/apache2\n"
            f"ServerName {name}\n"
            + "".join(f"LoadModule {m}_module {MODULES}/mod_{m}.so\n" for m in modules)
            + "User www-data\nGroup www-data\n"
            f"PidFile {directory}/httpd.pid\n"
            f"DefaultRuntimeDir {directory}\n"
            f"Mutex file:{directory} default\n"
            f"ErrorLog {directory}/error.log\n"
            f"Listen {address} https\n"
            f"<VirtualHost {address}>\n"
            f"    ServerName {name}\n"
            "    SSLEngine on\n"
            f"    Include {snippet}\n"
            "</VirtualHost>\n"
        )

    @property
    def config_test(self) -> list[str]:
        return [APACHE, "-t", "-f", str(self.conf)]

    @property
    def reload(self) -> list[str]:
        return [APACHE, "-k", "graceful", "-f", str(self.conf)]

    def run(self) -> None:
        self.start([APACHE, "-f", str(self.conf), "-DFOREGROUND"])


class Postfix(Server):
    """A Postfix instance of its own (``postfix -c DIR``): smtpd with STARTTLS on port 2525.

    Postfix's master daemonizes, so it is started and stopped with ``postfix``
    itself; ``stop`` falls back to the master's pid file.
    """

    def __init__(self, lab: Any, directory: Path, live: Path, port: int = 2525):
        super().__init__(lab, directory, port)
        self.conf = directory / "conf"
        self.conf.mkdir(parents=True, exist_ok=True)
        # The queue and data directories must be reachable by the postfix user, which
        # pytest's 0700 directories are not.
        self.spool = Path(tempfile.mkdtemp(prefix="certv6-postfix-", dir="/var/tmp"))
        self.spool.chmod(0o755)
        (self.spool / "data").mkdir()
        (self.spool / "queue").mkdir()
        shutil.chown(self.spool / "data", user="postfix")
        (self.conf / "main.cf").write_text(
            "compatibility_level = 3.6\n"
            f"queue_directory = {self.spool}/queue\n"
            f"data_directory = {self.spool}/data\n"
            "mail_owner = postfix\n"
            f"inet_interfaces = {lab.client_addr}\n"
            "inet_protocols = ipv6\n"
            "myhostname = postfix.certv6.test\n"
            "mydestination =\n"
            f"maillog_file_prefixes = {directory}\n"
            f"maillog_file = {directory}/maillog.log\n"
            "smtpd_tls_security_level = may\n"
            # Set once, as certv6 install --print-snippet postfix says; the paths never change.
            f"smtpd_tls_chain_files = {live}/privkey.pem, {live}/fullchain.pem\n"
        )
        services = [
            f"[{lab.client_addr}]:{port} inet n - n - - smtpd",
            "postlog unix-dgram n - n - 1 postlogd",
            *(
                f"{name} unix {private} - n {wake} {limit} {program}"
                for name, private, wake, limit, program in _POSTFIX_SERVICES
            ),
        ]
        (self.conf / "master.cf").write_text("\n".join(services) + "\n")

    @property
    def config_test(self) -> list[str]:
        return ["postfix", "-c", str(self.conf), "check"]

    @property
    def reload(self) -> list[str]:
        return ["postfix", "-c", str(self.conf), "reload"]

    def run(self) -> None:
        done = self.lab.run_in_client(["postfix", "-c", str(self.conf), "start"], timeout=30)
        if done.returncode != 0:
            raise AssertionError(f"postfix did not start:\n{done.stderr}\n{self.output()}")
        deadline = time.monotonic() + START_TIMEOUT
        while not self._listening():
            if time.monotonic() > deadline:
                raise AssertionError(f"postfix does not listen:\n{self.output()}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.lab.run_in_client(["postfix", "-c", str(self.conf), "stop"], timeout=30)
        _kill_from(self.spool / "queue" / "pid" / "master.pid")
        shutil.rmtree(self.spool, ignore_errors=True)

    def served_der(self, sni: str) -> bytes:
        return starttls_der(self, sni, "smtplib.SMTP", "s.starttls(context=c)")


class Dovecot(Server):
    """Dovecot in the foreground with its own base_dir: IMAP with STARTTLS on port 1143."""

    def __init__(self, lab: Any, directory: Path, snippet: Path, port: int = 1143):
        super().__init__(lab, directory, port)
        for sub in ("run", "state", "home"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
        self.conf = directory / "dovecot.conf"
        self.conf.write_text(
            f"base_dir = {directory}/run\n"
            f"state_dir = {directory}/state\n"
            f"log_path = {directory}/dovecot.log\n"
            "protocols = imap\n"
            f"listen = {lab.client_addr}\n"
            "ssl = required\n"
            f"!include {snippet}\n"
            "passdb {\n  driver = static\n  args = nopassword=y\n}\n"
            "userdb {\n  driver = static\n"
            f"  args = uid=nobody gid=nogroup home={directory}/home\n}}\n"
            "service imap-login {\n"
            f"  inet_listener imap {{\n    port = {port}\n  }}\n"
            "  inet_listener imaps {\n    port = 0\n  }\n"
            "}\n"
        )

    @property
    def config_test(self) -> list[str]:
        return ["doveconf", "-c", str(self.conf), "-n"]

    @property
    def reload(self) -> list[str]:
        return ["doveadm", "-c", str(self.conf), "reload"]

    def run(self) -> None:
        self.start(["dovecot", "-c", str(self.conf), "-F"])

    def served_der(self, sni: str) -> bytes:
        return starttls_der(self, sni, "imaplib.IMAP4", "s.starttls(ssl_context=c)")


def starttls_der(server: Server, sni: str, client: str, starttls: str) -> bytes:
    """The leaf ``server`` sends after STARTTLS, read from inside the client namespace."""
    module = client.split(".", 1)[0]
    script = (
        f"import ssl, sys, {module}\n"
        "c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); c.check_hostname = False\n"
        "c.verify_mode = ssl.CERT_NONE\n"
        f"s = {client}({server.lab.client_addr!r}, {server.port}, timeout=5)\n"
        f"{starttls}\n"
        "sys.stdout.write(ssl.DER_cert_to_PEM_cert(s.sock.getpeercert(True)))\n"
    )
    done = server.lab.run_in_client(["python3", "-c", script], timeout=20)
    assert done.returncode == 0, done.stderr
    return ssl.PEM_cert_to_DER_cert(done.stdout)


# name, private, wakeup, process limit, program: what smtpd needs behind it.
_POSTFIX_SERVICES = (
    ("pickup", "n", "60", "1", "pickup"),
    ("cleanup", "n", "-", "0", "cleanup"),
    ("qmgr", "n", "300", "1", "qmgr"),
    ("tlsmgr", "-", "1000?", "1", "tlsmgr"),
    ("rewrite", "-", "-", "-", "trivial-rewrite"),
    ("bounce", "-", "-", "0", "bounce"),
    ("defer", "-", "-", "0", "bounce"),
    ("trace", "-", "-", "0", "bounce"),
    ("verify", "-", "-", "1", "verify"),
    ("proxymap", "-", "-", "-", "proxymap"),
    ("anvil", "-", "-", "1", "anvil"),
    ("scache", "-", "-", "1", "scache"),
    ("error", "-", "-", "-", "error"),
    ("retry", "-", "-", "-", "error"),
    ("discard", "-", "-", "-", "discard"),
    ("local", "n", "-", "-", "local"),
    ("smtp", "-", "-", "-", "smtp"),
    ("relay", "-", "-", "-", "smtp"),
    ("showq", "n", "-", "-", "showq"),
    ("flush", "n", "1000?", "0", "flush"),
)


def _kill_from(pid_file: Path) -> None:
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    deadline = time.monotonic() + 10
    try:
        os.kill(pid, signal.SIGTERM)
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
