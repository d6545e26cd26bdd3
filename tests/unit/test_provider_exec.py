"""The exec provider: lego's calling convention, the environment, timeouts, failures shown."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from certv6.errors import ConfigError, HookFailed, ProviderError
from certv6.model import RRsetChange, TxtRecord
from certv6.providers import ProviderContext, require_record_type
from certv6.providers.execprog import ExecProvider
from fakes.resolver import ZoneResolver

OWNER = "_acme-challenge.www.example.test."


@pytest.fixture
def resolver() -> Iterator[ZoneResolver]:
    with ZoneResolver(["example.test"]) as running:
        yield running


def script(tmp_path: Path, body: str, name: str = "hook") -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def make(resolver: ZoneResolver, tmp_path: Path, **options: object) -> ExecProvider:
    context = ProviderContext(name="exec", options=options, dns=resolver.dns(), state_dir=tmp_path)
    return ExecProvider(context)


def test_arguments_and_environment(
    resolver: ZoneResolver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [k for k in os.environ if k.startswith("CERTV6_")]:  # e.g. CI's own
        monkeypatch.delenv(name)
    seen = tmp_path / "seen.json"
    hook = script(
        tmp_path,
        f"""python3 -c 'import json, os, sys
json.dump({{"argv": sys.argv[1:], "env": {{k: v for k, v in os.environ.items()
            if k.startswith("CERTV6_")}}}}, open("{seen}", "w"))' "$@"
""",
    )
    make(resolver, tmp_path, program=str(hook), ttl=120).present([TxtRecord(OWNER, "v1")])
    facts = json.loads(seen.read_text())
    assert facts["argv"] == ["present", OWNER, "v1"]
    assert facts["env"] == {
        "CERTV6_ACTION": "present",
        "CERTV6_FQDN": OWNER,
        "CERTV6_VALUE": "v1",
        "CERTV6_ZONE": "example.test.",
        "CERTV6_TTL": "120",
        "CERTV6_TYPE": "TXT",
    }


def test_program_as_interpreter_and_script(resolver: ZoneResolver, tmp_path: Path) -> None:
    log = tmp_path / "log"
    hook = tmp_path / "hook.sh"
    hook.write_text(f'echo "$1 $3" >> {log}\n')
    provider = make(resolver, tmp_path, program=["/bin/sh", str(hook)])
    provider.present([TxtRecord(OWNER, "a")])
    provider.cleanup([TxtRecord(OWNER, "a")])
    assert log.read_text() == "present a\ncleanup a\n"


def test_failure_shows_the_stderr_tail_without_secrets(
    resolver: ZoneResolver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DNS_API_TOKEN", "s3cr3t-token-value")
    hook = script(
        tmp_path,
        'for i in $(seq 1 30); do echo "line $i" >&2; done\n'
        'echo "auth failed for $DNS_API_TOKEN" >&2\nexit 3\n',
    )
    provider = make(resolver, tmp_path, program=str(hook))
    with pytest.raises(HookFailed) as raised:
        provider.present([TxtRecord(OWNER, "v1")])
    error = raised.value
    assert f'exec present of {OWNER} TXT "v1"' in error.message
    assert "exited with status 3" in error.message
    assert "line 30" in error.message and "line 5\n" not in error.message  # the tail only
    assert "s3cr3t-token-value" not in error.message and "<redacted>" in error.message
    assert (error.provider, error.operation, error.exit_code) == ("exec", "present", 8)
    assert str(hook) in error.hint


def test_timeout_kills_the_program_and_its_children(resolver: ZoneResolver, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    hook = script(tmp_path, f"sleep 30 &\necho $! > {pid_file}\nwait\n")
    provider = make(resolver, tmp_path, program=str(hook), timeout=0.5)
    with pytest.raises(HookFailed, match=r"did not finish within 0\.5 s"):
        provider.present([TxtRecord(OWNER, "v1")])
    child = int(pid_file.read_text())
    # The whole process group got SIGKILL: the child is gone or a zombie awaiting its
    # reaper -- within a moment, since a killed process may still show "R" while it exits.
    state = Path(f"/proc/{child}/stat")
    deadline = time.monotonic() + 5
    while state.exists() and state.read_text().split(")")[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the hook's child survived the timeout"
        time.sleep(0.02)


def test_cleanup_tries_every_value_and_reports_the_first_failure(
    resolver: ZoneResolver, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    hook = script(tmp_path, f'echo "$3" >> {log}\n[ "$3" != bad ]\n')
    provider = make(resolver, tmp_path, program=str(hook))
    records = [TxtRecord(OWNER, "bad"), TxtRecord(OWNER, "good")]
    with pytest.raises(HookFailed, match='TXT "bad"'):
        provider.cleanup(records)
    assert log.read_text().split() == ["bad", "good"]


def test_zone_is_empty_when_the_lookup_fails(tmp_path: Path) -> None:
    seen = tmp_path / "zone"
    hook = script(tmp_path, f'printf %s "$CERTV6_ZONE" > {seen}\n')
    with ZoneResolver(["other.test"]) as resolver:  # REFUSED for example.test
        make(resolver, tmp_path, program=str(hook)).present([TxtRecord(OWNER, "v")])
    assert seen.read_text() == ""


def test_program_writable_by_others_is_refused(resolver: ZoneResolver, tmp_path: Path) -> None:
    hook = script(tmp_path, "exit 0\n")
    hook.chmod(0o777)
    with pytest.raises(ConfigError, match="writable by other users") as raised:
        make(resolver, tmp_path, program=str(hook))
    assert "chmod go-w" in raised.value.hint
    context = ProviderContext(
        name="exec",
        options={"program": str(hook)},
        dns=resolver.dns(),
        state_dir=tmp_path,
        allow_insecure_secrets=True,
    )
    ExecProvider(context).preflight()


@pytest.mark.parametrize(
    ("program", "message"),
    [
        ("/nonexistent/hook", "No such file"),
        ("certv6-no-such-program", "is not on PATH"),
        ([], "must be a path or a list"),
    ],
)
def test_bad_program(resolver: ZoneResolver, tmp_path: Path, program: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make(resolver, tmp_path, program=program)


def test_not_executable(resolver: ZoneResolver, tmp_path: Path) -> None:
    hook = script(tmp_path, "exit 0\n")
    hook.chmod(0o644)
    with pytest.raises(ConfigError, match="not an executable file"):
        make(resolver, tmp_path, program=str(hook))


def test_program_found_on_path(resolver: ZoneResolver, tmp_path: Path) -> None:
    provider = make(resolver, tmp_path, program="true")
    assert os.path.isabs(provider.argv[0])
    provider.present([TxtRecord(OWNER, "v")])


def test_other_types_extend_legos_convention_with_the_type(
    resolver: ZoneResolver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [k for k in os.environ if k.startswith("CERTV6_")]:
        monkeypatch.delenv(name)
    calls = tmp_path / "calls.jsonl"
    hook = script(
        tmp_path,
        f"""python3 -c 'import json, os, sys
