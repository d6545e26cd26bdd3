"""A skip of any kind fails under CERTV6_REQUIRE_LAB=1 (tests/strict_skips.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
SAMPLE = """
import pytest

@pytest.mark.skipif(True, reason="bind9 is not installed")
def test_marked(): pass

def test_called(): pytest.skip("no root")

@pytest.mark.xfail(reason="known")
def test_expected_failure(): assert False

def test_plain(): pass

@pytest.mark.upstream_pebble
def test_upstream(): pytest.skip("upstream Pebble not found")
"""
CONTROLS = ("CERTV6_REQUIRE_LAB", "CERTV6_REQUIRE_UPSTREAM_PEBBLE", "CI")


def run(tmp_path: Path, require: str | None, **more: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    upstream_pebble: sample\n")
    env = {k: v for k, v in os.environ.items() if k not in CONTROLS}
    if require is not None:
        env["CERTV6_REQUIRE_LAB"] = require
    env.update(more)
    env["PYTHONPATH"] = str(TESTS)
    env["COLUMNS"] = "300"  # the short summary must not cut the reason
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-rfE",
        "-p",
        "strict_skips",
        "-p",
        "no:cacheprovider",
    ]
    return subprocess.run(
        [*argv, "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("require", [None, "0"])
def test_skips_stay_skips_on_a_laptop(tmp_path: Path, require: str | None) -> None:
    done = run(tmp_path, require)
    assert done.returncode == 0, done.stdout
    assert "1 passed, 3 skipped, 1 xfailed" in done.stdout


def test_every_skip_fails_when_the_lab_is_required(tmp_path: Path) -> None:
    done = run(tmp_path, "1")
    assert done.returncode == 1
    # A skipif mark skips during setup, so it shows as an error; either way the run fails.
    assert "1 failed, 1 passed, 1 skipped, 1 xfailed, 1 error" in done.stdout
    assert "CERTV6_REQUIRE_LAB=1, yet this test was skipped: bind9 is not installed" in done.stdout


def test_a_missing_upstream_pebble_skips_outside_ci(tmp_path: Path) -> None:
    # scripts/test sets CERTV6_REQUIRE_LAB=1 on every machine; only CI has the build.
    done = run(tmp_path, "1")
    assert "test_upstream" not in done.stdout.split("short test summary")[-1]


@pytest.mark.parametrize(
    ("variable", "value", "shown"),
    [
        ("CERTV6_REQUIRE_UPSTREAM_PEBBLE", "1", "CERTV6_REQUIRE_UPSTREAM_PEBBLE=1"),
        ("CI", "true", "CI=true"),
    ],
)
def test_a_missing_upstream_pebble_fails_in_ci(
    tmp_path: Path, variable: str, value: str, shown: str
) -> None:
    done = run(tmp_path, "1", **{variable: value})
    assert done.returncode == 1
    assert f"{shown}, yet this test was skipped: upstream Pebble not found" in done.stdout
