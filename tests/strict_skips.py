"""Under CERTV6_REQUIRE_LAB=1 (CI) a skipped test is a failed test, whatever skipped it.

A ``skipif`` on a missing binary, on not being root or on an optional package is
right on a developer's laptop and wrong in CI, which installs all of it: there a
skip would hide a test that never ran. tests/conftest.py re-exports this hook;
tests/unit/test_strict_skips.py runs it on a throw-away test file.

One exception: what no package installs. Tests marked ``upstream_pebble`` need a
Pebble build newer than Debian's (``../shared/tools/pebble/pebble``), which this
team's machines and CI have and a fresh machine does not; ``scripts/test`` sets
CERTV6_REQUIRE_LAB=1 everywhere, so for those tests a skip stays a skip unless
CERTV6_REQUIRE_UPSTREAM_PEBBLE=1 (``.ci/run`` sets it) or CI=true.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

REQUIRE = "CERTV6_REQUIRE_LAB"
UPSTREAM_PEBBLE_REQUIRED = "CERTV6_REQUIRE_UPSTREAM_PEBBLE"
# marker -> the variable that makes its skips failures (CI=true does too)
OPTIONAL = {"upstream_pebble": UPSTREAM_PEBBLE_REQUIRED}


def _required(item: pytest.Item) -> str | None:
    """The variable under which a skip of ``item`` fails; None when it may skip."""
    optional = [OPTIONAL[name] for name in OPTIONAL if item.get_closest_marker(name)]
    if not optional:
        return REQUIRE if os.environ.get(REQUIRE) == "1" else None
    for variable in optional:
        if os.environ.get(variable) == "1":
            return variable
    return "CI" if os.environ.get("CI") == "true" else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if not report.skipped or hasattr(report, "wasxfail"):
        return report
    variable = _required(item)
    if variable is None:
        return report
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    report.outcome = "failed"
    setting = "CI=true" if variable == "CI" else f"{variable}=1"
    report.longrepr = f"{setting}, yet this test was skipped: {reason}"
    return report