wanted = ("CERTV6_TYPE", "CERTV6_RRSET", "CERTV6_TTL")
env = {{k: v for k, v in os.environ.items() if k in wanted}}
print(json.dumps({{"argv": sys.argv[1:], "env": env}}), file=open("{calls}", "a"))' "$@"
""",
    )
    provider = make(resolver, tmp_path, program=str(hook), record_types=["aaaa"])
    assert provider.record_support.types == {"AAAA"}
    owner, old, new = "www.example.test.", "2001:db8::1", "2001:db8::2"
    change = RRsetChange(owner, "AAAA", 300, frozenset({old}), frozenset({old}), frozenset({new}))
    provider.replace_rrsets([change])
    seen = [json.loads(line) for line in calls.read_text().splitlines()]
    # The new value first, so the name is never without an address.
    assert [call["argv"] for call in seen] == [
        ["present", owner, new, "AAAA"],
        ["cleanup", owner, old, "AAAA"],
    ]
    assert seen[0]["env"] == {"CERTV6_TYPE": "AAAA", "CERTV6_RRSET": old, "CERTV6_TTL": "300"}


def test_a_lego_program_gets_no_other_types_unless_it_says_it_can(
    resolver: ZoneResolver, tmp_path: Path
) -> None:
    hook = script(tmp_path, "exit 0\n")
    provider = make(resolver, tmp_path, program=str(hook))
    with pytest.raises(ProviderError, match="record_types") as raised:
        require_record_type(provider, "AAAA", long_running=False)
    assert "lego's TXT convention" in raised.value.message
    with pytest.raises(ConfigError, match="certv6 sends only AAAA"):
        make(resolver, tmp_path, program=str(hook), record_types=["MX"])
    with pytest.raises(ConfigError, match="must be a list"):
        make(resolver, tmp_path, program=str(hook), record_types="AAAA")
