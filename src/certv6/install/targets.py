"""What each server needs: its config test, reload, include file and an example to paste.

The include file ("snippet") only names paths under ``<directory>/live/``, which
never change: a new certificate moves the ``live`` link, not the snippet. Servers
that have no include directive for the relevant settings (HAProxy's ``crt``,
Postfix's main.cf) get no snippet file, only the lines to paste once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

Command = tuple[str, ...] | str

# Files in every version directory; the key and the combined PEM get the key's mode.
VERSION_FILES = ("privkey.pem", "cert.pem", "chain.pem", "fullchain.pem", "combined.pem")
SECRET_FILES = frozenset({"privkey.pem", "combined.pem"})
# Options of the files target: the user's path -> which file it shows.
LINKABLE = {
    "cert": "cert.pem",
    "chain": "chain.pem",
    "fullchain": "fullchain.pem",
    "key": "privkey.pem",
    "combined": "combined.pem",
}
MARKER = "# Managed by certv6"


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    units: tuple[str, ...]  # systemd units to reload, first that exists wins
    config_test: Command | None
    reload_without_systemd: Command | None
    snippet_name: str | None  # include file written in the directory, if the server has includes
    include_line: Callable[[Path], str] | None
    snippet: Callable[[Path], str] | None
    example: Callable[[Path, Path | None, Sequence[str]], str]


def _nginx_snippet(live: Path) -> str:
    return (
        f"ssl_certificate     {live / 'fullchain.pem'};\n"
        f"ssl_certificate_key {live / 'privkey.pem'};\n"
    )


def _nginx_example(live: Path, snippet: Path | None, names: Sequence[str]) -> str:
    return (
        "server {\n"
        "    listen [::]:443 ssl;        # IPv6 only: no 'listen 443' on a v6-only host\n"
        f"    server_name {' '.join(names)};\n"
        f"    include {snippet};\n"
        "    # ... your locations ...\n"
        "}\n"
    )


def _apache_snippet(live: Path) -> str:
    # Apache >= 2.4.8 reads the chain from SSLCertificateFile.
    return (
        f"SSLCertificateFile    {live / 'fullchain.pem'}\n"
        f"SSLCertificateKeyFile {live / 'privkey.pem'}\n"
    )


def _apache_example(live: Path, snippet: Path | None, names: Sequence[str]) -> str:
    aliases = "".join(f"    ServerAlias {name}\n" for name in names[1:])
    return (
        "Listen [::]:443\n"
        "<VirtualHost [::]:443>\n"
        f"    ServerName {names[0]}\n{aliases}"
        "    SSLEngine on\n"
        f"    Include {snippet}\n"
        "</VirtualHost>\n"
    )


def _haproxy_example(live: Path, snippet: Path | None, names: Sequence[str]) -> str:
    return (
        "frontend https\n"
        f"    bind [::]:443 v6only ssl crt {live / 'combined.pem'}\n"
        "    # ... your backends ...\n"
    )


def _postfix_example(live: Path, snippet: Path | None, names: Sequence[str]) -> str:
    # main.cf has no include; the paths never change, so setting them once is enough.
    return (
        "# once, as root (Postfix >= 3.4):\n"
        f"postconf -e 'smtpd_tls_chain_files = {live / 'privkey.pem'}, {live / 'fullchain.pem'}'\n"
        "postconf -e 'inet_protocols = ipv6'\n"
    )


def _dovecot_snippet(live: Path) -> str:
    return f"ssl_cert = <{live / 'fullchain.pem'}\nssl_key = <{live / 'privkey.pem'}\n"


def _dovecot_example(live: Path, snippet: Path | None, names: Sequence[str]) -> str:
    return f"# in /etc/dovecot/conf.d/10-ssl.conf:\nssl = required\n!include {snippet}\n"


def _files_example(live: Path, snippet: Path | None, names: Sequence[str]) -> str:
    lines = [f"{name:<14} {live / name}" for name in VERSION_FILES]
    return "# the paths you configured point at these files:\n" + "\n".join(lines) + "\n"


TARGETS: dict[str, Target] = {
    "nginx": Target(
        "nginx",
        ("nginx",),
        ("nginx", "-t"),
        ("nginx", "-s", "reload"),
        "nginx.conf",
        lambda snippet: f"include {snippet};",
        _nginx_snippet,
        _nginx_example,
    ),
    "apache": Target(
        "apache",
        ("apache2", "httpd"),
        ("apachectl", "configtest"),
        ("apachectl", "graceful"),
        "apache.conf",
        lambda snippet: f"Include {snippet}",
        _apache_snippet,
        _apache_example,
    ),
    # HAProxy without systemd has no reload command of its own: set reload = [...].
    "haproxy": Target(
        "haproxy",
        ("haproxy",),
        ("haproxy", "-c", "-f", "/etc/haproxy/haproxy.cfg"),
        None,
        None,
        None,
        None,
        _haproxy_example,
    ),
    "postfix": Target(
        "postfix",
        ("postfix",),
        ("postfix", "check"),
        ("postfix", "reload"),
        None,
        None,
        None,
        _postfix_example,
    ),
    "dovecot": Target(
        "dovecot",
        ("dovecot",),
        # -x reads every "<file" setting, as the reload will: plain -n passes a config
        # whose ssl_ca file is unreadable (issue 18). Its output holds the key: discard it.
        "doveconf -x -n >/dev/null",
        ("doveadm", "reload"),
        "dovecot.conf",
        lambda snippet: f"!include {snippet}",
        _dovecot_snippet,
        _dovecot_example,
    ),
    "files": Target("files", (), None, None, None, None, None, _files_example),
}


def snippet_text(target: Target, live: Path, certificate: str) -> str | None:
    """The include file's full text (marker first), or None for servers without includes."""
    if target.snippet is None:
        return None
    header = f"{MARKER} for certificate {certificate!r}; it rewrites this file, do not edit.\n"
    return header + target.snippet(live)
