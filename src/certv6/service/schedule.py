"""Use case: ``certv6 timer install | show | remove`` -- systemd runs ``certv6 renew``.

install writes certv6.service and certv6.timer into the unit directory and,
when systemd is running, reloads it and enables the timer; without systemd it
says so and offers a cron line instead. remove undoes both. A config that
names AAAA records (``certv6 aaaa``) also gets certv6-aaaa.service, run after
each renewal run (units.py says how).
"""

from __future__ import annotations

import logging
import random
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from certv6 import units
from certv6.errors import ConfigError, InstallError
from certv6.service.aaaa_names import follows_aaaa
from certv6.service.install import install_config
from certv6.settings import Settings
from certv6.store import make_dirs, write_atomic

log = logging.getLogger("certv6")

UNIT_DIR = Path("/etc/systemd/system")
SYSTEMD_RUNNING = Path("/run/systemd/system")  # sd_booted(3)
SYSTEMCTL_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Units:
    """The generated files, and the cron file for hosts without systemd."""

    service: str
    timer: str
    cron: str
    aaaa: str | None = None  # certv6-aaaa.service, when the config names AAAA records

    def files(self, unit_dir: Path) -> dict[Path, str]:
        found = {unit_dir / units.SERVICE: self.service, unit_dir / units.TIMER: self.timer}
        if self.aaaa is not None:
            found[unit_dir / units.AAAA_SERVICE] = self.aaaa
        return found


@dataclass(frozen=True, slots=True)
class TimerOutcome:
    written: tuple[Path, ...]
    enabled: bool  # systemctl enable --now ran
    systemd: bool  # systemd is the running init


def generate(
    settings: Settings,
    *,
    command: Sequence[str] | None = None,
    read_write: Sequence[Path] = (),
    rng: random.Random | None = None,
) -> Units:
    """The units for this config.

    Raises:
        ConfigError: no config file (a service does not see this shell's
            environment), or a bad install table.
    """
    if settings.config_path is None:
        raise ConfigError(
            "the timer needs a config file: a systemd service does not see this shell's settings",
            hint="write /etc/certv6/certv6.toml (or pass --config FILE) and run this again",
        )
    spec = units.TimerSpec(
        command=tuple(command or certv6_command()),
        config=PurePosixPath(settings.config_path.absolute()),
        state_dir=PurePosixPath(settings.state_dir.absolute()),
        read_write=tuple(
            PurePosixPath(p.absolute()) for p in [*install_paths(settings), *read_write]
        ),
        allow_ipv4=settings.allow_ipv4,
        targets=tuple(sorted(install_targets(settings))),
        bind_port_53="standalone" in settings.providers,
        aaaa=follows_aaaa(settings),
        fleet=settings.store.backend != "file",
    )
    chance = rng or random.SystemRandom()
    cron = units.cron_file(spec, minute=chance.randrange(60), hour=chance.randrange(12))
    aaaa = units.aaaa_unit(spec) if spec.aaaa else None
    return Units(units.service_unit(spec), units.timer_unit(), cron, aaaa)


def install(planned: Units, unit_dir: Path = UNIT_DIR, *, enable: bool = True) -> TimerOutcome:
    """Write the units; enable the timer when systemd runs (and ``enable``).

    Raises:
        StoreError: the unit directory cannot be written.
        InstallError: systemctl failed.
    """
    make_dirs(unit_dir, 0o755)
    written = []
    for path, text in planned.files(unit_dir).items():
        write_atomic(path, text.encode(), 0o644)
        written.append(path)
        log.debug("wrote %s", path)
    running = systemd_running()
    if enable and running:
        systemctl("daemon-reload")
        systemctl("enable", "--now", units.TIMER)
    return TimerOutcome(tuple(written), enable and running, running)


def remove(unit_dir: Path = UNIT_DIR) -> TimerOutcome:
    """Disable the timer (when systemd runs) and delete the units; missing ones are fine."""
    running = systemd_running()
    present = [path for path in Units("", "", "", "").files(unit_dir) if path.exists()]
    if running and present:
        systemctl("disable", "--now", units.TIMER)
    for path in present:
        path.unlink()
        log.debug("removed %s", path)
    if running and present:
        systemctl("daemon-reload")
    return TimerOutcome(tuple(present), enabled=False, systemd=running)


def install_paths(settings: Settings) -> list[Path]:
    """Everything the installer writes for any certificate in the config."""
    paths: list[Path] = []
    for name in settings.certificates:
        for spec in install_config(settings, name).specs:
            paths.append(spec.directory)
            if spec.snippet is not None:
                paths.append(spec.snippet.parent)
            paths.extend(link.parent for link in (spec.links or {}).values())
    return paths


def install_targets(settings: Settings) -> set[str]:
    """The kinds of install target (nginx, postfix, ...) any certificate in the config uses."""
    return {
        spec.target
        for name in settings.certificates
        for spec in install_config(settings, name).specs
    }


def certv6_command() -> list[str]:
    """How the service starts this certv6: its script's absolute path, else ``python -m``."""
    script = Path(sys.argv[0])
    if script.name == "certv6" and script.is_file():
        return [str(script.absolute())]
    found = shutil.which("certv6")
    if found:
        return [str(Path(found).absolute())]
    return [sys.executable, "-m", "certv6"]


def systemd_running() -> bool:
    return SYSTEMD_RUNNING.is_dir()


def systemctl(*args: str) -> None:
    argv = ["systemctl", *args]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=SYSTEMCTL_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise InstallError(f"{' '.join(argv)} failed: {error}", step="systemctl") from error
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise InstallError(
            f"{' '.join(argv)} exited {done.returncode}: {detail[0]}",
            step="systemctl",
            hint="see journalctl -xe; the unit files are in place",
        )
