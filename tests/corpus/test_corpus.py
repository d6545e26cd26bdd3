"""The bad-input corpus: every case must fail cleanly, with its documented exit code.

Each case runs the real command (``python -m certv6``) in a new, empty temporary
directory, with ``HOME`` there, no ``CERTV6_*`` variables but the case's own, and
``CERTV6_CONFIG`` pointing at a config that would work if the input were good
(CA ``https://[::1]:9/dir``, resolver ``[::1]:9``, an rfc2136 provider with a
valid TSIG key). As root it also runs in a new network namespace with no
interfaces up, so a case that wrongly gets as far as the network fails at once
and sends nothing anywhere. Every case must:

- exit with the expected code (2 usage, 3 config, ... see certv6.errors),
- print the expected fragment, and a clear message (click's ``Error:`` for
  usage errors, ``certv6: error:`` otherwise), never a traceback or an
  "internal error",
- write nothing: no new file or directory anywhere under the temporary
  directory, which holds the state directory.

The cases are data; adding one is adding a line (see the header of each file):
``domains.txt``, ``cli.txt``, ``keyfiles.txt``, ``eabkeys.txt``, ``configs.txt`` (blocks).
Placeholders in arguments, environment and configs:
``{tmp}`` the temporary directory, ``{state}`` its (not yet existing) state
directory, ``{config}`` the working config, ``{key}`` the valid TSIG key file,
``{file}`` an existing regular file, ``{dir}`` an existing empty directory.
"""

from __future__ import annotations

import ast
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
DEFAULT_ARGS = "issue -d www.example.org"
TSIG_KEY = (
    'key "certv6-key" {\n'
    "\talgorithm hmac-sha256;\n"
    '\tsecret "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";\n'
    "};\n"
)
BASE_CONFIG = (
    'server = "https://[::1]:9/dir"\n'
    'state_dir = "{state}"\n'
    'resolvers = ["[::1]:9"]\n'
    'email = "corpus@example.org"\n'
    "agree_tos = true\n"
)
RFC2136_TABLE = '\n[provider.rfc2136]\nkey_file = "{key_file}"\n'
EAB_SETTINGS = 'eab_kid = "kid-1"\neab_hmac_key_file = "{eab_file}"\n'
# Wall time for one cold process. Generous on purpose: scripts/test runs the other
# Pythons' corpus at nice 19 beside the lab run, and while the lab run keeps both cores
# busy a low-priority process gets almost no CPU, so a case that takes 2 s alone can
# take a minute there. A case that hangs still fails, as that case, after this long.
TIMEOUT = 300


@dataclass(frozen=True)
class Case:
    """One bad input: what to run and how certv6 must refuse it."""

    origin: str  # file:line, the test id
    args: str  # certv6 arguments (shell words, placeholders allowed)
    exit_code: int
    fragment: str
    env: dict[str, str] = field(default_factory=dict)
    config: str | None = None  # config text replacing the working one
    key_file: str | bytes | None = None  # content of the TSIG key file the config names
    key_mode: int = 0o600
    argv: tuple[str, ...] | None = None  # exact arguments, bypassing shell words
    eab: bool = False  # ``key_file`` is the EAB HMAC key file, not the TSIG key


# --- reading the data files ----------------------------------------------------------------


