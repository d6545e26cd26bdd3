"""The files target and the versioned directory: modes, owners, links, rollback, pruning."""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path
from typing import Any

import pytest
from install_support import make_material, pair_tag, tag_of

from certv6.errors import InstallError
from certv6.install import install_target, parse_install_tables
from certv6.install.spec import InstallSpec
from fakes.clock import FakeClock

V1, V2, V3 = make_material("v1"), make_material("v2"), make_material("v3")


def spec_for(tmp_path: Path, **table: Any) -> InstallSpec:
    base = {
        "target": "files",
        "directory": str(tmp_path / "deploy"),
        "cert": str(tmp_path / "app/cert.pem"),
        "key": str(tmp_path / "app/key.pem"),
        "fullchain": str(tmp_path / "app/fullchain.pem"),
        "combined": str(tmp_path / "app/combined.pem"),
    }
    return parse_install_tables("www", [{**base, **table}], tmp_path)[0]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_are_written_with_modes_and_reached_through_live(tmp_path: Path) -> None:
    report = install_target(spec_for(tmp_path), V1)
    app = tmp_path / "app"
    assert pair_tag((app / "key.pem").read_bytes(), (app / "cert.pem").read_bytes()) == "v1"
    assert (app / "fullchain.pem").read_bytes() == V1.fullchain
    assert (app / "combined.pem").read_bytes() == V1.fullchain + V1.privkey
    assert os.readlink(app / "key.pem") == str(tmp_path / "deploy/live/privkey.pem")
    assert os.readlink(tmp_path / "deploy/live") == report.version == "versions/0001"
    assert mode(app / "key.pem") == 0o600
    assert mode(app / "combined.pem") == 0o600
    assert mode(app / "cert.pem") == 0o644


def test_the_report_times_each_step_with_the_injected_clock(tmp_path: Path) -> None:
    clock = TickingClock(step=0.25)  # every look at the clock moves it a quarter second
    report = install_target(spec_for(tmp_path), V1, clock=clock)
    # Each timed step sees one tick: two writes (stage the version, switch live) and
    # the (empty) verification; the files target has no config test and no reload.
    assert report.timings == {"write": 0.5, "verify": 0.25}


