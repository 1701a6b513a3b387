"""Deployment checks: the Helm chart and the Dockerfile, with pinned offline tools.

The tools (helm, kubernetes-validate, hadolint) come from ``.ci/ensure_helm_tools.sh``, which also tells
where they are (``--check``). Without them these tests skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "deskpilot"
PRODUCTION_VALUES = CHART / "ci" / "production-values.yaml"
ENSURE_TOOLS = REPO / ".ci" / "ensure_helm_tools.sh"
RELEASE = "rel"
_ENV = dict(os.environ)  # captured at import: the suite's autouse fixture strips DESKPILOT_* per test


@dataclass(frozen=True)
class Tools:
    """Paths of the pinned deployment tools."""

    helm: Path
    kubernetes_validate: Path
    hadolint: Path


def _missing_tools(reason: str) -> None:
    message = f"deployment tools unavailable: {reason}. Install them with: bash .ci/ensure_helm_tools.sh"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def tools() -> Tools:
    """The tool binaries, located through ``.ci/ensure_helm_tools.sh --check`` (installs nothing)."""
    result = subprocess.run(
        ["bash", str(ENSURE_TOOLS), "--check"], capture_output=True, text=True, env=_ENV, check=False
    )
    if result.returncode != 0:
        _missing_tools(result.stderr.strip() or f"exit code {result.returncode}")
    bin_dir = Path(result.stdout.strip().splitlines()[-1])
    return Tools(
        helm=bin_dir / "helm",
        kubernetes_validate=bin_dir / "kubernetes-validate",
        hadolint=bin_dir / "hadolint",
    )


def run(command: list[str | Path], *, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool with a clean, offline-friendly environment; never raises on a non-zero exit."""
    env = {
        **_ENV,
        "HELM_CACHE_HOME": "/tmp/deskpilot-helm/cache",
        "HELM_CONFIG_HOME": "/tmp/deskpilot-helm/config",
    }
    return subprocess.run(
        [str(part) for part in command],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def helm_template(
    tools: Tools, *values_files: Path, sets: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``helm template`` of the chart with the given values files and ``--set`` overrides."""
    command: list[str | Path] = [tools.helm, "template", RELEASE, CHART, "--namespace", "helpdesk"]
    for values in values_files:
        command += ["-f", values]
    for key, value in (sets or {}).items():
        command += ["--set", f"{key}={value}"]
    return run(command)


def render(tools: Tools, *values_files: Path, sets: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The rendered manifests as dicts (fails the test when the chart does not render)."""
    result = helm_template(tools, *values_files, sets=sets)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session", params=["default", "production"])
def profile(request: pytest.FixtureRequest) -> tuple[Path, ...]:
    """The values files of a profile: chart defaults, or ci/production-values.yaml on top."""
    return () if request.param == "default" else (PRODUCTION_VALUES,)


@pytest.fixture(scope="session")
def manifests(tools: Tools, profile: tuple[Path, ...]) -> list[dict[str, Any]]:
    """The chart rendered for the current profile."""
    return render(tools, *profile)
