"""Each install target's config test passes inside the service's sandbox, with only the
ReadWritePaths the unit gives it (certv6.units.TARGET_PATHS), and fails without them.

systemd does not run here, so ProtectSystem=strict is rebuilt the way systemd
builds it: a private mount namespace (``unshare -m``) whose root is remounted
read-only, with each ReadWritePaths entry bind-mounted writable first, and a
private /tmp. The servers' own Debian configuration is used, so the paths are
the ones a real host has. Root only (mounts); Postfix gets a main.cf with its
Debian default directories, because the package leaves none without debconf.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from certv6 import units

SANDBOX = """
set -e
for path in $1; do [ -e "$path" ] && mount --bind "$path" "$path"; done
mount -o remount,bind,ro /
mount -t tmpfs tmpfs /tmp
shift
exec "$@"
"""


def config_tests(tmp_path: Path) -> dict[str, list[str]]:
    postfix = Path("/root") / f".certv6-sandbox-{os.getpid()}"  # /tmp is private inside
    postfix.mkdir(exist_ok=True)
    (postfix / "main.cf").write_text(
        "compatibility_level = 3.6\nqueue_directory = /var/spool/postfix\n"
        "data_directory = /var/lib/postfix\nmail_owner = postfix\ninet_protocols = ipv6\n"
        "inet_interfaces = loopback-only\nmyhostname = sandbox.certv6.test\n"
    )
    shutil.copy("/etc/postfix/master.cf", postfix / "master.cf")
    return {
        "nginx": ["nginx", "-t"],
        "apache": ["apachectl", "configtest"],
        "haproxy": ["haproxy", "-c", "-f", "/etc/haproxy/haproxy.cfg"],
        "postfix": ["postfix", "-c", str(postfix), "check"],
        "dovecot": ["doveconf", "-n"],
    }


def sandboxed(paths: tuple[str, ...], argv: list[str]) -> subprocess.CompletedProcess[str]:
    command = ["unshare", "-m", "--propagation", "private", "sh", "-c", SANDBOX, "sandbox"]
    return subprocess.run(
        [*command, " ".join(paths), *argv], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def root_and_tools() -> None:
    tools = ("unshare", "nginx", "apachectl", "haproxy", "postfix", "doveconf")
    missing = [tool for tool in tools if shutil.which(tool) is None]
    problem = "needs root" if os.geteuid() != 0 else f"missing {missing}" if missing else ""
    if problem:
        if os.environ.get("CERTV6_REQUIRE_LAB") == "1":
            pytest.fail(f"the sandbox test {problem}")
        pytest.skip(problem)


@pytest.mark.parametrize("target", ["nginx", "apache", "haproxy", "postfix", "dovecot"])
def test_config_test_passes_with_the_units_paths_only(
    root_and_tools: None, tmp_path: Path, target: str
) -> None:
    argv = config_tests(tmp_path)[target]
    try:
        outside = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert outside.returncode == 0, f"{target} fails even outside: {outside.stderr}"
        inside = sandboxed(units.TARGET_PATHS[target], argv)
        assert inside.returncode == 0, f"{target} in the sandbox: {inside.stdout}{inside.stderr}"
        if target == "nginx":
            # ...and they are needed: nginx -t opens its pid file and logs even to test.
            # (apachectl only needs /run while /run/apache2 does not exist, after a boot.)
            bare = sandboxed((), argv)
            assert bare.returncode != 0, f"{target} passes without {units.TARGET_PATHS[target]}"
            assert "Read-only file system" in bare.stdout + bare.stderr
    finally:
        shutil.rmtree(Path("/root") / f".certv6-sandbox-{os.getpid()}", ignore_errors=True)
