"""Under CERTV6_REQUIRE_LAB=1 (CI) a skipped test is a failed test, whatever skipped it.

A ``skipif`` on a missing binary, on not being root or on an optional package is
right on a developer's laptop and wrong in CI, which installs all of it: there a
skip would hide a test that never ran. tests/conftest.py re-exports this hook;
tests/unit/test_strict_skips.py runs it on a throw-away test file.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

REQUIRE = "CERTV6_REQUIRE_LAB"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if os.environ.get(REQUIRE) != "1" or not report.skipped or hasattr(report, "wasxfail"):
        return report
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    report.outcome = "failed"
    report.longrepr = f"{REQUIRE}=1, yet this test was skipped: {reason}"
    return report
