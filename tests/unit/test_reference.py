"""The generated references (docs/settings.md, docs/certv6.1) are current and shipped."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from certv6.cli import reference
from certv6.settings import SETTINGS

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "make"),
    [("settings.md", reference.settings_markdown), ("certv6.1", reference.man_page)],
)
def test_generated_docs_are_current(name: str, make: object) -> None:
    assert callable(make)
    assert (REPO / "docs" / name).read_text() == make(), (
        f"docs/{name} is stale: run scripts/reference"
    )


def test_the_check_mode_notices_drift(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "reference"), "--check"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_every_setting_has_a_row_with_its_variable() -> None:
    text = (REPO / "docs" / "settings.md").read_text()
    for info in SETTINGS:
        assert f"| `{info.name}` | `{info.env}` |" in text


def test_the_man_page_has_every_command_and_renders(tmp_path: Path) -> None:
    page = reference.man_page()
    for path, command in reference.walk():
        if not hasattr(command, "commands"):
            assert f".SS certv6 {path.replace('-', chr(92) + '-')}" in page
    done = subprocess.run(
        ["man", "--warnings", "-l", str(REPO / "docs" / "certv6.1")],
        capture_output=True, text=True, timeout=60, env={"MANWIDTH": "80", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    if done.returncode != 0 and "not found" in done.stderr:
        pytest.skip("man is not installed")
    assert done.returncode == 0 and "certv6 import certbot" in done.stdout, done.stderr
    assert "warning" not in done.stderr


def test_the_sdist_ships_the_man_page(tmp_path: Path) -> None:
    code = (
        "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], cwd=REPO, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    name = done.stdout.strip().splitlines()[-1]
    with tarfile.open(tmp_path / name) as sdist:
        members = sdist.getnames()
    assert any(m.endswith("/docs/certv6.1") for m in members)
    assert any(m.endswith("/certv6/cli/schemas/renew.json") for m in members)
