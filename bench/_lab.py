"""What every benchmark shares: the lab, the cases, timed runs in the client namespace.

Every command runs as a cold process inside the lab's IPv6-only client namespace,
timed by ``_timed.py`` (which runs in the namespace too, so ``ip netns exec`` is
not counted). Each run uses new names and a new state directory (so a new ACME
account): every tool pays for the same work.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from lab import Lab  # noqa: E402  (after the path is set)
from lab import tsig_secret as lab_tsig_secret  # noqa: E402

CERTV6 = str(Path(sys.executable).parent / "certv6")
TIMED = str(Path(__file__).resolve().parent / "_timed.py")
ZONE = "certv6.test"


def _names(count: int) -> Callable[[str], list[str]]:
    return lambda tag: [f"n{i}.{tag}.{ZONE}" for i in range(count)]


# name -> (description, names for a unique tag)
CASES: dict[str, tuple[str, Callable[[str], list[str]]]] = {
    "one": ("one name", lambda tag: [f"{tag}.{ZONE}"]),
    "ten": ("ten names", _names(10)),
    "wildcard": ("wildcard + base", lambda tag: [f"{tag}.{ZONE}", f"*.{tag}.{ZONE}"]),
    "hundred": ("100 names, one certificate", _names(100)),
}
# What the timings of `certv6 issue --json` are made of.
CA_STEPS = ("account", "order", "validation", "finalize")
DNS_STEPS = ("publish", "cleanup")


@dataclass
class Run:
    """One timed process: wall seconds (cold, whole process), exit code, peak RSS,
    and its CPU seconds (user + system)."""

    wall: float
    returncode: int
    maxrss_kib: int
    stdout: str
    stderr: str
    cpu: float = float("nan")

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.stdout))


def unique_tag(prefix: str = "b") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def timed(
    lab: Lab,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> Run:
    """Run ``argv`` in the client namespace and time it from fork to exit."""
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        done = lab.run_in_client(
            [sys.executable, TIMED, result.name, "--", *argv], env=env, timeout=timeout
        )
        text = Path(result.name).read_text()
    if not text:
        raise RuntimeError(f"timing wrapper failed ({done.returncode}): {done.stderr[-2000:]}")
    figures = json.loads(text)
    return Run(
        figures["wall"],
        figures["returncode"],
        figures["maxrss_kib"],
        done.stdout,
        done.stderr,
        figures.get("cpu", float("nan")),
    )


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"certv6-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def certv6_issue(
    lab: Lab, domains: Sequence[str], *, name: str = "bench", extra: Sequence[str] = ()
) -> Run:
    """``certv6 issue --json`` with a fresh config and state directory."""
    with workdir("certv6") as directory:
        config = lab.write_certv6_config(directory / "certv6.toml", state_dir=directory / "state")
        argv = [CERTV6, "--config", str(config), "issue", "--json", "--name", name, *extra]
        for domain in domains:
            argv += ["-d", domain]
        return timed(lab, argv)


def tsig_secret(lab: Lab) -> str:
    """The secret of the lab's main TSIG key (BIND key-file format)."""
    return lab_tsig_secret(lab.tsig_key_file)


INVALID = re.compile(r"authz \S+ set INVALID by completed challenge")


def invalid_authorizations(lab: Lab) -> int:
    """Failed validations so far, as Pebble logged them (one per invalid authorization)."""
    return len(INVALID.findall((lab.workdir / "pebble.log").read_text(errors="replace")))


def between_runs(lab: Lab) -> None:
    """Every run starts with ns2 in step with ns1 (a lagged cleanup may still be pending)."""
    lab.sync_secondary(timeout=30)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.0f} ms"


def secs(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds:.2f} s"


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """A plain table; also valid Markdown, so it can be pasted into RESULTS.md."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    print(line(rows[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows[1:]:
        print(line(row))


def _command(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (done.stdout or done.stderr).strip()


def machine() -> dict[str, str]:
    """The facts RESULTS.md needs to make a figure comparable."""
    model = "?"
    for line in _command(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{model}, {os.cpu_count()} CPUs (nproc {_command(['nproc'])})",
        "kernel": platform.release(),
        "load": "{:.2f} {:.2f} {:.2f} (1, 5, 15 min, at start)".format(*os.getloadavg()),
        "python": platform.python_version(),
        "certv6": _command([CERTV6, "--version"]),
        "pebble": _command(["dpkg-query", "-W", "-f=${Version}", "pebble"]),
        "bind9": _command(["dpkg-query", "-W", "-f=${Version}", "bind9"]),
        "certbot": _command(["dpkg-query", "-W", "-f=${Version}", "certbot"]),
        "lego": _command(["dpkg-query", "-W", "-f=${Version}", "lego"]),
    }


def print_machine() -> None:
    for key, value in machine().items():
        print(f"  {key:8} {value}")


def print_machine_standalone() -> None:
    """The machine, unless run_all already printed it once at the top."""
    if os.environ.get("CERTV6_BENCH_MACHINE_ONCE") != "1":
        print_machine()
        print()