def _lines(name: str) -> Iterator[tuple[str, list[str]]]:
    """(origin, fields) of each line that is not blank or a comment; fields split on ' | '."""
    for number, line in enumerate((HERE / name).read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        yield f"{name}:{number}", [part.strip() for part in line.split(" | ")]


def _literal(text: str) -> str:
    """A field as written, or the string a Python literal ('...', "...") stands for."""
    if text[:1] in {"'", '"'}:
        value = ast.literal_eval(text)
        assert isinstance(value, str), text
        return value
    return text


def _env(text: str) -> dict[str, str]:
    return dict(word.split("=", 1) for word in shlex.split(text))


def domain_cases() -> list[Case]:
    cases = []
    for origin, (domain, code, fragment) in _lines("domains.txt"):
        argv = ("issue", "-d", _literal(domain))
        cases.append(Case(origin, "", int(code), _literal(fragment), argv=argv))
    return cases


def cli_cases() -> list[Case]:
    cases = []
    for origin, fields in _lines("cli.txt"):
        args, code, fragment, *rest = fields
        env = _env(rest[0]) if rest else {}
        cases.append(Case(origin, args, int(code), _literal(fragment), env=env))
    return cases


def key_file_cases() -> list[Case]:
    cases = []
    for origin, (_label, mode, content, code, fragment) in _lines("keyfiles.txt"):
        value = ast.literal_eval(content) if content[:1] in {"'", '"', "b"} else content
        cases.append(
            Case(
                origin,
                DEFAULT_ARGS,
                int(code),
                _literal(fragment),
                key_file=value,
                key_mode=int(mode, 8),
            )
        )
    return cases


def eab_key_cases() -> list[Case]:
    cases = []
    for origin, (_label, mode, content, code, fragment, *rest) in _lines("eabkeys.txt"):
        value = ast.literal_eval(content) if content[:1] in {"'", '"', "b"} else content
        args = rest[0] if rest else DEFAULT_ARGS
        cases.append(
            Case(origin, args, int(code), _literal(fragment), key_file=value,
                 key_mode=int(mode, 8), eab=True)
        )  # fmt: skip
    return cases


def config_cases() -> list[Case]:
    """Blocks: a line '## label | exit | fragment [| args [| env]]', then the TOML."""
    cases: list[Case] = []
    header: tuple[str, list[str]] | None = None
    body: list[str] = []

    def flush() -> None:
        if header is None:
            return
        origin, (_label, code, fragment, *rest) = header
        args = rest[0] if rest and rest[0] else DEFAULT_ARGS
        env = _env(rest[1]) if len(rest) > 1 else {}
        text = "\n".join(body) + "\n"
        cases.append(Case(origin, args, int(code), _literal(fragment), env=env, config=text))

    for number, line in enumerate((HERE / "configs.txt").read_text().splitlines(), start=1):
        if line.startswith("## "):
            flush()
            header = (f"configs.txt:{number}", [p.strip() for p in line[3:].split(" | ")])
            body = []
        elif header is not None:
            body.append(line)
    flush()
    return cases


ALL_CASES = domain_cases() + cli_cases() + key_file_cases() + eab_key_cases() + config_cases()


def test_the_corpus_is_big_enough() -> None:
    assert len(ALL_CASES) >= 50
    assert len({case.origin for case in ALL_CASES}) == len(ALL_CASES)


# --- running a case ------------------------------------------------------------------------


@dataclass(frozen=True)
class Sandbox:
    tmp: Path

    @property
    def state(self) -> Path:
        return self.tmp / "state"

    def prepare(self, case: Case) -> dict[str, str]:
        """Write the inputs; return the placeholder values."""
        key = self.tmp / "tsig.key"
        self._write_key(key, TSIG_KEY, 0o600)
        case_key = self.tmp / "case.key"
        if case.key_file is not None:
            self._write_key(case_key, case.key_file, case.key_mode)
        (self.tmp / "file.txt").write_text("not a directory\n")
        (self.tmp / "empty-dir").mkdir()
        values = {
            "tmp": str(self.tmp),
            "state": str(self.state),
            "key": str(key),
            "file": str(self.tmp / "file.txt"),
            "dir": str(self.tmp / "empty-dir"),
        }
        key_for_config = case_key if case.key_file is not None and not case.eab else key
        text = case.config
        if text is None:
            eab = EAB_SETTINGS.replace("{eab_file}", str(case_key)) if case.eab else ""
            text = BASE_CONFIG + eab + RFC2136_TABLE.replace("{key_file}", str(key_for_config))
        config = self.tmp / "certv6.toml"
        config.write_text(_fill(text, values))
        values["config"] = str(config)
        return values

    @staticmethod
    def _write_key(path: Path, content: str | bytes, mode: int) -> None:
        if content == "<missing>":
            return
        if content == "<directory>":
            path.mkdir()
            return
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        path.chmod(mode)

    def snapshot(self) -> dict[str, tuple[int, int]]:
        found = {}
        for root, dirs, files in os.walk(self.tmp):
            for name in dirs + files:
                path = Path(root, name)
                info = path.lstat()
                found[str(path.relative_to(self.tmp))] = (info.st_size, info.st_mtime_ns)
        return found


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _isolated() -> list[str]:
    """A new network namespace with no interface up, when we may make one."""
    unshare = shutil.which("unshare")
    if os.geteuid() == 0 and unshare:
        return [unshare, "--net", "--"]
    return []


def run_case(case: Case, tmp: Path) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run one case; return the process and every path it created or changed under ``tmp``."""
    sandbox = Sandbox(tmp)
    values = sandbox.prepare(case)
    argv = list(case.argv) if case.argv is not None else shlex.split(_fill(case.args, values))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "LANG": "C.UTF-8",
        "CERTV6_CONFIG": values["config"],
    }
    if case.config is not None and "state_dir" not in case.config:
        env["CERTV6_STATE_DIR"] = values["state"]  # never the real /var/lib/certv6
    env.update({key: _fill(value, values) for key, value in case.env.items()})
    env = {key: value for key, value in env.items() if value != "<unset>"}
    before = sandbox.snapshot()
    command = [*_isolated(), sys.executable, "-m", "certv6", *argv]
    try:
        done = subprocess.run(
            command, cwd=tmp, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as hung:
        # This case fails, by its name; the other cases still get their results.
        output = hung.stdout.decode(errors="replace") if isinstance(hung.stdout, bytes) else ""
        done = subprocess.CompletedProcess(
            command, -9, output, f"the test killed it: no exit after {TIMEOUT} s"
        )
    after = sandbox.snapshot()
    return done, sorted(path for path, info in after.items() if before.get(path) != info)


Result = tuple[subprocess.CompletedProcess[str], list[str]]


@pytest.fixture(scope="session")
def corpus_results(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Result]:
    """Run every selected case once, several at a time (each is a cold process)."""
    selected = [
        item.callspec.params["case"]
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and hasattr(item, "callspec")
        and isinstance(item.callspec.params.get("case"), Case)
    ]

    # mktemp is not thread-safe: make every directory before the threads start.
    work = [(case, tmp_path_factory.mktemp("case")) for case in selected]

    def run(job: tuple[Case, Path]) -> tuple[str, Result]:
        return job[0].origin, run_case(*job)

    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        return dict(pool.map(run, work))


@pytest.mark.parametrize("case", [pytest.param(c, id=c.origin) for c in ALL_CASES])
def test_bad_input_is_refused_cleanly(case: Case, corpus_results: dict[str, Result]) -> None:
    done, written = corpus_results[case.origin]
    output = done.stderr + done.stdout
    command = case.args or shlex.join(case.argv or ())
    context = f"certv6 {command}: exit {done.returncode}\n{output}"
    assert "Traceback" not in output, context
    assert "internal error" not in output, context
    assert done.returncode == case.exit_code, context
    assert case.fragment in output, f"missing {case.fragment!r}\n{context}"
    clear = "Error:" if case.exit_code == 2 else "certv6: error:"
    assert clear in output, f"no {clear!r} line\n{context}"
    assert not written, f"wrote {written}\n{context}"
