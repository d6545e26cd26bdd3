"""Cold start of the certv6 command: how long before it does anything (prints, asserts nothing).

    python bench/cold_start.py [--runs 20]

Each command is a new process (the installed `certv6` console script); the figure
is the median wall time from fork to exit, and the fastest run. The interpreter
alone (`python -c pass`) is the floor. `certv6 hook ...` is measured when the
command exists (the hooks' full cold start, with a real publish, is
bench/hook_start.py). The slowest imports of `certv6 --version` follow, from
`python -X importtime`, so a regression can be traced to a module.
Target (issue #9): hook cold start < 150 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lab import CERTV6, TIMED, print_table, verdict


def timed_local(argv: Sequence[str]) -> tuple[float, int]:
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        subprocess.run(
            [sys.executable, TIMED, result.name, "--", *argv],
            capture_output=True,
            timeout=60,
            env={
                "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG": "C.UTF-8",
                # run_all measures a copy of src/ through PYTHONPATH
                **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
            },
        )
        figures = json.loads(Path(result.name).read_text())
    return figures["wall"], figures["returncode"]


def has_command(name: str) -> bool:
    done = subprocess.run([CERTV6, name, "--help"], capture_output=True, timeout=30)
    return done.returncode == 0


def commands() -> list[tuple[str, list[str]]]:
    found = [
        ("python -c pass (floor)", [sys.executable, "-c", "pass"]),
        ("certv6 --version", [CERTV6, "--version"]),
        ("certv6 --help", [CERTV6, "--help"]),
        ("certv6 issue --help", [CERTV6, "issue", "--help"]),
    ]
    for name in ("hook", "renew", "doctor"):
        if has_command(name):
            found.append((f"certv6 {name} --help", [CERTV6, name, "--help"]))
    return found


def slowest_imports(count: int = 14) -> list[tuple[int, str]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "certv6", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = []
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            found.append((int(parts[1]), parts[2].rstrip()))
    return sorted(found, reverse=True)[:count]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    print(f"## cold start, median of {args.runs} processes\n")
    rows = [["command", "median", "fastest", "exit"]]
    hook_median = None
    for label, command in commands():
        timed_local(command)  # warm the page cache once; every measured run is still a new process
        runs = [timed_local(command) for _ in range(args.runs)]
        walls = [wall for wall, _ in runs]
        median = statistics.median(walls)
        if label.startswith("certv6 hook"):
            hook_median = median
        rows.append(
            [label, f"{median * 1000:.0f} ms", f"{min(walls) * 1000:.0f} ms", str(runs[-1][1])]
        )
    print_table(rows)
    print("\nslowest imports of `certv6 --version` (cumulative, python -X importtime)\n")
    for micros, module in slowest_imports():
        print(f"  {micros / 1000:6.1f} ms  {module.strip()}")
    if hook_median is None:
        print("\ntarget hook cold start < 150 ms: `certv6 hook` does not exist yet")
    else:
        print(
            f"\ntarget hook cold start < 150 ms: {hook_median * 1000:.0f} ms — "
            f"{verdict(hook_median < 0.150)}"
        )


if __name__ == "__main__":
    main()
