"""``.ci/dependency_audit.sh`` turns pip-audit's JSON into clean (0), vulnerable (1) or blocked (2).

pip-audit itself is replaced by a script printing pip-audit's JSON format (``--format json``), so the three
verdicts are checked without a vulnerability database; the real run is ``make audit``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / ".ci" / "dependency_audit.sh"

_FAKE_PIP_AUDIT = """#!/bin/sh
if [ "$1" = "--version" ]; then echo "pip-audit 2.10.1"; exit 0; fi
cat "{payload}"
exit {status}
"""


def _audit(tmp_path: Path, fake_pip_audit: str) -> tuple[int, dict[str, Any]]:
    """Run the script with ``fake_pip_audit`` (a shell script) as pip-audit; its exit code and verdict."""
    tools = tmp_path / "tools"
    bin_dir = tools / "audit-venv" / "bin"
    bin_dir.mkdir(parents=True)
    fake = bin_dir / "pip-audit"
    fake.write_text(fake_pip_audit, encoding="utf-8")
    fake.chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)
    env = dict(os.environ, DESKPILOT_TOOLS_DIR=str(tools), AUDIT_REPORT=str(tmp_path / "report.json"))
    done = subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def _run(
    tmp_path: Path, dependencies: list[dict[str, Any]], pip_audit_status: int
) -> tuple[int, dict[str, Any]]:
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({"dependencies": dependencies, "fixes": []}), encoding="utf-8")
    return _audit(tmp_path, _FAKE_PIP_AUDIT.format(payload=payload, status=pip_audit_status))


def test_no_vulnerabilities_is_clean(tmp_path: Path) -> None:
    deps: list[dict[str, Any]] = [
        {"name": "fastapi", "version": "1.0.0", "vulns": []},
        {"name": "jinja2", "version": "3.1.6", "vulns": []},
    ]
    status, figures = _run(tmp_path, deps, 0)
    assert status == 0
    assert figures == {"pins": 2, "audited": 2, "not_looked_up": 0, "vulnerabilities": [], "status": "clean"}


def test_a_vulnerability_fails_and_is_named(tmp_path: Path) -> None:
    vuln = {"id": "PYSEC-2099-1", "fix_versions": ["3.1.7"], "aliases": [], "description": "x"}
    deps = [{"name": "jinja2", "version": "3.1.6", "vulns": [vuln]}]
    status, figures = _run(tmp_path, deps, 1)
    assert status == 1
    assert figures["status"] == "vulnerable"
    assert figures["vulnerabilities"] == [
        {"package": "jinja2", "version": "3.1.6", "id": "PYSEC-2099-1", "fix_versions": ["3.1.7"]}
    ]


_NOT_LOOKED_UP: dict[str, Any] = {
    "name": "yarl",
    "version": "1.25.1",
    "skip_reason": "Dependency not found on PyPI and could not be audited",
}


@pytest.mark.parametrize("others_audited", [0, 1])
def test_a_pin_not_looked_up_is_blocked_not_clean(tmp_path: Path, others_audited: int) -> None:
    """pip-audit says "No known vulnerabilities found" when the database could not be reached at all."""
    deps = [{"name": "fastapi", "version": "1.0.0", "vulns": []}] * others_audited + [_NOT_LOOKED_UP]
    status, figures = _run(tmp_path, deps, 0)
    assert status == 2
    assert figures["status"] == "blocked"
    assert figures["not_looked_up"] == 1
    assert "could not be audited" in figures["reason"]


def test_unreadable_output_is_blocked(tmp_path: Path) -> None:
    status, figures = _audit(
        tmp_path,
        '#!/bin/sh\n[ "$1" = "--version" ] && { echo "pip-audit 2.10.1"; exit 0; }\n'
        'echo "ConnectionError: Failed to resolve api.osv.dev" >&2\nexit 1\n',
    )
    assert status == 2
    assert figures["status"] == "blocked"
    assert "api.osv.dev" in figures["reason"]
