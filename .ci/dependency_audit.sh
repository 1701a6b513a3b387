#!/usr/bin/env bash
# Dependency audit: every pin in requirements.lock (runtime and dev) checked by pip-audit against a
# vulnerability database. pip-audit lives in its own virtualenv under .venv/tools (not a Deskpilot dependency).
#
#   bash .ci/dependency_audit.sh                 PyPI's vulnerability data (pypi.org JSON API)
#   OSV_URL=https://osv.internal/v1/query bash .ci/dependency_audit.sh
#                                                an OSV API mirror (air-gapped sites run one)
#
# Exit codes: 0 clean; 1 vulnerabilities found (each must be fixed or explained in README
# "Reliability and security"); 2 blocked: the database could not be reached or a pin could not be
# looked up, so nothing is claimed either way.
set -euo pipefail
cd "$(dirname "$0")/.."

PIP_AUDIT_REQ="pip-audit==2.10.1"
TOOLS_DIR="${DESKPILOT_TOOLS_DIR:-.venv/tools}"
VENV="$TOOLS_DIR/audit-venv"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
REPORT="${AUDIT_REPORT:-var/dependency-audit.json}"

log() { echo "[audit] $*" >&2; }

if ! "$VENV/bin/pip-audit" --version 2>/dev/null | grep -q "${PIP_AUDIT_REQ#pip-audit==}"; then
  log "installing $PIP_AUDIT_REQ into $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q "$PIP_AUDIT_REQ" 2>"$VENV.install.log" || { cat "$VENV.install.log" >&2; exit 2; }
fi

args=(-r requirements.lock --no-deps --disable-pip --progress-spinner off --timeout 30 --format json)
if [ -n "${OSV_URL:-}" ]; then
  args+=(-s osv --osv-url "$OSV_URL")
fi
mkdir -p "$(dirname "$REPORT")"
set +e
"$VENV/bin/pip-audit" "${args[@]}" >"$REPORT" 2>"$REPORT.log"
status=$?
set -e

"$VENV/bin/python" - "$REPORT" "$REPORT.log" "$status" <<'PY'
import json
import sys

report_path, log_path, status = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    with open(report_path, encoding="utf-8") as handle:
        dependencies = json.load(handle)["dependencies"]
except (OSError, ValueError, KeyError):
    with open(log_path, encoding="utf-8", errors="replace") as handle:
        tail = handle.read().strip().splitlines()[-1:] or ["no output"]
    print(json.dumps({"status": "blocked", "reason": tail[0][:300]}))
    sys.exit(2)
skipped = [d for d in dependencies if d.get("skip_reason")]
findings = [
    {"package": d["name"], "version": d["version"], "id": v["id"], "fix_versions": v.get("fix_versions", [])}
    for d in dependencies
    for v in d.get("vulns", [])
]
audited = len(dependencies) - len(skipped)
figures = {"pins": len(dependencies), "audited": audited, "not_looked_up": len(skipped), "vulnerabilities": findings}
if skipped:
    figures["status"] = "blocked"
    figures["reason"] = skipped[0]["skip_reason"][:300]
    print(json.dumps(figures))
    sys.exit(2)
figures["status"] = "vulnerable" if findings else "clean"
print(json.dumps(figures))
sys.exit(1 if findings else 0)
PY
