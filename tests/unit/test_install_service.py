"""The install use case and `certv6 install`: store to files, deploy hooks, exit codes."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from install_support import TlsServer, make_material, pair_tag, tag_of

from certv6.errors import ConfigError, InstallError, StoreError
from certv6.install import Material
from certv6.service.install import install_certificate, install_configured
from certv6.settings import Settings, load_settings
from certv6.store import Store
from jsonschemas import validated

V1, V2 = make_material("v1"), make_material("v2")
NOW = datetime.datetime.now(datetime.UTC)
HEAD = 'server = "https://[::1]:1/dir"\nstate_dir = "state"\n'


def store(root: Path, material: Material, name: str = "www") -> None:
    lineage = Store(root / "state").ensure().lineages.get(name)
    files = {
        "privkey.pem": material.privkey,
        "cert.pem": material.cert,
        "chain.pem": material.chain,
        "fullchain.pem": material.fullchain,
    }
    config = {"domains": list(material.domains)}
    lineage.add_version(files, {"domains": list(material.domains)}, config, now=NOW)


def configure(root: Path, text: str) -> Settings:
    (root / "certv6.toml").write_text(HEAD + text)
    return load_settings(root / "certv6.toml", {})


def files_table(root: Path, name: str = "www", **extra: object) -> str:
    lines = [
        f"[[certificate.{name}.install]]",
        'target = "files"',
        f'directory = "{root}/deploy-{name}"',
        f'cert = "{root}/app/{name}.crt"',
        f'key = "{root}/app/{name}.key"',
    ]
    lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def test_nothing_configured_is_a_no_op(tmp_path: Path) -> None:
    store(tmp_path, V1)
    settings = configure(tmp_path, '[certificate.www]\nprofile = "classic"\n')
    assert install_configured(settings, "www") is None
    assert install_configured(settings, "never-issued") is None
    with pytest.raises(ConfigError, match="no install table"):
        install_certificate(settings, "www")


def test_files_and_deploy_hook_with_certbot_variables(tmp_path: Path) -> None:
    store(tmp_path, V1)
    hook = f"env | grep -E '^(RENEWED|CERTV6)_' | sort > {tmp_path}/hook.env"
    settings = configure(
        tmp_path, f"[certificate.www]\ndeploy_hook = {json.dumps(hook)}\n" + files_table(tmp_path)
    )
    report = install_configured(settings, "www")
    assert report is not None and report.deploy_hook_ran
    app = tmp_path / "app"
    assert pair_tag((app / "www.key").read_bytes(), (app / "www.crt").read_bytes()) == "v1"
    env = dict(line.split("=", 1) for line in (tmp_path / "hook.env").read_text().splitlines())
    live = tmp_path / "state/certificates/www/current"
    assert env["RENEWED_LINEAGE"] == str(live)
    assert env["RENEWED_DOMAINS"] == "www.example.test"
    assert env["CERTV6_NAME"] == "www"
    assert env["CERTV6_KEY"] == str(live / "privkey.pem")
    assert env["CERTV6_SHA256"] == V1.leaf_sha256()
    assert env["CERTV6_INSTALLED"] == f"files:{tmp_path}/deploy-www/live"


def test_a_deploy_hook_alone_runs_without_install_tables(tmp_path: Path) -> None:
    store(tmp_path, V1)
    settings = configure(
        tmp_path, f'[certificate.www]\ndeploy_hook = ["touch", "{tmp_path}/ran"]\n'
    )
    assert install_configured(settings, "www") is not None
    assert (tmp_path / "ran").exists()


def test_a_failing_deploy_hook_is_exit_10_without_rollback(tmp_path: Path) -> None:
    store(tmp_path, V1)
    settings = configure(
        tmp_path,
        '[certificate.www]\ndeploy_hook = "echo nope >&2; exit 2"\n' + files_table(tmp_path),
    )
    with pytest.raises(InstallError) as caught:
        install_configured(settings, "www")
    assert caught.value.step == "deploy-hook" and "nope" in caught.value.message
    assert tag_of((tmp_path / "app/www.crt").read_bytes()) == "v1"  # stays installed


def test_one_failing_target_does_not_hold_back_the_others(tmp_path: Path) -> None:
    store(tmp_path, V1)
    tables = files_table(tmp_path) + files_table(tmp_path, config_test="false").replace(
        "deploy-www", "deploy-2"
    ).replace("app/www", "app/two")
    hook = f'[certificate.www]\ndeploy_hook = "touch {tmp_path}/ran"\n'
    settings = configure(tmp_path, hook + tables)
    with pytest.raises(InstallError) as caught:
        install_configured(settings, "www")
    assert caught.value.step == "config-test"
    assert tag_of((tmp_path / "app/www.crt").read_bytes()) == "v1"
    assert not (tmp_path / "ran").exists()  # the hook runs only when every target worked


def test_a_key_that_does_not_match_is_never_installed(tmp_path: Path) -> None:
    store(tmp_path, Material("www", V1.domains, V2.privkey, V1.cert, V1.chain, V1.fullchain))
    settings = configure(tmp_path, files_table(tmp_path))
    with pytest.raises(StoreError, match="does not match"):
        install_configured(settings, "www")
    assert not (tmp_path / "app").exists()


@pytest.fixture
def wrong_server(tmp_path: Path) -> Iterator[TlsServer]:
    """A server that keeps serving V1 whatever is installed (a reload that changed nothing)."""
    server = TlsServer(V1, tmp_path)
    yield server
    server.close()


def test_verification_failure_rolls_back(tmp_path: Path, wrong_server: TlsServer) -> None:
    store(tmp_path, V1)
    table = files_table(tmp_path, verify=wrong_server.endpoint, verify_timeout=1, reload="true")
    settings = configure(tmp_path, table)
    install_configured(settings, "www")  # V1 is what it serves: passes
    store(tmp_path, V2)
    with pytest.raises(InstallError) as caught:
        install_configured(settings, "www")
    assert caught.value.step == "verify"
    assert tag_of((tmp_path / "app/www.crt").read_bytes()) == "v1"
    assert wrong_server.sni_seen[-1] == "www.example.test"
    # The new certificate stays in the store.
    current = tmp_path / "state/certificates/www/current/cert.pem"
    assert tag_of(current.read_bytes()) == "v2"


def certv6(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "certv6", "--config", str(root / "certv6.toml"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(root)},
    )


def test_cli_install_and_json(tmp_path: Path) -> None:
    store(tmp_path, V1)
    configure(tmp_path, files_table(tmp_path))
    done = certv6(tmp_path, "install", "--name", "www")
    assert done.returncode == 0, done.stderr
    assert f"www: files uses {tmp_path}/deploy-www/live -> versions/0001" in done.stdout
    done = certv6(tmp_path, "install", "--name", "www", "--json")
    assert validated("install", done.stdout)["targets"][0]["version"] == "versions/0002"


@pytest.mark.parametrize(
    ("config", "args", "code", "message"),
    [
        ("", ["install", "--name", "www"], 3, "no install table"),
        ("", ["install", "--name", "ghost", "--print-snippet", "nginx"], 0, "listen [::]:443 ssl;"),
        ("", ["install", "--name", "ghost", "--print-snippet", "nginx"], 0, "add -d NAME"),
        (
            "",
            [
                "install",
                "-n",
                "ghost",
                "--print-snippet",
                "nginx",
                "-d",
                "a.example",
                "-d",
                "b.example",
            ],
            0,
            "server_name a.example b.example;",
        ),
        ('[[certificate.www.install]]\ntarget = "nginx"\nverify = "10.0.0.1:443"\n', [], 3, "IPv4"),
        ('[[certificate.www.install]]\ntarget = "iis"\n', [], 3, "unknown target"),
        ("FILES", ["install", "--name", "ghost"], 3, "no install table"),
        ("FILES", ["install", "--name", "www", "--print-snippet", "iis"], 2, "Invalid value"),
        ("FILES:config_test=false", [], 10, "config-test"),
    ],
)
def test_cli_mistakes(
    tmp_path: Path, config: str, args: list[str], code: int, message: str
) -> None:
    store(tmp_path, V1)
    if config.startswith("FILES"):
        extra = dict([config.split(":", 1)[1].split("=")]) if ":" in config else {}
        config = files_table(tmp_path, **extra)
    configure(tmp_path, config)
    done = certv6(tmp_path, *(args or ["install", "--name", "www"]))
    assert done.returncode == code, done.stderr
    assert message in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_cli_not_in_the_store(tmp_path: Path) -> None:
    configure(tmp_path, files_table(tmp_path, name="ghost"))
    done = certv6(tmp_path, "install", "--name", "ghost")
    assert done.returncode == 3 and "is not in the store" in done.stderr
    assert not (tmp_path / "app").exists()


def test_print_snippet_uses_the_configured_directory(tmp_path: Path) -> None:
    store(tmp_path, V1)
    configure(
        tmp_path, f'[[certificate.www.install]]\ntarget = "nginx"\ndirectory = "{tmp_path}/n"\n'
    )
    done = certv6(tmp_path, "install", "--name", "www", "--print-snippet", "nginx")
    assert done.returncode == 0, done.stderr
    assert f"include {tmp_path}/n/nginx.conf;" in done.stdout
    assert f"ssl_certificate_key {tmp_path}/n/live/privkey.pem;" in done.stdout
    assert "server_name www.example.test;" in done.stdout
    assert not (tmp_path / "n").exists()  # printing writes nothing


def test_sigterm_during_the_config_test_puts_the_old_files_back(tmp_path: Path) -> None:
    """Like `systemctl stop` of a timer run in the middle of an install."""
    store(tmp_path, V1)
    configure(tmp_path, files_table(tmp_path))
    assert certv6(tmp_path, "install", "--name", "www").returncode == 0
    store(tmp_path, V2)
    # The config test signals certv6 (its parent) and then takes its time.
    configure(tmp_path, files_table(tmp_path, config_test="kill -TERM $PPID; sleep 30"))
    done = certv6(tmp_path, "install", "--name", "www")
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
    app = tmp_path / "app"
    assert pair_tag((app / "www.key").read_bytes(), (app / "www.crt").read_bytes()) == "v1"
    assert os.readlink(tmp_path / "deploy-www/live") == "versions/0001"
