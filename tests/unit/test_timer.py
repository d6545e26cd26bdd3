"""The systemd units and cron line for `certv6 renew`: golden files, systemd-analyze, install.

Golden files live in tests/golden/; after a deliberate change to the units,
regenerate them with CERTV6_UPDATE_GOLDEN=1 (that run fails on purpose, and CI
refuses it), review the diff, and run again without it.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shlex
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from certv6 import settings as settings_module
from certv6 import units
from certv6.cli import main
from certv6.errors import ConfigError
from certv6.service import schedule as use_case
from certv6.settings import Settings, load_settings
from fakes.system import require_tool
from jsonschemas import validated

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


FOLLOWING = units.TimerSpec(
    command=("/usr/bin/certv6",),
    config=P("/etc/certv6/certv6.toml"),
    state_dir=P("/var/lib/certv6"),
    aaaa=True,
)


def golden(name: str, text: str) -> None:
    """Compare with the golden file; with CERTV6_UPDATE_GOLDEN=1 rewrite it, then fail.

    A rewrite never passes: comparing the file with what was just written into it
    proves nothing. The run that updates ends red on purpose, the next one checks.
    CI (CI set) refuses to update at all.
    """
    path = GOLDEN / name
    if os.environ.get("CERTV6_UPDATE_GOLDEN") == "1":
        if os.environ.get("CI"):
            pytest.fail("CERTV6_UPDATE_GOLDEN=1 under CI: golden files are updated by hand only")
        changed = not path.exists() or path.read_text() != text
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        pytest.fail(f"{name} {'rewritten' if changed else 'unchanged'}; review, run again unset")
    assert text == path.read_text(), f"{name} changed; see the module docstring"


def test_updating_golden_files_never_passes_and_is_refused_under_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(globals(), "GOLDEN", tmp_path)
    monkeypatch.setenv("CERTV6_UPDATE_GOLDEN", "1")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="under CI"):
        golden("x.timer", "new\n")
    assert not (tmp_path / "x.timer").exists()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.fail.Exception, match=r"x\.timer rewritten"):
        golden("x.timer", "new\n")
    assert (tmp_path / "x.timer").read_text() == "new\n"
    monkeypatch.delenv("CERTV6_UPDATE_GOLDEN")
    golden("x.timer", "new\n")  # the next run compares


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


FLEET = units.TimerSpec(
    command=("/usr/bin/certv6",),
    config=P("/etc/certv6/certv6.toml"),
    state_dir=P("/var/lib/certv6"),
    fleet=True,
)


def test_fleet_service_renews_then_syncs_golden() -> None:
    text = units.service_unit(FLEET)
    golden("certv6-fleet.service", text)
    lines = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    assert [line.rsplit(" ", 1)[1] for line in lines] == ["renew", "sync"]
    cron = units.cron_line(FLEET, minute=7, hour=3)
    assert cron.index(" renew; ") < cron.index(" sync")


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


def test_aaaa_units_golden() -> None:
    golden("certv6-with-aaaa.service", units.service_unit(FOLLOWING))
    golden("certv6-aaaa.service", units.aaaa_unit(FOLLOWING))


def test_aaaa_runs_after_renewal_whether_or_not_it_worked() -> None:
    # Wants= (not Requires=) starts it even when the renewal fails; After= orders it.
    assert "Wants=network-online.target certv6-aaaa.service\n" in units.service_unit(FOLLOWING)
    assert "Wants=network-online.target\n" in units.service_unit(PLAIN)
    aaaa = units.aaaa_unit(FOLLOWING)
    assert "After=network-online.target certv6.service\n" in aaaa
    assert "Requires=" not in aaaa
    assert "ExecStart=/usr/bin/certv6 --config /etc/certv6/certv6.toml --quiet aaaa\n" in aaaa
    line = units.cron_line(FOLLOWING, minute=5, hour=1)
    log = "--log-file /var/log/certv6.log"
    assert line == (
        f"5 1,13 * * * root /usr/bin/certv6 --config /etc/certv6/certv6.toml --quiet {log} renew;"
        f" /usr/bin/certv6 --config /etc/certv6/certv6.toml --quiet {log} aaaa\n"
    )


def test_the_aaaa_unit_writes_only_the_state(tmp_path: Path) -> None:
    # The renewal unit's install targets and port 53 are not the AAAA oneshot's business.
    spec = dataclasses.replace(
        FOLLOWING, read_write=(P("/etc/ssl/certv6/www"),), targets=("nginx",), bind_port_53=True
    )
    renew, aaaa = units.service_unit(spec), units.aaaa_unit(spec)
    assert "-/etc/ssl/certv6/www" in renew and "CAP_NET_BIND_SERVICE" in renew
    assert "ReadWritePaths=-/var/lib/certv6\n" in aaaa
    assert "CapabilityBoundingSet=CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH\n" in aaaa
    assert "CAP_NET_BIND_SERVICE" not in aaaa


def test_sandbox_follows_the_config() -> None:
    plain = units.service_unit(PLAIN)
    assert "RestrictAddressFamilies=AF_INET6 AF_UNIX AF_NETLINK\n" in plain
    assert "ProtectHome=yes\n" in plain
    # The state directory is listed once even when also given as an install path.
    assert "ReadWritePaths=-/var/lib/certv6 -/etc/ssl/certv6/www\n" in plain
    awkward = units.service_unit(AWKWARD)
    assert "RestrictAddressFamilies=AF_INET6 AF_UNIX AF_NETLINK AF_INET\n" in awkward  # ipv4-ok
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
        aaaa=True,
    )
    (tmp_path / units.SERVICE).write_text(units.service_unit(spec))
    (tmp_path / units.AAAA_SERVICE).write_text(units.aaaa_unit(spec))
    (tmp_path / units.TIMER).write_text(units.timer_unit())
    files = [tmp_path / name for name in (units.SERVICE, units.AAAA_SERVICE, units.TIMER)]
    done = subprocess.run(
        [analyze, "verify", *map(str, files)],
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


def test_generate_adds_the_aaaa_unit_when_names_follow_the_host(tmp_path: Path) -> None:
    config = tmp_path / "certv6.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\naaaa_names = ["www.example.org"]\n')
    planned = use_case.generate(load_settings(config, {}), command=[CERTV6])
    assert planned.aaaa is not None and f"{config} --quiet aaaa" in planned.aaaa
    assert "certv6-aaaa.service" in planned.service
    assert planned.cron.endswith(f"{config} --quiet --log-file /var/log/certv6.log aaaa\n")
    without = use_case.generate(config_with_install(tmp_path), command=[CERTV6])
    assert without.aaaa is None
    assert "certv6-aaaa" not in without.service and " --quiet aaaa" not in without.cron
    unit_dir = tmp_path / "units"
    written = use_case.install(planned, unit_dir, enable=False).written
    assert sorted(path.name for path in written) == [
        "certv6-aaaa.service",
        "certv6.service",
        "certv6.timer",
    ]
    assert sorted(use_case.remove(unit_dir).written) == sorted(written)


def test_cli_timer_show_json_has_the_aaaa_unit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [n for n in os.environ if n.startswith("CERTV6_")]:
        monkeypatch.delenv(name)
    config = tmp_path / "certv6.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n')
    code, out, err = run_cli(["--config", str(config), "timer", "show", "--json"], capsys)
    assert code == 0 and validated("timer-show", out)["aaaa_service"] is None, err
    config.write_text(f'state_dir = "{tmp_path / "state"}"\naaaa_names = ["www.example.org"]\n')
    code, out, err = run_cli(["--config", str(config), "timer", "show", "--json"], capsys)
    shown = validated("timer-show", out)
    assert code == 0 and f"{config} --quiet aaaa" in shown["aaaa_service"], err
    assert "certv6-aaaa.service" in shown["service"]


def test_the_generated_command_lines_really_run(tmp_path: Path) -> None:
    # systemd-analyze checks the unit syntax, not that certv6 accepts its arguments: run them.
    config = tmp_path / "certv6.toml"
    state = tmp_path / "state"
    state.mkdir()
    config.write_text(f'state_dir = "{state}"\naaaa_names = ["www.example.org"]\n')
    planned = use_case.generate(load_settings(config, {}), command=[CERTV6])
    assert planned.aaaa is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTV6_")}

    def exec_start(unit: str) -> list[str]:
        line = next(x for x in unit.splitlines() if x.startswith("ExecStart="))
        return shlex.split(line.removeprefix("ExecStart=").replace("%%", "%"))

    renew = subprocess.run(exec_start(planned.service), capture_output=True, text=True, env=env)
    assert renew.returncode == 0, renew.stderr  # nothing to renew
    aaaa = subprocess.run(exec_start(planned.aaaa), capture_output=True, text=True, env=env)
    # No provider in this config: a configuration error, not a usage error (exit 2).
    assert aaaa.returncode == 3 and "no DNS provider is configured" in aaaa.stderr, aaaa.stderr
    # The cron file's log goes to a file of the test's own, not the host's /var/log.
    log = tmp_path / "certv6.log"
    cron = planned.cron.split(" root ", 1)[1].replace(str(units.CRON_LOG), str(log))
    both = subprocess.run(["sh", "-c", cron], capture_output=True, text=True, env=env)
    assert "no DNS provider" in both.stderr and "Usage:" not in both.stderr, both.stderr
    assert "nothing is due" in log.read_text()  # the renew run logged to the test's file


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


def fake_systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A systemctl stand-in first on PATH that records its arguments; returns the record."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "systemctl-calls"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    (bin_dir / "systemctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return calls


def test_install_and_remove_with_systemd_call_systemctl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = tmp_path / "run-systemd"
    running.mkdir()
    monkeypatch.setattr(use_case, "SYSTEMD_RUNNING", running)
    calls = fake_systemctl(tmp_path, monkeypatch)
    planned = use_case.generate(config_with_install(tmp_path), command=[CERTV6])
    assert use_case.install(planned, tmp_path / "units").enabled
    use_case.remove(tmp_path / "units")
    assert calls.read_text().splitlines() == [
        "daemon-reload",
        "enable --now certv6.timer",
        "disable --now certv6.timer",
        "daemon-reload",
    ]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``certv6 ARGV`` in this process (so the test decides what systemd and PATH are)."""
    with pytest.raises(SystemExit) as done:
        main(argv)
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


