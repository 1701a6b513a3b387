"""Run the fuzz suite (tests/fuzz) with a larger example budget and print JSON figures.

    python -m bench.fuzz_report --examples 2000

Per target: inputs tried, 5xx answers, crashes (exceptions escaping), statuses and outcomes seen; then
the totals, the failing tests (if any), pytest's exit code and the wall time. Exits non-zero when a test
failed, a 5xx was answered or something crashed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def run(examples: int, *, select: str | None = None, derandomize: bool = True) -> dict[str, Any]:
    """Run tests/fuzz with ``examples`` per target; the report the suite wrote, plus run figures."""
    with tempfile.TemporaryDirectory(prefix="deskpilot-fuzz-") as scratch:
        report_path = Path(scratch) / "fuzz.json"
        env = {
            **os.environ,
            "DESKPILOT_FUZZ_EXAMPLES": str(examples),
            "DESKPILOT_FUZZ_REPORT": str(report_path),
        }
        if derandomize:
            env["CI"] = "true"  # the profile derandomizes in CI: the same inputs on every run
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/fuzz"]
        if select:
            command += ["-k", select]
        started = time.perf_counter()
        finished = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        if not report_path.exists():
            sys.stderr.write(finished.stdout[-4000:] + finished.stderr[-4000:])
            raise SystemExit(f"the fuzz suite wrote no report (pytest exit code {finished.returncode})")
        report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
    summary_line = next(
        (line for line in reversed(finished.stdout.splitlines()) if " passed" in line or " failed" in line),
        "",
    )
    report.update(
        examples_per_target=examples,
        pytest_exit_code=finished.returncode,
        pytest_summary=summary_line.strip("= "),
        wall_seconds=round(seconds, 1),
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=2000, help="examples per property (default 2000)")
    parser.add_argument("-k", dest="select", default=None, help="only the fuzz tests matching this pytest -k")
    parser.add_argument("--random", action="store_true", help="fresh random inputs instead of derandomized")
    args = parser.parse_args()
    report = run(args.examples, select=args.select, derandomize=not args.random)
    print(json.dumps(report, indent=2, sort_keys=True))
    if report["pytest_exit_code"] != 0 or report["five_xx"] or report["crashes"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
