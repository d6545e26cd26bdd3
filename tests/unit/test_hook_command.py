"""`certv6 hook ...`: what each client's arguments and environment turn into, without DNS.

Everything here stops before anything is published: early certbot calls (which only
record), handlers dehydrated wants ignored, challenge types uacme must see declined,
and user mistakes. Publishing and waiting run against real servers in
tests/integration/test_hooks_lab.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import certv6.cli.commands  # noqa: F401  (registers `hook` on the root group)
from certv6 import hookrun
from certv6.cli.app import cli
from certv6.cli.commands.hook import lego_pair

CERTV6 = str(Path(sys.executable).parent / "certv6")
HOOKS = Path(__file__).resolve().parents[2] / "hooks"
VALUE = "x" * 42 + "-"
OWNER = "_acme-challenge.www.example.org."


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "certv6.toml"
    path.write_text(
        'server = "https://[2001:db8::1]/dir"\n'
        f'state_dir = "{tmp_path / "state"}"\n'
        "[provider.rfc2136]\n"
        f'key_file = "{tmp_path / "key"}"\n'
    )
    return path


# What the hook reads from its environment: certv6's settings and the ACME clients' variables.
# The runner's own (a developer's CERTV6_STATE_DIR, CI's CERTBOT_*) must not leak into a test.
LEAKY = ("CERTV6_", "CERTBOT_", "RENEWED_", "EXEC_", "LEGO_")


def hook_environ(**env: str) -> dict[str, str]:
    """This process's environment without anything the hook reads, plus ``env``."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(LEAKY)}
    return {**kept, **env}


def invoke(config: Path, args: list[str], env: Mapping[str, str] | None = None) -> Result:
    # CliRunner adds ``env`` to os.environ; None unsets a variable.
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith(LEAKY)}
    full = {**unset, hookrun.OWNER_ENV: str(os.getpid()), **(env or {})}
    return CliRunner().invoke(cli, ["--config", str(config), "hook", *args], env=full)


def planned(config: Path) -> list[tuple[str, str]]:
    journal = hookrun.RunJournal(config.parent / "state", hookrun.find_owner(
        {hookrun.OWNER_ENV: str(os.getpid())}))  # fmt: skip
    return journal.read().planned


def certbot_env(domain: str = "www.example.org", remaining: str = "1") -> dict[str, str]:
    return {
        "CERTBOT_DOMAIN": domain,
        "CERTBOT_VALIDATION": VALUE,
        "CERTBOT_REMAINING_CHALLENGES": remaining,
        "CERTBOT_ALL_DOMAINS": "www.example.org,www.example.org",
    }


def test_early_certbot_call_records_and_returns(config: Path) -> None:
    result = invoke(config, ["certbot-auth"], certbot_env())
    assert result.exit_code == 0, result.output
    assert result.output == ""  # certbot shows any output of a hook as an error
    invoke(config, ["certbot-auth"], certbot_env("*.WWW.example.org."))  # same owner, once
    assert planned(config) == [(OWNER, VALUE)]