@pytest.mark.parametrize("systemd", [True, False])
def test_cli_timer_show_install_remove(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    systemd: bool,
) -> None:
    # Hermetic whatever the host runs: systemd "runs" when the test says so, and the
    # systemctl it would call is a recorder. The host's systemd is never touched.
    for name in [n for n in os.environ if n.startswith("CERTV6_")]:
        monkeypatch.delenv(name)
    running = tmp_path / "run-systemd"
    if systemd:
        running.mkdir()
    monkeypatch.setattr(use_case, "SYSTEMD_RUNNING", running)
    calls = fake_systemctl(tmp_path, monkeypatch)
    config_with_install(tmp_path)
    timer = ["--config", str(tmp_path / "certv6.toml"), "timer"]

    code, out, _ = run_cli([*timer, "show"], capsys)
    assert code == 0 and "[Timer]\nOnCalendar=*-*-* 00,12:00:00" in out
    unit_dir = tmp_path / "units"
    code, out, err = run_cli([*timer, "install", "--unit-dir", str(unit_dir)], capsys)
    assert code == 0, err
    assert (unit_dir / "certv6.timer").is_file()
    if systemd:
        assert calls.read_text().splitlines() == ["daemon-reload", "enable --now certv6.timer"]
    else:
        assert "systemd is not running" in err and not calls.exists()
        assert " * * * root " in out  # the cron line instead
    code, out, _ = run_cli([*timer, "remove", "--unit-dir", str(unit_dir)], capsys)
    assert code == 0 and "removed" in out
    assert not (unit_dir / "certv6.timer").exists()
    if systemd:
        assert calls.read_text().splitlines()[2:] == ["disable --now certv6.timer", "daemon-reload"]


def test_cli_timer_without_a_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [n for n in os.environ if n.startswith("CERTV6_")]:
        monkeypatch.delenv(name)
    monkeypatch.setattr(settings_module, "DEFAULT_CONFIG", tmp_path / "absent.toml")
    code, _, err = run_cli(["timer", "show"], capsys)
    assert code == 3 and "needs a config file" in err
