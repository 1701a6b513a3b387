"""Hypothesis profile for the fuzz suite and the JSON report of inputs tried (``$DESKPILOT_FUZZ_REPORT``).

The profile ``deskpilot-fuzz`` has no deadline (the targets do real I/O: SQLite, the Slack emulator),
no example database (nothing is written into the test's working folder) and is derandomized in CI so a
failure reproduces. ``$DESKPILOT_FUZZ_EXAMPLES`` raises every target's budget (see ``tally.examples``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.fuzz import tally

settings.register_profile(
    "deskpilot-fuzz",
    deadline=None,
    database=None,
    derandomize=os.environ.get("CI", "").lower() in ("1", "true", "yes"),
    print_blob=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)
settings.load_profile("deskpilot-fuzz")

_REPORT_PATH = os.environ.get(tally.REPORT_ENV, "").strip()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """A failing fuzz test is listed under its target's failures in the report."""
    if report.failed and "tests/fuzz/" in report.nodeid:
        name = report.nodeid.split("::")[-1]
        message = str(report.longrepr).strip().splitlines()[-1][:300] if report.longrepr else "failed"
        tally.target(f"test:{name}").failures.append(f"{report.nodeid} ({report.when}): {message}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the totals when ``$DESKPILOT_FUZZ_REPORT`` names a file."""
    if _REPORT_PATH:
        tally.write_report(Path(_REPORT_PATH))
