"""Counts what the fuzz targets were fed: inputs tried, 5xx answers and crashes (exceptions escaping).

Every property wraps the code under test in :func:`probe` and reports HTTP answers with
:func:`status`; ``tests/fuzz/conftest.py`` writes the totals as JSON to ``$DESKPILOT_FUZZ_REPORT``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hypothesis import settings

EXAMPLES_ENV = "DESKPILOT_FUZZ_EXAMPLES"
REPORT_ENV = "DESKPILOT_FUZZ_REPORT"


@dataclass
class Target:
    """The running totals of one fuzz target."""

    inputs: int = 0
    five_xx: int = 0
    crashes: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


TARGETS: dict[str, Target] = {}


def target(name: str) -> Target:
    """The totals of ``name`` (created on first use)."""
    return TARGETS.setdefault(name, Target())


@contextmanager
def probe(name: str) -> Iterator[Target]:
    """Count one input tried on ``name``; an exception escaping the block is counted as a crash."""
    totals = target(name)
    totals.inputs += 1
    try:
        yield totals
    except AssertionError:
        raise
    except Exception as exc:
        if type(exc).__module__.startswith("hypothesis"):  # assume() rejected the input: not tried
            totals.inputs -= 1
        else:
            totals.crashes += 1
        raise


def status(name: str, code: int) -> int:
    """Record an HTTP status answered by ``name``; returns it for the caller's assertion."""
    totals = target(name)
    totals.statuses[str(code)] = totals.statuses.get(str(code), 0) + 1
    if code >= 500:
        totals.five_xx += 1
    return code


def outcome(name: str, what: str) -> None:
    """Record a non-HTTP outcome of ``name`` (loaded, failed with a reason, replied, ignored ...)."""
    totals = target(name)
    totals.outcomes[what] = totals.outcomes.get(what, 0) + 1


def examples(default: int, *, share: float = 1.0) -> settings:
    """``settings`` with ``default`` examples, or ``$DESKPILOT_FUZZ_EXAMPLES × share`` when that is set."""
    raised = os.environ.get(EXAMPLES_ENV, "").strip()
    count = max(1, int(int(raised) * share)) if raised.isdigit() else default
    return settings(max_examples=count)


def summary() -> dict[str, object]:
    """The JSON-ready totals per target and overall."""
    targets = {name: asdict(totals) for name, totals in sorted(TARGETS.items())}
    return {
        "targets": targets,
        "inputs": sum(t.inputs for t in TARGETS.values()),
        "five_xx": sum(t.five_xx for t in TARGETS.values()),
        "crashes": sum(t.crashes for t in TARGETS.values()),
        "failures": [f for t in TARGETS.values() for f in t.failures],
    }


def write_report(path: Path) -> None:
    """Write :func:`summary` to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