def test_the_runners_environment_does_not_leak_in(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A developer's or CI's own settings and a certbot run around the test suite.
    monkeypatch.setenv("CERTV6_STATE_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("CERTV6_HOOK_PROVIDER", "standalone")
    monkeypatch.setenv("CERTBOT_TOKEN", "an-http-01-token")
    assert invoke(config, ["certbot-auth"], certbot_env()).exit_code == 0
    assert planned(config) == [(OWNER, VALUE)]
    assert not (tmp_path / "elsewhere").exists()
    done = run_certv6(tmp_path, ["hook", "--provider", "nope", "certbot-auth"], certbot_env())
    assert "unknown provider 'nope'" in done.stderr


def test_certbot_cleanup_of_a_value_never_published_touches_no_dns(config: Path) -> None:
    # The provider's key file does not exist: any attempt to publish or remove would fail.
    invoke(config, ["certbot-auth"], certbot_env())
    result = invoke(config, ["certbot-cleanup"], certbot_env())
    assert result.exit_code == 0, result.output
    assert not list((config.parent / "state" / "ledger").glob("*.hookrun"))


def test_lego_raw_mode_computes_the_txt_value() -> None:
    # Independent oracle: the acme library computes key authorization and TXT value.
    from acme import challenges
    from cryptography.hazmat.primitives.asymmetric import ec
    from josepy.jwk import JWKEC

    key = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    challenge = challenges.DNS01(token=b"t" * 32)
    raw = ["*.example.org", challenge.encode("token"), challenge.key_authorization(key)]
    assert lego_pair(raw) == ("_acme-challenge.example.org.", challenge.validation(key))
    # Plain mode: lego passes the owner (CNAME already followed) and the value.
    assert lego_pair(["_acme-challenge.Example.ORG", VALUE]) == (OWNER.replace("www.", ""), VALUE)


def test_lego_wrong_arguments_are_a_usage_error(config: Path) -> None:
    assert invoke(config, ["lego", "--", "present", "only-one"]).exit_code == 2
    assert invoke(config, ["lego", "--", "remove", "a.example.org", VALUE]).exit_code == 2


@pytest.mark.parametrize(
    "handler",
    ["this_hookscript_is_broken__dehydrated_is_working_fine__please_ignore_unknown_hooks_in_your_script",
     "startup_hook", "generate_csr", "deploy_cert", "exit_hook", "invalid_challenge", "sync_cert"],
)  # fmt: skip
def test_dehydrated_ignores_other_handlers_silently(config: Path, handler: str) -> None:
    result = invoke(config, ["dehydrated", "--", handler, "a", "-b", "--c"])
    assert (result.exit_code, result.output) == (0, "")


def test_dehydrated_needs_triples(config: Path) -> None:
    result = invoke(config, ["dehydrated", "--", "deploy_challenge", "a.example.org", "token"])
    assert result.exit_code == 2
    assert "DOMAIN TOKEN VALUE" in result.output


@pytest.mark.parametrize("method", ["begin", "done", "failed"])
def test_uacme_declines_other_challenge_types(config: Path, method: str) -> None:
    result = invoke(config, ["uacme", "--", method, "http-01", "a.example.org", "tok", "auth"])
    assert result.exit_code == (1 if method == "begin" else 0)
    assert result.output == ""


def run_certv6(
    tmp_path: Path, args: list[str], env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CERTV6, *args],
        env=hook_environ(
            CERTV6_STATE_DIR=str(tmp_path / "state"),
            CERTV6_RESOLVERS="[::1]:53",  # never asked: the bad provider fails before any query
            **env,
        ),
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("env", "code", "message"),
    [
        ({}, 3, "CERTBOT_DOMAIN and CERTBOT_VALIDATION are not set"),
        ({**certbot_env(), "CERTBOT_TOKEN": "abc"}, 3, "http-01 challenge"),
        (certbot_env(remaining="many"), 3, "is not a number"),
        (certbot_env(remaining="0"), 3, "unknown provider 'nope'"),
        ({**certbot_env(remaining="0"), "CERTV6_HOOK_PROVIDER": "standalone"}, 3, "a hook ends"),
    ],
)
def test_user_mistakes_give_a_message_and_a_fixed_code(
    tmp_path: Path, env: dict[str, str], code: int, message: str
) -> None:
    provider = ["--provider", "nope"] if "CERTV6_HOOK_PROVIDER" not in env else []
    done = run_certv6(tmp_path, ["hook", *provider, "certbot-auth"], env)
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert "hint:" in done.stderr
    assert "Traceback" not in done.stderr


def test_arguments_that_look_like_options_pass_through_the_shims() -> None:
    # A token or TXT value may start with "-": the shims put "--" before the client's argv.
    done = subprocess.run(
        [str(HOOKS / "certv6-uacme"), "begin", "http-01", "-h", "--help", "-v"],
        env=hook_environ(CERTV6_BIN=CERTV6),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "")


def test_shim_without_certv6_says_so(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(HOOKS / "certv6-certbot-auth")],
        env={"PATH": "/usr/bin:/bin", "CERTV6_BIN": str(tmp_path / "missing")},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 127
    assert "set CERTV6_BIN" in done.stderr


def test_early_certbot_call_imports_no_heavy_library(tmp_path: Path, config: Path) -> None:
    # certbot starts the auth hook once per challenge: no acme, josepy, cryptography,
    # requests or dnspython on that path (each costs tens of milliseconds to import).
    probe = (
        "import atexit, json, sys\n"
        "heavy = {'acme', 'josepy', 'cryptography', 'requests', 'dns'}\n"
        "atexit.register(lambda: print(json.dumps(sorted(m for m in sys.modules"
        " if m.split('.')[0] in heavy))))\n"
        "from certv6.cli import main\n"
        "main(['hook', 'certbot-auth'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=hook_environ(**certbot_env(), CERTV6_CONFIG=str(config),
                         **{hookrun.OWNER_ENV: str(os.getpid())}),
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
    assert planned(config) == [(OWNER, VALUE)]


def test_shims_are_thin() -> None:
    for script in sorted(HOOKS.iterdir()):
        text = script.read_text()
        assert os.access(script, os.X_OK), script
        assert text.startswith("#!/bin/sh\n"), script
        commands = [line for line in text.splitlines() if line.startswith("exec ")]
        assert len(commands) == 1 and commands[0].startswith('exec "$bin" hook '), script
