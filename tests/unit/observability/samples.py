"""Reading the process's Prometheus registry in tests: values and deltas of labelled samples."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import REGISTRY


def sample(name: str, **labels: str) -> float:
    """The current value of one sample (0 when the labelled child does not exist yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


@contextmanager
def delta(name: str, **labels: str) -> Iterator[Callable[[], float]]:
    """How much ``name{labels}`` grew inside the block: ``with delta(...) as grown: ...; grown()``."""
    before = sample(name, **labels)
    yield lambda: sample(name, **labels) - before
