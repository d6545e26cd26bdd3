"""Installing several certificates into one server: one config test and one reload (issue #19).

Real files, real commands (``sh``) as config test and reload, and a real TLS
server on [::1] for verification; what ``certv6 renew`` calls (``install_many``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from install_support import TlsServer, make_material, tag_of
from test_install_service import configure, store

from certv6.errors import InstallError
from certv6.install import Material
from certv6.service.install import InstallReport, install_many
from certv6.settings import Settings
from certv6.store import Store

NAMES = ("a", "b", "c")


def materials(version: str) -> dict[str, Material]:
    return {name: make_material(f"{name}-{version}", (f"{name}.example.test",)) for name in NAMES}


V1, V2 = materials("v1"), materials("v2")


def tables(root: Path, config_test: str, **extra: dict[str, object]) -> str:
    """One files table per certificate, all tested and reloaded by the same commands."""
    text = ""
    for name in NAMES:
        lines = [
            f"[[certificate.{name}.install]]",
            'target = "files"',
            f'directory = "{root}/deploy-{name}"',
            f'cert = "{root}/app/{name}.crt"',
            f"config_test = {json.dumps(['/bin/sh', '-c', config_test])}",
            f"reload = {json.dumps(['/bin/sh', '-c', f'echo reload >> {root}/reloads.log'])}",
        ]
        lines += [f"{key} = {json.dumps(value)}" for key, value in extra.get(name, {}).items()]
        text += "\n".join(lines) + "\n"
    return text


def served(root: Path, name: str) -> str:
    return tag_of((root / "app" / f"{name}.crt").read_bytes())


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def install_all(settings: Settings) -> dict[str, InstallReport | Exception | None]:
    return dict(install_many(settings, list(NAMES)))


def store_all(root: Path, version: dict[str, Material]) -> None:
    for name in NAMES:
        store(root, version[name], name)


def test_one_config_test_and_one_reload_for_every_certificate_of_a_server(tmp_path: Path) -> None:
    settings = configure(tmp_path, tables(tmp_path, f"echo test >> {tmp_path}/tests.log"))
    store_all(tmp_path, V1)
    first = install_all(settings)
    assert all(isinstance(report, InstallReport) for report in first.values()), first
    assert (lines(tmp_path / "tests.log"), lines(tmp_path / "reloads.log")) == (1, 1)
    store_all(tmp_path, V2)
    second = install_all(settings)
    assert all(isinstance(report, InstallReport) for report in second.values()), second
    assert (lines(tmp_path / "tests.log"), lines(tmp_path / "reloads.log")) == (2, 2)
    assert [served(tmp_path, name) for name in NAMES] == ["a-v2", "b-v2", "c-v2"]
    for name in NAMES:
        health = Store(tmp_path / "state").lineages.get(name).health()
        assert health.install is not None and not health.install.owed


def test_a_failing_config_test_finds_the_one_certificate_at_fault(tmp_path: Path) -> None:
    # The server refuses b's second version, whoever else is switched with it.
    refuses_b = f'test "$(readlink {tmp_path}/deploy-b/live)" != versions/0002'
    settings = configure(tmp_path, tables(tmp_path, refuses_b))
    store_all(tmp_path, V1)
    install_all(settings)
    reloads = lines(tmp_path / "reloads.log")
    store_all(tmp_path, V2)
    results = install_all(settings)
    failed = results["b"]
    assert isinstance(failed, InstallError) and failed.step == "config-test"
    assert isinstance(results["a"], InstallReport) and isinstance(results["c"], InstallReport)
    assert [served(tmp_path, name) for name in NAMES] == ["a-v2", "b-v1", "c-v2"]
    # Together first (the test failed: no reload), then each alone: a and c reloaded.
    assert lines(tmp_path / "reloads.log") - reloads == 2
    health = Store(tmp_path / "state").lineages.get("b").health()
    assert health.install is not None and health.install.owed
    assert [t.state for t in health.install.targets.values()] == ["failed"]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[dict[str, TlsServer]]:
    started = {name: TlsServer(V2[name], tmp_path) for name in ("a", "c")}
    started["b"] = TlsServer(V1["b"], tmp_path)  # keeps serving b's old certificate
    yield started
    for server in started.values():
        server.close()


def test_a_certificate_not_served_goes_back_alone(
    tmp_path: Path, servers: dict[str, TlsServer]
) -> None:
    store_all(tmp_path, V1)
    install_all(configure(tmp_path, tables(tmp_path, "true")))
    extra: dict[str, dict[str, object]] = {
        name: {"verify": servers[name].endpoint, "verify_timeout": 1} for name in NAMES
    }
    settings = configure(tmp_path, tables(tmp_path, "true", **extra))
    store_all(tmp_path, V2)
    results = install_all(settings)
    failed = results["b"]
    assert isinstance(failed, InstallError) and failed.step == "verify"
    assert "back on versions/0001" in failed.hint
    for name in ("a", "c"):
        report = results[name]
        assert isinstance(report, InstallReport)
        verified = [str(v.endpoint) for t in report.targets for v in t.verified]
        assert verified == [servers[name].endpoint]
    assert [served(tmp_path, name) for name in NAMES] == ["a-v2", "b-v1", "c-v2"]
    # The first install and this one's: one reload each for the three; then one more
    # after b went back to its old files.
    assert lines(tmp_path / "reloads.log") == 3
