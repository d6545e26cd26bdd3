"""systemd units, and a cron line, that run ``certv6 renew`` twice a day. Pure text.

When the config names AAAA records to keep current (``certv6 aaaa``, issue #21),
a second oneshot unit runs ``certv6 aaaa`` after every renewal run: the renewal
service ``Wants=`` it and it is ordered ``After=`` it, so it runs whether the
renewal succeeded or not, and each shows its own failure (``systemctl --failed``).
The cron line runs both, one after the other.

The service is a sandbox: certv6 needs to read its config, write its state
directory and the install targets, and talk to the CA and the DNS over IPv6,
and nothing more. systemd.exec(5) names each setting; where one is left out
on purpose, the reason is next to where it would be.

The timer fires at 00:00 and 12:00 plus up to an hour at random, so a CA's
clients do not all arrive at once; Persistent=true catches up a run missed
while the machine was off.

Each configured install target adds what its config test and reload write
(TARGET_PATHS, measured by running them under ProtectSystem=strict, see
tests/integration/test_unit_sandbox_lab.py); the standalone provider adds the
capability to bind port 53. Hosts without systemd get a cron file instead: it
sets PATH (cron's own is /usr/bin:/bin, where nginx -t and postfix are not)
and logs each run to a file, while warnings still reach cron's mail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

UNIT = "certv6"
SERVICE = f"{UNIT}.service"
TIMER = f"{UNIT}.timer"
AAAA_SERVICE = f"{UNIT}-aaaa.service"
HOMES = (PurePosixPath("/home"), PurePosixPath("/root"), PurePosixPath("/run/user"))
# systemd.exec(5): the system calls an ordinary service (a network client like certv6) uses.
SYSCALLS = "@system-service"
# chown/chmod/DAC for the installer (owner, group, modes of a server's key files);
# KILL for hooks that signal a server. Nothing else: no raw sockets, no mounts.
CAPABILITIES = "CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_KILL"
# The standalone provider answers the challenge zone on [::]:53 itself.
BIND_SERVICE = "CAP_NET_BIND_SERVICE"
# What each install target's default config test and reload write (Debian paths),
# measured under a read-only root: nginx -t opens its pid file and error log and
# creates its temp directories; apachectl makes /run/apache2 and, when Apache is
# down, graceful starts it (logs). haproxy -c, postfix check and reload, doveconf -n
# and doveadm reload only read and signal. Reloads through systemctl need nothing.
TARGET_PATHS: dict[str, tuple[str, ...]] = {
    "nginx": ("/run", "/var/lib/nginx", "/var/log/nginx"),
    "apache": ("/run", "/var/log/apache2"),
    "haproxy": (),
    "postfix": (),
    "dovecot": (),
    "files": (),
}
# PATH for the cron file: a login shell's, so /usr/sbin and /sbin are there.
CRON_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CRON_LOG = PurePosixPath("/var/log/certv6.log")
# certv6 aaaa only reads credentials (a TSIG key another user owns) and writes its state.
AAAA_CAPABILITIES = "CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH"


@dataclass(frozen=True, slots=True)
class TimerSpec:
    """What the units must know: how to start certv6, and what it may write."""

    command: tuple[str, ...]  # certv6 itself: (/usr/bin/certv6,) or (python, -m, certv6)
    config: PurePosixPath
    state_dir: PurePosixPath
    read_write: tuple[PurePosixPath, ...] = ()  # install targets and the like
    allow_ipv4: bool = False
    targets: tuple[str, ...] = ()  # install target kinds in the config (TARGET_PATHS)
    bind_port_53: bool = False  # the standalone provider is configured
    aaaa: bool = False  # the config names AAAA records to keep current
    fleet: bool = False  # [store] backend = "etcd": `certv6 sync` follows every renew

    @property
    def argv(self) -> tuple[str, ...]:
        return self.renew_argv()

    def renew_argv(self, log_file: PurePosixPath | None = None) -> tuple[str, ...]:
        return self.argv_of("renew", log_file)

    def argv_of(self, subcommand: str, log_file: PurePosixPath | None = None) -> tuple[str, ...]:
        # --allow-ipv4 as given to `timer install`, so the service does what the sandbox allows.
        # --quiet is the root command's option: after the subcommand it is a usage error.
        ipv4 = ("--allow-ipv4",) if self.allow_ipv4 else ()
        log = ("--log-file", str(log_file)) if log_file else ()
        return (*self.command, "--config", str(self.config), *ipv4, "--quiet", *log, subcommand)

    @property
    def commands(self) -> tuple[tuple[str, ...], ...]:
        """What one renew run does: renew, and in a fleet then sync (issue #16)."""
        return (self.argv, self.argv_of("sync")) if self.fleet else (self.argv,)


def service_unit(spec: TimerSpec) -> str:
    """The oneshot service. Exit 12 (some certificates failed) shows as a failed unit."""
    wants = f"Wants=network-online.target{' ' + AAAA_SERVICE if spec.aaaa else ''}"
    lines = [
        "[Unit]",
        "Description=Renew the ACME certificates that are due (certv6)",
        wants,
        "After=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        *_exec_lines(spec),
        "# A stuck CA or DNS provider must not keep the run (and its lock) forever.",
        "TimeoutStartSec=1h",
        *_sandbox(spec, _capabilities(spec), _writable(spec)),
    ]
    return "\n".join(lines)


def aaaa_unit(spec: TimerSpec) -> str:
    """The oneshot that points this host's names at its address after each renewal run."""
    lines = [
        "[Unit]",
        "Description=Point this host's AAAA records at its address (certv6 aaaa)",
        "Wants=network-online.target",
        f"After=network-online.target {SERVICE}",
        "",
        "[Service]",
        "Type=oneshot",
        f"ExecStart={exec_line(spec.argv_of('aaaa'))}",
        "# The UPDATE and the wait for every nameserver take seconds; a stuck provider must not",
        "# keep the lock.",
        "TimeoutStartSec=15min",
        # It writes its state only: no install target, no port 53 (standalone serves
        # AAAA records only under 'certv6 aaaa --watch', which is not this oneshot).
        *_sandbox(spec, [f"CapabilityBoundingSet={AAAA_CAPABILITIES}"], [spec.state_dir]),
    ]
    return "\n".join(lines)


def _sandbox(
    spec: TimerSpec, capabilities: Sequence[str], writable: Sequence[PurePosixPath]
) -> list[str]:
    return [
        "UMask=0077",
        *_filesystem(spec, writable),
        f"RestrictAddressFamilies={_families(spec.allow_ipv4)}",
        "NoNewPrivileges=yes",
        *capabilities,
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "ProtectProc=invisible",
        "RestrictNamespaces=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "RemoveIPC=yes",
        "KeyringMode=private",
        "SystemCallArchitectures=native",
        f"SystemCallFilter={SYSCALLS}",
        "SystemCallErrorNumber=EPERM",
        "# Not MemoryDenyWriteExecute: hooks may run programs that need W+X memory (JITs).",
        "",
    ]


def timer_unit() -> str:
    return "\n".join(
        [
            "[Unit]",
            "Description=Run certv6 renew twice a day",
            "",
            "[Timer]",
            "OnCalendar=*-*-* 00,12:00:00",
            "RandomizedDelaySec=1h",
            "Persistent=true",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
    )


def cron_file(spec: TimerSpec, *, minute: int, hour: int, log: PurePosixPath = CRON_LOG) -> str:
    """/etc/cron.d/certv6 for hosts without systemd: twice a day at a fixed random time."""
    then = [*(["certv6 sync"] if spec.fleet else []), *(["certv6 aaaa"] if spec.aaaa else [])]
    what = f"certv6 renew, then {', then '.join(then)}," if then else "certv6 renew"
    return (
        f"# {what} twice a day (certv6 timer show). PATH: cron's own is /usr/bin:/bin,\n"
        "# where the config tests and reloads (nginx -t, postfix reload) are not found.\n"
        f"PATH={CRON_PATH}\n" + cron_line(spec, minute=minute, hour=hour, log=log)
    )


def cron_line(spec: TimerSpec, *, minute: int, hour: int, log: PurePosixPath = CRON_LOG) -> str:
    """The job line of the cron file: every run appends to ``log``; warnings go to cron's mail."""
    runs = [
        spec.renew_argv(log),
        *([spec.argv_of("sync", log)] if spec.fleet else []),
        *([spec.argv_of("aaaa", log)] if spec.aaaa else []),
    ]
    # cron treats an unescaped % as a newline (crontab(5)). ";" runs the next command whatever
    # the exit code before: cron reports each failure by mail on its own. In a fleet, sync
    # brings what peers renewed here; aaaa then keeps this host's AAAA records current.
    command = "; ".join(
        " ".join(_shell_word(word).replace("%", "\\%") for word in argv) for argv in runs
    )
    return f"{minute} {hour % 12},{hour % 12 + 12} * * * root {command}\n"


def _exec_lines(spec: TimerSpec) -> list[str]:
    lines = [f"ExecStart={exec_line(argv)}" for argv in spec.commands]
    if spec.fleet:
        # Oneshot: the lines run in order, and a failed renew skips sync this time. renew
        # itself first brings the fleet's certificates here; sync then rolls out what
        # other hosts committed while it ran.
        lines.insert(0, "# A fleet (docs/fleet.md): renew, then bring what peers renewed here.")
    return lines


def exec_line(argv: Sequence[str]) -> str:
    """``argv`` as an ExecStart= value (systemd.service(5) "Command lines")."""
    return " ".join(_unit_word(word) for word in argv)


def _capabilities(spec: TimerSpec) -> list[str]:
    if not spec.bind_port_53:
        return [f"CapabilityBoundingSet={CAPABILITIES}"]
    return [
        f"CapabilityBoundingSet={CAPABILITIES} {BIND_SERVICE}",
        # Effective only if a User= is added; root has it from the bounding set.
        f"AmbientCapabilities={BIND_SERVICE}",
    ]


def _writable(spec: TimerSpec) -> list[PurePosixPath]:
    """What the renewal service writes: its state, the install targets and what they write."""
    for_targets = [
        PurePosixPath(p) for target in spec.targets for p in TARGET_PATHS.get(target, ())
    ]
    return _unique([spec.state_dir, *spec.read_write, *for_targets])


def _filesystem(spec: TimerSpec, writable: Sequence[PurePosixPath]) -> list[str]:
    read_only = [PurePosixPath(word) for word in spec.command[:1]] + [spec.config]
    at_home = any(_under_home(path) for path in [*writable, *read_only])
    return [
        "ProtectSystem=strict",
        # "-": a target directory that does not exist yet must not stop the run.
        "ReadWritePaths=" + " ".join("-" + _unit_word(str(path)) for path in writable),
        # /home and /root stay hidden unless certv6, its config or its state live there.
        f"ProtectHome={'read-only' if at_home else 'yes'}",
    ]


def _families(allow_ipv4: bool) -> str:
    # AF_NETLINK: getaddrinfo() asks the kernel which address families are configured.
    v4 = " AF_INET" if allow_ipv4 else ""  # ipv4-ok: only with --allow-ipv4
    return "AF_INET6 AF_UNIX AF_NETLINK" + v4


def _unit_word(word: str) -> str:
    escaped = word.replace("%", "%%").replace("$", "$$")
    if not escaped or any(c in escaped for c in " \t\"'\\;"):
        escaped = '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return escaped


def _shell_word(word: str) -> str:
    if word and all(c.isalnum() or c in "/._-+=:@," for c in word):
        return word
    return "'" + word.replace("'", "'\\''") + "'"


def _under_home(path: PurePosixPath) -> bool:
    return any(path == home or home in path.parents for home in HOMES)


def _unique(paths: Sequence[PurePosixPath | Path]) -> list[PurePosixPath]:
    seen: dict[PurePosixPath, None] = {}
    for path in paths:
        seen.setdefault(PurePosixPath(path), None)
    return list(seen)
