"""The systemd units and cron line for `certv6 renew`: golden files, systemd-analyze, install.

Golden files live in tests/golden/; after a deliberate change to the units,
regenerate them with CERTV6_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from certv6 import units
from certv6.errors import ConfigError
from certv6.service import schedule as use_case
from certv6.settings import Settings, load_settings
from fakes.system import require_tool

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CERTV6 = str(Path(sys.executable).parent / "certv6")
P = PurePosixPath
PLAIN = units.TimerSpec(
    command=("/usr/bin/certv6",),
    config=P("/etc/certv6/certv6.toml"),
    state_dir=P("/var/lib/certv6"),
    read_write=(P("/etc/ssl/certv6/www"), P("/var/lib/certv6")),
)
AWKWARD = units.TimerSpec(
    command=("/root/venv/bin/python", "-m", "certv6"),
    config=P("/root/certv6 config/100%.toml"),
    state_dir=P("/root/state"),
    allow_ipv4=True,
)
SERVERS = units.TimerSpec(
    command=("/usr/bin/certv6",),
    config=P("/etc/certv6/certv6.toml"),
    state_dir=P("/var/lib/certv6"),
    read_write=(P("/etc/ssl/certv6/www/nginx"), P("/etc/ssl/certv6/mail/postfix")),
    targets=("dovecot", "nginx", "postfix"),
    bind_port_53=True,
)


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("CERTV6_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; see the module docstring"


def test_service_unit_golden() -> None:
    golden("certv6.service", units.service_unit(PLAIN))


def test_service_unit_with_ipv4_home_and_odd_paths_golden() -> None:
    golden("certv6-ipv4-home.service", units.service_unit(AWKWARD))


def test_service_unit_with_servers_and_standalone_golden() -> None:
    text = units.service_unit(SERVERS)
    golden("certv6-servers.service", text)
    # What nginx -t writes (postfix and dovecot need nothing); port 53 for the standalone provider.
    assert (
        "ReadWritePaths=-/var/lib/certv6 -/etc/ssl/certv6/www/nginx -/etc/ssl/certv6/mail/postfix"
        " -/run -/var/lib/nginx -/var/log/nginx\n" in text
    )
    assert "CAP_NET_BIND_SERVICE" in text and "AmbientCapabilities=CAP_NET_BIND_SERVICE" in text
    assert "CAP_NET_BIND_SERVICE" not in units.service_unit(PLAIN)


def test_timer_unit_golden() -> None:
    golden("certv6.timer", units.timer_unit())


def test_cron_file_golden() -> None:
    text = units.cron_file(PLAIN, minute=17, hour=3) + units.cron_line(AWKWARD, minute=0, hour=11)
    golden("certv6.cron", text)
    path_line = next(line for line in text.splitlines() if line.startswith("PATH="))
    assert {"/usr/sbin", "/sbin", "/usr/bin", "/bin"} <= set(path_line[5:].split(":"))


def test_the_generated_command_line_is_one_certv6_accepts(tmp_path: Path) -> None:
    # The units once ran `certv6 ... renew --quiet`, which renew refused (exit 2).
    config = tmp_path / "certv6.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n')
    spec = units.TimerSpec(command=(CERTV6,), config=P(config), state_dir=P(tmp_path / "state"))
    log = tmp_path / "certv6.log"
    for argv in (spec.argv, spec.renew_argv(P(log))):
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout == ""  # --quiet: nothing due, nothing said
    assert "nothing is due (0 certificate(s) checked)" in log.read_text()


def test_sandbox_follows_the_config() -> None:
    plain = units.service_unit(PLAIN)
    assert "RestrictAddressFamilies=AF_INET6 AF_UNIX AF_NETLINK\n" in plain
    assert "ProtectHome=yes\n" in plain
    # The state directory is listed once even when also given as an install path.
    assert "ReadWritePaths=-/var/lib/certv6 -/etc/ssl/certv6/www\n" in plain
    awkward = units.service_unit(AWKWARD)
    assert "RestrictAddressFamilies=AF_INET6 AF_UNIX AF_NETLINK AF_INET\n" in awkward
    assert "ProtectHome=read-only\n" in awkward
    assert (
        'ExecStart=/root/venv/bin/python -m certv6 --config "/root/certv6 config/100%%.toml"'
        in (awkward)
    )


def systemd_analyze() -> str:
    return require_tool("systemd-analyze", "systemd")


@pytest.mark.parametrize("allow_ipv4", [False, True])
def test_units_pass_systemd_analyze_verify(tmp_path: Path, allow_ipv4: bool) -> None:
    analyze = systemd_analyze()
    config = tmp_path / "certv6.toml"
    config.write_text("")
    spec = units.TimerSpec(
        command=(CERTV6,),
        config=P(config),
        state_dir=P(tmp_path / "state"),
        read_write=(P(tmp_path / "tls"),),
        allow_ipv4=allow_ipv4,
        targets=("nginx", "dovecot") if allow_ipv4 else (),
        bind_port_53=allow_ipv4,
    )
    (tmp_path / units.SERVICE).write_text(units.service_unit(spec))
    (tmp_path / units.TIMER).write_text(units.timer_unit())
    done = subprocess.run(
        [analyze, "verify", str(tmp_path / units.SERVICE), str(tmp_path / units.TIMER)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Unknown or malformed settings are only warnings (exit 0): any output is a failure.
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stderr


def test_a_broken_unit_is_caught_by_the_same_check(tmp_path: Path) -> None:
    analyze = systemd_analyze()
    broken = units.service_unit(PLAIN).replace("ProtectSystem=strict", "ProtectSystem=stricter")
    (tmp_path / units.SERVICE).write_text(broken.replace("/usr/bin/certv6", CERTV6))
    done = subprocess.run(
        [analyze, "verify", str(tmp_path / units.SERVICE)], capture_output=True, text=True
    )
    assert "stricter" in done.stderr


# --- generating from a config, installing, removing --------------------------------------------


def config_with_install(tmp_path: Path) -> Settings:
    config = tmp_path / "certv6.toml"
    config.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        "[[certificate.www.install]]\n"
        'target = "nginx"\n'
        'directory = "/etc/nginx/tls/www"\n'
    )
    return load_settings(config, {})


def test_generate_uses_the_config_and_install_paths(tmp_path: Path) -> None:
    planned = use_case.generate(
        config_with_install(tmp_path),
        command=[CERTV6],
        read_write=[Path("/var/log/nginx")],
        rng=random.Random(3),  # noqa: S311 (a repeatable cron time, not a secret)
    )
    assert f"ExecStart={CERTV6} --config {tmp_path}/certv6.toml --quiet renew" in planned.service
    rw = f"-{tmp_path}/state -/etc/nginx/tls/www -/var/log/nginx -/run -/var/lib/nginx\n"
    assert f"ReadWritePaths={rw}" in planned.service
    log = "--log-file /var/log/certv6.log"
    assert planned.cron.endswith(
        f"root {CERTV6} --config {tmp_path}/certv6.toml --quiet {log} renew\n"
    )
    assert "\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n" in planned.cron


def test_generate_needs_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a config file"):
        use_case.generate(Settings(state_dir=tmp_path), command=[CERTV6])


def test_install_and_remove_without_systemd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(use_case, "SYSTEMD_RUNNING", tmp_path / "no-systemd")
    planned = use_case.generate(config_with_install(tmp_path), command=[CERTV6])
    unit_dir = tmp_path / "units"
    outcome = use_case.install(planned, unit_dir)
    assert not outcome.enabled and not outcome.systemd
    assert (unit_dir / "certv6.service").read_text() == planned.service
    assert oct((unit_dir / "certv6.timer").stat().st_mode & 0o777) == "0o644"
    assert use_case.remove(unit_dir).written == outcome.written
    assert list(unit_dir.iterdir()) == []
    assert use_case.remove(unit_dir).written == ()


def test_install_and_remove_with_systemd_call_systemctl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # systemd does not run here: a systemctl stand-in on PATH records what it is asked.
    running = tmp_path / "run-systemd"
    running.mkdir()
    monkeypatch.setattr(use_case, "SYSTEMD_RUNNING", running)
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    (bin_dir / "systemctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    planned = use_case.generate(config_with_install(tmp_path), command=[CERTV6])
    assert use_case.install(planned, tmp_path / "units").enabled
    use_case.remove(tmp_path / "units")
    assert calls.read_text().splitlines() == [
        "daemon-reload",
        "enable --now certv6.timer",
        "disable --now certv6.timer",
        "daemon-reload",
    ]


def test_cli_timer_show_install_remove(tmp_path: Path) -> None:
    config_with_install(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTV6_")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [CERTV6, "--config", str(tmp_path / "certv6.toml"), "timer", *args]
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)

    shown = cli("show")
    assert shown.returncode == 0 and "[Timer]\nOnCalendar=*-*-* 00,12:00:00" in shown.stdout
    unit_dir = tmp_path / "units"
    installed = cli("install", "--unit-dir", str(unit_dir))
    assert installed.returncode == 0, installed.stderr
    assert (unit_dir / "certv6.timer").is_file()
    if not Path("/run/systemd/system").is_dir():
        assert "systemd is not running" in installed.stderr
        assert " * * * root " in installed.stdout  # the cron line
    removed = cli("remove", "--unit-dir", str(unit_dir))
    assert removed.returncode == 0 and "removed" in removed.stdout
    no_config = subprocess.run(
        [CERTV6, "timer", "show"], capture_output=True, text=True, env=env, timeout=60
    )
    if not Path("/etc/certv6/certv6.toml").exists():
        assert no_config.returncode == 3 and "needs a config file" in no_config.stderr