class TickingClock(FakeClock):
    def __init__(self, step: float) -> None:
        super().__init__()
        self.step = step

    def monotonic(self) -> float:
        self.advance(self.step)
        return super().monotonic()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_owner_group_and_a_group_readable_key(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    group = grp.getgrgid(nobody.pw_gid).gr_name
    install_target(spec_for(tmp_path, owner="nobody", group=group), V1)
    key = (tmp_path / "deploy/live/privkey.pem").stat()
    assert (key.st_uid, key.st_gid, stat.S_IMODE(key.st_mode)) == (
        nobody.pw_uid,
        nobody.pw_gid,
        0o640,
    )
    cert = (tmp_path / "deploy/live/cert.pem").stat()
    assert (cert.st_uid, stat.S_IMODE(cert.st_mode)) == (nobody.pw_uid, 0o644)


def test_a_new_version_switches_every_path_and_keeps_the_previous(tmp_path: Path) -> None:
    spec = spec_for(tmp_path)
    install_target(spec, V1)
    install_target(spec, V2)
    app = tmp_path / "app"
    assert pair_tag((app / "key.pem").read_bytes(), (app / "cert.pem").read_bytes()) == "v2"
    assert sorted(p.name for p in (tmp_path / "deploy/versions").iterdir()) == ["0001", "0002"]


def test_old_versions_are_pruned_to_keep(tmp_path: Path) -> None:
    spec = spec_for(tmp_path, keep=2)
    for material in (V1, V2, V3, V1):
        install_target(spec, material)
    assert sorted(p.name for p in (tmp_path / "deploy/versions").iterdir()) == ["0003", "0004"]


def test_a_failing_config_test_puts_the_previous_files_back(tmp_path: Path) -> None:
    install_target(spec_for(tmp_path), V1)
    broken = spec_for(tmp_path, config_test="echo 'emerg: bad include' >&2; exit 1")
    with pytest.raises(InstallError) as caught:
        install_target(broken, V2)
    assert caught.value.step == "config-test"
    assert "emerg: bad include" in caught.value.message
    app = tmp_path / "app"
    assert pair_tag((app / "key.pem").read_bytes(), (app / "cert.pem").read_bytes()) == "v1"
    assert sorted(p.name for p in (tmp_path / "deploy/versions").iterdir()) == ["0001"]


def test_a_failing_reload_rolls_back_and_reloads_again(tmp_path: Path) -> None:
    install_target(spec_for(tmp_path), V1)
    log = tmp_path / "reloads"
    # The first reload fails; the one after the rollback works and sees the old files.
    script = (
        f"cat {tmp_path}/app/cert.pem >> {log}; test -e {log}.failed || "
        f"{{ touch {log}.failed; exit 3; }}"
    )
    with pytest.raises(InstallError) as caught:
        install_target(spec_for(tmp_path, reload=script), V2)
    assert caught.value.step == "reload"
    seen = log.read_bytes()
    assert seen == V2.cert + V1.cert  # reloaded with the new files, then with the old again
    assert tag_of((tmp_path / "app/cert.pem").read_bytes()) == "v1"


def test_first_install_failure_keeps_the_new_files(tmp_path: Path) -> None:
    with pytest.raises(InstallError):
        install_target(spec_for(tmp_path, config_test="false"), V1)
    app = tmp_path / "app"
    # Nothing to go back to: the files stay so the user can fix the server and retry.
    assert pair_tag((app / "key.pem").read_bytes(), (app / "cert.pem").read_bytes()) == "v1"


def test_existing_files_are_adopted_and_come_back_on_failure(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "cert.pem").write_bytes(V1.cert)
    (app / "key.pem").write_bytes(V1.privkey)
    os.chmod(app / "key.pem", 0o600)
    with pytest.raises(InstallError):
        install_target(spec_for(tmp_path, config_test="false"), V2)
    assert os.readlink(tmp_path / "deploy/live") == "versions/0000"
    assert pair_tag((app / "key.pem").read_bytes(), (app / "cert.pem").read_bytes()) == "v1"
    install_target(spec_for(tmp_path), V2)
    assert pair_tag((app / "key.pem").read_bytes(), (app / "cert.pem").read_bytes()) == "v2"


def test_server_targets_write_an_include_file_once(tmp_path: Path) -> None:
    spec = parse_install_tables(
        "www",
        [{"target": "nginx", "directory": str(tmp_path), "config_test": "true", "reload": "true"}],
        tmp_path,
    )[0]
    report = install_target(spec, V1)
    assert report.snippet == tmp_path / "nginx.conf"
    text = report.snippet.read_text()
    assert f"ssl_certificate     {tmp_path}/live/fullchain.pem;" in text
    assert f"ssl_certificate_key {tmp_path}/live/privkey.pem;" in text
    before = report.snippet.stat().st_mtime_ns
    install_target(spec, V2)
    assert report.snippet.stat().st_mtime_ns == before  # unchanged paths: not rewritten


def test_a_foreign_file_at_the_snippet_path_is_never_overwritten(tmp_path: Path) -> None:
    mine = tmp_path / "site.conf"
    mine.write_text("server { listen [::]:443 ssl; }\n")
    spec = parse_install_tables(
        "www",
        [{"target": "nginx", "directory": str(tmp_path / "d"), "snippet": str(mine)}],
        tmp_path,
    )[0]
    with pytest.raises(InstallError, match="not written by certv6") as caught:
        install_target(spec, V1, systemd=False)
    assert caught.value.step == "write"
    assert mine.read_text() == "server { listen [::]:443 ssl; }\n"


def test_an_unwritable_directory_is_a_write_error(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a directory")
    spec = spec_for(tmp_path, directory=str(tmp_path / "blocker/deploy"))
    with pytest.raises(InstallError) as caught:
        install_target(spec, V1)
    assert caught.value.step == "write"


def test_directories_are_enterable_under_a_strict_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        install_target(spec_for(tmp_path), V1)
    finally:
        os.umask(old)
    for directory in ("deploy", "deploy/versions", "deploy/versions/0001"):
        assert mode(tmp_path / directory) == 0o755, directory
    assert mode(tmp_path / "deploy/live/privkey.pem") == 0o600
    assert mode(tmp_path / "deploy/live/cert.pem") == 0o644
