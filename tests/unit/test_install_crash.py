"""Kill the installer (SIGKILL) after every durable step; the key a server reads must always
belong to the certificate it reads, and the next run must finish the job.

Each scenario first runs once to record its steps, then once per step in a forked
child that SIGKILLs itself right after that step (the ``checkpoint`` hook).
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from install_support import make_material, pair_tag

from certv6.errors import InstallError
from certv6.install import Material, install_target, parse_install_tables
from certv6.install.spec import InstallSpec

OLD, NEW = make_material("old"), make_material("new")


def files_spec(root: Path, **extra: Any) -> InstallSpec:
    table = {
        "target": "files",
        "directory": str(root / "deploy"),
        "cert": str(root / "app/cert.pem"),
        "key": str(root / "app/key.pem"),
        "combined": str(root / "app/combined.pem"),
        **extra,
    }
    return parse_install_tables("www", [table], root)[0]


def nginx_spec(root: Path, **extra: Any) -> InstallSpec:
    table = {"target": "nginx", "directory": str(root / "deploy"), "reload": "true", **extra}
    table.setdefault("config_test", "true")
    return parse_install_tables("www", [table], root)[0]


def pairs_the_server_reads(root: Path, spec: InstallSpec) -> list[tuple[Path, Path]]:
    """(key, certificate) paths as the server's configuration names them."""
    if spec.target == "nginx":
        snippet = root / "deploy/nginx.conf"
        if not snippet.exists():  # not written yet: the server cannot name any file
            return [(root / "absent.key", root / "absent.crt")]
        text = snippet.read_text()
        cert = re.search(r"ssl_certificate\s+(\S+);", text)
        key = re.search(r"ssl_certificate_key\s+(\S+);", text)
        assert cert and key
        return [(Path(key[1]), Path(cert[1]))]
    app = root / "app"
    return [(app / "key.pem", app / "cert.pem"), (app / "combined.pem", app / "combined.pem")]


def state(root: Path, spec: InstallSpec) -> set[str]:
    """Which certificate each pair shows (asserting key and certificate match), or 'none'."""
    seen = set()
    for key, cert in pairs_the_server_reads(root, spec):
        if not key.exists() and not cert.exists():
            seen.add("none")
            continue
        seen.add(pair_tag(key.read_bytes(), cert.read_bytes()))
    return seen


def install_in_child(spec: InstallSpec, material: Material, kill_at: str | None) -> list[str]:
    """Run install_target in a forked child; return the steps it reached (recorded via a pipe)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read_end)

        def checkpoint(step: str) -> None:
            os.write(write_end, step.encode() + b"\n")
            if step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

        try:
            install_target(spec, material, checkpoint=checkpoint, systemd=False)
        except InstallError:
            pass
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as steps:
        reached = steps.read().split()
    _, status = os.waitpid(pid, 0)
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert killed == (kill_at is not None), f"child status {status}, steps {reached}"
    return reached


Scenario = Callable[[Path], tuple[InstallSpec, InstallSpec]]


def second_install(make: Callable[..., InstallSpec], **failing: Any) -> Scenario:
    """OLD is installed and served; then NEW is installed (and fails, if ``failing``)."""

    def prepare(root: Path) -> tuple[InstallSpec, InstallSpec]:
        install_target(make(root), OLD, systemd=False)
        return make(root), make(root, **failing)

    return prepare


def adopt_existing(root: Path) -> tuple[InstallSpec, InstallSpec]:
    """Files from before certv6 sit at the user's paths; the first install adopts them."""
    app = root / "app"
    app.mkdir(parents=True)
    (app / "cert.pem").write_bytes(OLD.cert)
    (app / "key.pem").write_bytes(OLD.privkey)
    (app / "combined.pem").write_bytes(OLD.fullchain + OLD.privkey)
    return files_spec(root), files_spec(root)


SCENARIOS: dict[str, tuple[Scenario, set[str]]] = {
    # name: (prepare, what the server may show right after a kill)
    "files-second": (second_install(files_spec), {"old", "new"}),
    "files-rollback": (second_install(files_spec, config_test="false"), {"old", "new"}),
    "nginx-second": (second_install(nginx_spec), {"old", "new"}),
    "nginx-rollback": (second_install(nginx_spec, config_test="false"), {"old", "new"}),
    "files-adopt": (adopt_existing, {"old", "new"}),
    "files-first": (lambda root: (files_spec(root), files_spec(root)), {"none", "new"}),
    "nginx-first": (lambda root: (nginx_spec(root), nginx_spec(root)), {"none", "new"}),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_kill_point_leaves_a_matching_pair(scenario: str, tmp_path: Path) -> None:
    prepare, allowed = SCENARIOS[scenario]
    _, attempt = prepare(tmp_path / "record")
    steps = install_in_child(attempt, NEW, kill_at=None)
    assert len(steps) >= 6, steps  # five files, the rename, the switch ...
    for index, step in enumerate(steps):
        root = tmp_path / f"kill-{index}"
        good, attempt = prepare(root)
        install_in_child(attempt, NEW, kill_at=step)
        shown = state(root, good)
        assert len(shown) == 1 and shown <= allowed, f"killed after {step}: {shown}"
        # The next run starts from whatever was left and ends with NEW, consistently.
        install_target(good, NEW, systemd=False)
        assert state(root, good) == {"new"}, f"after recovering from a kill at {step}"
        leftovers = [p.name for p in (root / "deploy/versions").iterdir() if p.name[0] == "."]
        assert leftovers == [], f"killed after {step}"
