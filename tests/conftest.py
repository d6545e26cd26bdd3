"""Shared fixtures.  The lab fixtures start real servers in network namespaces (root only).

Without root or the lab's binaries the lab tests skip with the reason -- unless
CERTV6_REQUIRE_LAB=1 (CI), where that is a failure: CI must really run them. The
same holds for every other skip (strict_skips.py): CI installs everything.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lab import Lab, LabUnavailable, check_prerequisites
from strict_skips import UPSTREAM_PEBBLE_REQUIRED, pytest_runtest_makereport

__all__ = ["pytest_runtest_makereport"]  # a hook: under CERTV6_REQUIRE_LAB=1 a skip fails


def _require_lab() -> None:
    try:
        check_prerequisites()
    except LabUnavailable as exc:
        if os.environ.get("CERTV6_REQUIRE_LAB") == "1":
            pytest.fail(f"CERTV6_REQUIRE_LAB=1 but the lab cannot run: {exc}", pytrace=False)
        pytest.skip(f"IPv6 lab unavailable: {exc}")


@pytest.fixture
def require_lab() -> None:
    """For tests that start labs themselves (e.g. through the CLI): skip or fail like ``lab``."""
    _require_lab()


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """One lab shared by the whole session.  Use unique owner names; it is reset after each test."""
    _require_lab()
    with Lab.start() as shared:
        yield shared


@pytest.fixture(autouse=True)
def _reset_shared_lab(request: pytest.FixtureRequest) -> Iterator[None]:
    # A test may change the shared lab's lag or Pebble's environment; put them back so the
    # next test starts from the documented state.  Only tests that use the lab pay for this.
    shared = request.getfixturevalue("lab") if "lab" in request.fixturenames else None
    yield
    if shared is not None and not shared.stopped:
        shared.reset()


@pytest.fixture
def lab_factory() -> Iterator[Callable[..., Lab]]:
    """Start private labs (``lab_factory(lag=2, pebble_env={...})``); all stopped after the test."""
    _require_lab()
    started: list[Lab] = []

    def start(**kwargs: Any) -> Lab:
        new = Lab.start(**kwargs)
        started.append(new)
        return new

    yield start
    for each in started:
        each.stop()


@pytest.fixture
def fresh_lab(lab_factory: Callable[..., Lab]) -> Lab:
    """A private lab with default settings, for tests that must not share state."""
    return lab_factory()


# The upstream Pebble build (ARI, profiles, dns-account-01, dns-persist-01): beside the
# repository as this team and its CI keep it, or wherever CERTV6_UPSTREAM_PEBBLE says.
UPSTREAM_PEBBLE = Path(__file__).resolve().parents[1].parent / "shared/tools/pebble/pebble"


def upstream_pebble_binary() -> Path:
    """The upstream Pebble to run; skips (see strict_skips.py) when there is none."""
    binary = Path(os.environ.get("CERTV6_UPSTREAM_PEBBLE") or UPSTREAM_PEBBLE)
    if not os.access(binary, os.X_OK):
        pytest.skip(
            f"upstream Pebble not found at {binary}: these tests need a Pebble newer than "
            "Debian's 2.4 (ARI, profiles, dns-account-01, dns-persist-01). Build it with Go: "
            "git clone https://github.com/letsencrypt/pebble && cd pebble && "
            "go build ./cmd/pebble; then put it there or set CERTV6_UPSTREAM_PEBBLE=/path/to/"
            f"pebble (CI sets {UPSTREAM_PEBBLE_REQUIRED}=1: there a missing one fails)"
        )
    return binary


@pytest.fixture
def upstream_pebble(lab: Lab) -> str:
    """The shared lab with the upstream Pebble started (once); its directory URL.

    Mark the test ``@pytest.mark.upstream_pebble``: where the build is missing it
    then skips even under CERTV6_REQUIRE_LAB=1 (strict_skips.py).
    """
    return lab.start_upstream_pebble(upstream_pebble_binary())
