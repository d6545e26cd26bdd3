"""Find an interpreter for every Python version pyproject.toml claims (issue #22).

The claimed versions are the "Programming Language :: Python :: 3.N" classifiers. For each
version other than the running interpreter's (the main one, which runs everything), look in
this order and take the first that really is that version and can make a venv:

1. ``python3.N`` on PATH (a pyenv shim counts only if it runs: shims of versions that are not
   selected exit with "command not found");
2. pyenv's own builds, ``$PYENV_ROOT/versions/3.N.*/bin/python3.N`` (PYENV_ROOT defaults to
   ~/.pyenv), highest patch release first;
3. uv's managed builds, ``~/.local/share/uv/python/cpython-3.N.*/bin/python3.N``.

Prints one tab-separated line per claimed version, main first:
``main  3.11  /path/to/python3.11  3.11.7`` or ``extra  3.12  /path  3.12.1`` or
``missing  3.13  -  looked at: ...``. Run with the main interpreter (stdlib only).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLASSIFIER = re.compile(r"Programming Language :: Python :: (3\.\d+)$")
# What a candidate must do: be the version asked for, and make venvs (Debian splits venv out).
PROBE = "import sys, venv, ensurepip; print('%d.%d.%d' % sys.version_info[:3])"


def claimed() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = (CLASSIFIER.match(c) for c in project.get("classifiers", []))
    return sorted({m.group(1) for m in found if m}, key=_key)


PYENV = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
UV = Path.home() / ".local/share/uv/python"


def candidates(version: str) -> list[Path]:
    """Where ``version`` may live, in the order described above."""
    name = f"python{version}"
    on_path = shutil.which(name)
    builds = [p / "bin" / name for p in PYENV.glob(f"{version}.*")]
    builds += [p / "bin" / name for p in UV.glob(f"cpython-{version}.*")]
    builds = [p for p in builds if p.exists()]
    builds.sort(key=lambda p: _key(p.parents[1].name.removeprefix("cpython-")), reverse=True)
    return ([Path(on_path)] if on_path else []) + builds


def patch_release(python: Path, version: str) -> str | None:
    """The full version of ``python`` if it runs, is ``version`` and has venv; else None."""
    try:
        done = subprocess.run(
            [str(python), "-c", PROBE], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    full = done.stdout.strip()
    if done.returncode != 0 or not full.startswith(version + "."):
        return None
    return full


def main() -> int:
    main_version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    versions = claimed()
    if not versions:
        print("pythons: pyproject.toml claims no Python version (classifiers)", file=sys.stderr)
        return 1
    if main_version in versions:
        versions.remove(main_version)
    else:
        print(f"pythons: the main Python {main_version} is not a claimed one", file=sys.stderr)
    print(f"main\t{main_version}\t{sys.executable}\t{sys.version.split()[0]}")
    for version in versions:
        looked = candidates(version)
        for python in looked:
            full = patch_release(python, version)
            if full:
                print(f"extra\t{version}\t{python}\t{full}")
                break
        else:
            where = f"python{version} on PATH, {PYENV}/{version}.*, {UV}/cpython-{version}.*"
            unusable = f" (found but unusable: {', '.join(map(str, looked))})" if looked else ""
            print(f"missing\t{version}\t-\tlooked for {where}{unusable}")
    return 0


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


if __name__ == "__main__":
    sys.exit(main())
