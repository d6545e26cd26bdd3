"""The operator's surface: global options anywhere, -v, log file, journald, JSON everywhere, -h."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from certv6.cli import main
from certv6.cli.app import cli
from certv6.cli.commands.revoke import canonical_reason
from certv6.cli.jsonout import KINDS, WITHOUT_JSON, schema
from jsonschemas import error_of, validated


def certv6(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stderr: int | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certv6", *args],
        stdout=subprocess.PIPE,
        stderr=stderr if stderr is not None else subprocess.PIPE,
        text=True,
        cwd=cwd,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), **(env or {})},
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "ok.toml").write_text(
        'server = "https://[::1]:1/dir"\nstate_dir = "state"\nresolvers = ["[::1]:1"]\n'
    )
    return tmp_path


def commands(group: click.Group = cli, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from commands(command, f"{path} ")
        else:
            yield path, command


def test_global_options_work_after_the_subcommand(workdir: Path) -> None:
    # The units certv6 writes put them first (`certv6 --config FILE --quiet renew`); people
    # write them after the subcommand too, as certbot takes them.
    before = certv6("-q", "--config", "ok.toml", "renew", cwd=workdir)
    after = certv6("renew", "--config", "ok.toml", "--quiet", cwd=workdir)
    assert before.returncode == after.returncode == 0, after.stderr
    assert after.stdout == before.stdout
    listed = certv6("list", "-q", "-c", "ok.toml", "--json", cwd=workdir)
    assert validated("list", listed.stdout)["certificates"] == []


def test_verbose_shows_debug_lines_and_quiet_hides_info(workdir: Path) -> None:
    # "no certificate is due" is an info line; the state-directory scan a debug line.
    normal = certv6("--config", "ok.toml", "renew", cwd=workdir)
    verbose = certv6("--config", "ok.toml", "renew", "-v", cwd=workdir)
    quiet = certv6("--config", "ok.toml", "renew", "-q", cwd=workdir)
    assert len(verbose.stderr.splitlines()) > len(normal.stderr.splitlines())
    assert quiet.stderr == ""


def test_log_file_is_written_and_rotated_by_size(workdir: Path) -> None:
    env = {"CERTV6_LOG_MAX_BYTES": "300"}
    for _ in range(4):
        done = certv6("--config", "ok.toml", "renew", "--log-file", "log/certv6.log", cwd=workdir,
                      env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr
    log = workdir / "log" / "certv6.log"
    rotated = sorted(p.name for p in log.parent.iterdir())
    assert "certv6.log.1" in rotated, rotated
    text = "".join(p.read_text() for p in log.parent.iterdir())
    assert " DEBUG certv6" in text and " INFO certv6" in text
    # The same through the setting, in the config file.
    (workdir / "ok.toml").write_text((workdir / "ok.toml").read_text() + 'log_file = "s.log"\n')
    certv6("--config", "ok.toml", "list", cwd=workdir)
    assert "certv6" in (workdir / "s.log").read_text()


def test_under_journald_lines_carry_priorities(workdir: Path) -> None:
    # systemd sets JOURNAL_STREAM to the device:inode of the stderr it gave us (sd-daemon(3)).
    stderr = workdir / "stderr"
    with stderr.open("w") as handle:
        info = os.fstat(handle.fileno())
        stream = f"{info.st_dev}:{info.st_ino}"
        certv6("--config", "ok.toml", "renew", "-v", cwd=workdir,
               env={"JOURNAL_STREAM": stream}, stderr=handle.fileno())  # fmt: skip
        certv6("--config", "absent.toml", "list", cwd=workdir,
               env={"JOURNAL_STREAM": stream}, stderr=handle.fileno())  # fmt: skip
    lines = stderr.read_text().splitlines()
    assert lines and all(line[:3] in ("<3>", "<4>", "<6>", "<7>") for line in lines), lines
    assert any(line.startswith("<7>") for line in lines)
    assert "<3>error: cannot read config" in lines[-2] and lines[-1].startswith("<3>  hint:")
    # A JOURNAL_STREAM that is not our stderr (inherited by a child) changes nothing.
    done = certv6("--config", "absent.toml", "list", cwd=workdir, env={"JOURNAL_STREAM": "1:2"})
    assert done.stderr.startswith("certv6: error: cannot read config")


def test_errors_under_json_are_json_on_stdout_with_the_same_exit(workdir: Path) -> None:
    done = certv6("--config", "ok.toml", "revoke", "--name", "ghost", "--json", cwd=workdir)
    error = error_of(done.stdout)
    assert done.returncode == error["exit"] == 3
    assert error["code"] == "config" and "no certificate named 'ghost'" in error["message"]
    assert error["hint"] == "see 'certv6 list'"
    assert "certv6: error:" in done.stderr  # the human message stays on stderr
    usage = certv6("--config", "ok.toml", "revoke", "--json", cwd=workdir)
    error = error_of(usage.stdout)
    assert usage.returncode == error["exit"] == 2 and error["code"] == "usage"
    assert "--name" in error["message"]


def test_an_error_before_the_result_is_the_one_document(workdir: Path) -> None:
    done = certv6("--config", "ok.toml", "renew", "--name", "ghost", "--json", cwd=workdir)
    error = error_of(done.stdout)  # json.loads refuses a second document after the first
    assert done.returncode == error["exit"] == 3 and "ghost" in error["message"]


@pytest.mark.parametrize(("path", "command"), list(commands()))
def test_every_command_has_json_with_a_schema_or_a_reason(
    path: str, command: click.Command
) -> None:
    names = {param.name for param in command.params}
    if path in WITHOUT_JSON:
        assert "as_json" not in names
        return
    assert "as_json" in names, f"certv6 {path} has no --json"


def test_every_kind_has_its_shipped_schema_and_docs() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "json.md").read_text()
    for kind, version in KINDS.items():
        loaded = schema(kind)
        assert loaded["properties"]["version"] == {
            "const": version,
            "description": "schema version of this document",
        }
        assert f"`{kind}`" in docs, f"docs/json.md does not document {kind}"


def test_list_check_describes_certificates_as_list_does() -> None:
    # One certificate entry for both documents (cli/monitoring.py's listing_json).
    for key in ("certificates", "accounts"):
        assert schema("list-check")["properties"][key] == schema("list")["properties"][key]


@pytest.mark.parametrize(("path", "command"), list(commands()))
def test_every_command_has_dash_h(
    path: str, command: click.Command, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main([*path.split(), "-h"])
    assert done.value.code == 0
    assert f"Usage: certv6 {path}" in capsys.readouterr().out


def test_pass_through_hooks_keep_dash_values(tmp_path: Path) -> None:
    # A token may start with "-h" (base64url): only the exact word asks for help.
    done = certv6("hook", "uacme", "begin", "http-01", "x.example", "-hXYZ", "auth", cwd=tmp_path)
    assert done.returncode == 1 and "Usage" not in done.stdout  # declined, as uacme expects


@pytest.mark.parametrize(
    ("given", "meant"),
    [("keycompromise", "keyCompromise"), ("cessationofoperation", "cessationOfOperation"),
     ("superseded", "superseded"), ("KeyCompromise", "keyCompromise")],
)  # fmt: skip
def test_certbot_revocation_reasons(given: str, meant: str) -> None:
    assert canonical_reason(given) == meant


def test_unknown_revocation_reason_is_a_usage_error(workdir: Path) -> None:
    done = certv6("--config", "ok.toml", "revoke", "-n", "x", "--reason", "stolen", cwd=workdir)
    assert done.returncode == 2 and "keyCompromise" in done.stderr


def test_timer_and_cleanup_json(workdir: Path) -> None:
    shown = certv6("--config", "ok.toml", "timer", "show", "--json", cwd=workdir)
    assert " --quiet renew\n" in validated("timer-show", shown.stdout)["service"]
    units = workdir / "units"
    done = certv6("--config", "ok.toml", "timer", "install", "--unit-dir", "units", "--no-enable",
                  "--json", cwd=workdir)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(validated("timer-install", done.stdout)["written"]) == sorted(
        str(p) for p in units.iterdir()
    )
    done = certv6("timer", "remove", "--unit-dir", "units", "--json", cwd=workdir)
    assert len(validated("timer-remove", done.stdout)["removed"]) == 2
    done = certv6("--config", "ok.toml", "cleanup", "--stale", "--json", cwd=workdir)
    assert validated("cleanup", done.stdout) == {"version": 1, "ok": True, "removed": 0,
                                                 "failed": 0, "forgotten": 0,
                                                 "left": []}  # fmt: skip


def test_print_snippet_json(workdir: Path) -> None:
    done = certv6("--config", "ok.toml", "install", "-n", "www", "--print-snippet", "nginx",
                  "--json", cwd=workdir)  # fmt: skip
    assert "listen [::]:443 ssl;" in validated("install-snippet", done.stdout)["example"]


def test_every_kind_is_validated_by_some_test() -> None:
    # A new kind of document needs a test that runs the command and validates its output.
    tests = Path(__file__).parents[1]
    text = "".join(path.read_text() for path in tests.rglob("test_*.py"))
    text += (tests / "integration" / "certv6_run.py").read_text()
    for kind in KINDS:
        if kind != "error":
            assert f'validated("{kind}"' in text, f"no test validates certv6's {kind} output"
    assert "error_of(" in text
