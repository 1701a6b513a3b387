"""The Helm chart: lint, Kubernetes schemas, and what the code needs from it (queues, probes, settings)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from services.cli import app as cli_app
from services.common.config import Settings
from services.worker.probes import ProbeKind, probe_files, touch
from services.worker.queues import LONGEST_TASK_S, Queue
from tests.deploy.conftest import (
    CHART,
    PRODUCTION_VALUES,
    REPO,
    Tools,
    helm_template,
    render,
    run,
)

KUBERNETES_VERSIONS = ["1.29.0", "1.35.0"]
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job"}


def _kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] == kind]


def _named(manifests: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    [found] = [m for m in _kind(manifests, kind) if m["metadata"]["name"].endswith(suffix)]
    return found


def _workers(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in _kind(manifests, "Deployment") if "-worker-" in m["metadata"]["name"]]


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    [container] = workload["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _arg(container: dict[str, Any], flag: str) -> str:
    [value] = [a.split("=", 1)[1] for a in container["args"] if a.startswith(f"{flag}=")]
    return str(value)


def _config(manifests: list[dict[str, Any]]) -> dict[str, str]:
    return dict(_named(manifests, "ConfigMap", "deskpilot")["data"])


# --- lint and Kubernetes schemas -------------------------------------------------------------------


@pytest.mark.parametrize("values", [(), (PRODUCTION_VALUES,)], ids=["default", "production"])
def test_helm_lint_strict_is_clean(tools: Tools, values: tuple[Path, ...]) -> None:
    command: list[str | Path] = [tools.helm, "lint", "--strict", CHART]
    for file in values:
        command += ["-f", file]
    result = run(command)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout


@pytest.mark.parametrize("kube_version", KUBERNETES_VERSIONS)
def test_rendered_manifests_pass_kubernetes_validate_strict(
    tools: Tools, profile: tuple[Path, ...], kube_version: str
) -> None:
    rendered = helm_template(tools, *profile)
    assert rendered.returncode == 0, rendered.stderr
    result = run([tools.kubernetes_validate, "--strict", "-k", kube_version, "-"], stdin=rendered.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed for resource deployment/rel-deskpilot-beat" in result.stdout
    # Only the Prometheus Operator's CRDs have no bundled schema (checked by hand below).
    unknown = [line for line in result.stdout.splitlines() if "Couldn't find schema" in line]
    assert all("ServiceMonitor" in line or "PodMonitor" in line for line in unknown), unknown


@pytest.mark.parametrize(
    ("field", "error"),
    [("replicas: three", "'three' is not of type 'integer'"), ("minReadySeconds: 1", "")],
)
def test_kubernetes_validate_rejects_a_broken_manifest(tools: Tools, field: str, error: str) -> None:
    """The validation step is real: a wrong type and an unknown (typo'd) field both fail."""
    typo = "imagePullPolicy" if error else "imagePullPolicyy"
    broken = (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: x}}\nspec:\n  {field}\n"
        "  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n"
        f"    spec:\n      containers: [{{name: c, image: i, {typo}: Always}}]\n"
    )
    result = run([tools.kubernetes_validate, "--strict", "-k", "1.35.0", "-"], stdin=broken)
    assert result.returncode != 0
    assert (error or "imagePullPolicyy") in result.stdout + result.stderr


# --- every process: probes, security, resources ----------------------------------------------------


def test_every_workload_runs_non_root_read_only_with_resources(manifests: list[dict[str, Any]]) -> None:
    workloads = [m for m in manifests if m["kind"] in WORKLOAD_KINDS]
    assert len(workloads) >= 5
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        name = workload["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts, name


def test_every_long_running_process_has_liveness_and_readiness_probes(
    manifests: list[dict[str, Any]],
) -> None:
    for workload in _kind(manifests, "Deployment") + _kind(manifests, "StatefulSet"):
        container = _container(workload)
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert probe in container, f"{workload['metadata']['name']} has no {probe}"


def test_deskpilot_pods_get_writable_data_dir_matching_the_config(manifests: list[dict[str, Any]]) -> None:
    data_dir = _config(manifests)["DESKPILOT_DATA_DIR"]
    for workload in _kind(manifests, "Deployment"):
        mounts = {m["mountPath"] for m in _container(workload)["volumeMounts"]}
        assert data_dir in mounts, workload["metadata"]["name"]


def test_exec_probes_are_commands_the_cli_accepts(
    manifests: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run each rendered exec probe through the real CLI: fresh heartbeats pass, missing ones fail."""
    monkeypatch.setenv("DESKPILOT_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    commands = []
    for workload in _kind(manifests, "Deployment"):
        container = _container(workload)
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if "exec" in container[probe]:
                commands.append(container[probe]["exec"]["command"])
    assert {c[2] for c in commands} >= {"worker", "beat"}
    for command in commands:
        assert command[:2] == ["deskpilot", "probe"], command
        kind = ProbeKind(command[2])
        files = probe_files(tmp_path, kind)
        files.clear()
        assert runner.invoke(cli_app, command[1:]).exit_code == 1, command
        touch(files.alive)
        touch(files.ready)
        result = runner.invoke(cli_app, command[1:])
        assert result.exit_code == 0, (command, result.output)


# --- Celery: queues, beat ------------------------------------------------------------------------------


def test_workers_consume_exactly_the_queues_of_the_code(manifests: list[dict[str, Any]]) -> None:
    consumed: list[str] = []
    for worker in _workers(manifests):
        container = _container(worker)
        assert container["args"][0] == "worker"
        consumed += _arg(container, "--queues").split(",")
    assert set(consumed) == {q.value for q in Queue}, "every queue needs a worker, and no unknown queue"


def test_a_worker_values_entry_with_an_unknown_queue_is_caught(tools: Tools) -> None:
    manifests = render(tools, sets={"workers.periodic.queues[0]": "deskpilot.periodical"})
    consumed = {q for w in _workers(manifests) for q in _arg(_container(w), "--queues").split(",")}
    assert consumed != {q.value for q in Queue}


def test_workers_get_time_to_finish_the_longest_task(manifests: list[dict[str, Any]]) -> None:
    for worker in _workers(manifests):
        assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > LONGEST_TASK_S


def test_beat_runs_exactly_once_and_is_recreated(manifests: list[dict[str, Any]]) -> None:
    beat = _named(manifests, "Deployment", "-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert _container(beat)["args"] == ["beat"]
    targets = {h["spec"]["scaleTargetRef"]["name"] for h in _kind(manifests, "HorizontalPodAutoscaler")}
    assert beat["metadata"]["name"] not in targets


def test_autoscaled_deployments_leave_replicas_to_the_hpa(manifests: list[dict[str, Any]]) -> None:
    hpas = _kind(manifests, "HorizontalPodAutoscaler")
    assert any("-worker-" in h["metadata"]["name"] for h in hpas)
    deployments = {d["metadata"]["name"]: d for d in _kind(manifests, "Deployment")}
    for hpa in hpas:
        target = deployments[hpa["spec"]["scaleTargetRef"]["name"]]
        assert "replicas" not in target["spec"]
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


# --- migrations, config, secrets ---------------------------------------------------------------------


def test_migrations_run_as_a_pre_install_pre_upgrade_hook(manifests: list[dict[str, Any]]) -> None:
    job = _named(manifests, "Job", "-migrate")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    container = _container(job)
    assert container["args"] == ["db", "upgrade"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    # The release's ConfigMap does not exist yet when the hook runs: no reference to it.
    refs = [ref for ref in container.get("envFrom", []) if "configMapRef" in ref]
    assert refs == []
    env = {e["name"] for e in container["env"]}
    assert {"DESKPILOT_DATABASE__URL", "DESKPILOT_ENVIRONMENT"} <= env


def test_a_chart_managed_secret_exists_before_the_migration_hook(tools: Tools) -> None:
    manifests = render(
        tools,
        sets={
            "secrets.create": "true",
            "secrets.existingSecret": "",
            "postgresql.url": "postgresql+psycopg://u:p@db:5432/deskpilot",
            "redis.url": "redis://redis:6379/0",
            "secrets.env.DESKPILOT_WEB__SECRET_KEY": "x" * 40,
        },
    )
    secret = _named(manifests, "Secret", "deskpilot")
    job = _named(manifests, "Job", "-migrate")
    assert "pre-install" in secret["metadata"]["annotations"]["helm.sh/hook"]
    weight = int(secret["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert weight < int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert {"DESKPILOT_DATABASE__URL", "DESKPILOT_REDIS__URL", "DESKPILOT_WEB__SECRET_KEY"} <= set(
        secret["data"]
    )


def _settings_field(path: list[str]) -> bool:
    model: Any = Settings
    for part in path:
        fields = model.model_fields
        if part not in fields:
            return False
        model = fields[part].annotation
    return True


def test_every_configmap_key_is_a_real_setting(manifests: list[dict[str, Any]]) -> None:
    """pydantic-settings ignores unknown variables: a typo would be silently dropped."""
    for key in _config(manifests):
        path = key.removeprefix("DESKPILOT_").lower().split("__")
        assert _settings_field(path), f"{key} is not a Settings field"


def test_the_rendered_config_is_accepted_by_production_settings(
    manifests: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in _config(manifests).items():
        monkeypatch.setenv(key, value)
    # What the Secrets provide.
    monkeypatch.setenv("DESKPILOT_DATABASE__URL", "postgresql+psycopg://deskpilot:pw@db:5432/deskpilot")
    monkeypatch.setenv("DESKPILOT_REDIS__URL", "redis://redis:6379/0")
    monkeypatch.setenv("DESKPILOT_WEB__SECRET_KEY", "s" * 48)
    monkeypatch.setenv("DESKPILOT_WEB__OIDC__CLIENT_SECRET", "oidc-secret")
    settings = Settings(_env_file=None)
    assert settings.environment == "production"
    assert settings.celery.eager(settings.redis) is False
    assert settings.chroma.host and settings.chroma.host.startswith("rel-deskpilot-chroma")
    assert str(settings.data_dir) == "/app/var"


def test_checksum_annotations_follow_the_config(tools: Tools) -> None:
    def checksums(**sets: str) -> set[str]:
        manifests = render(tools, sets=sets)
        return {
            d["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            for d in _kind(manifests, "Deployment")
        }

    base = checksums()
    assert len(base) == 1, "every process rolls together"
    assert checksums(**{"deskpilot.logLevel": "DEBUG"}) != base
    assert checksums(**{"deskpilot.env.DESKPILOT_LLM__MODEL": "other"}) != base
    assert checksums(**{"web.replicas": "5"}) == base


# --- wiring: selectors, services, images -------------------------------------------------------------


def test_selectors_match_their_pods(manifests: list[dict[str, Any]]) -> None:
    pods = {
        w["metadata"]["name"]: w["spec"]["template"]["metadata"]["labels"]
        for w in manifests
        if w["kind"] in {"Deployment", "StatefulSet"}
    }
    for workload in manifests:
        if workload["kind"] in {"Deployment", "StatefulSet"}:
            selector = workload["spec"]["selector"]["matchLabels"]
            assert selector.items() <= pods[workload["metadata"]["name"]].items()
    for pdb in _kind(manifests, "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert any(selector.items() <= labels.items() for labels in pods.values()), pdb["metadata"]["name"]
    for service in _kind(manifests, "Service"):
        selector = service["spec"]["selector"]
        matches = [name for name, labels in pods.items() if selector.items() <= labels.items()]
        assert len(matches) == 1, (service["metadata"]["name"], matches)


def test_web_is_served_and_scraped_on_its_http_port(manifests: list[dict[str, Any]]) -> None:
    web = _named(manifests, "Deployment", "-web")
    container = _container(web)
    assert container["args"][0] == "serve"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == int(_config(manifests)["DESKPILOT_WEB__PORT"])
    service = _named(manifests, "Service", "-web")
    for monitor in _kind(manifests, "ServiceMonitor"):
        assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        [endpoint] = monitor["spec"]["endpoints"]
        assert endpoint["port"] == service["spec"]["ports"][0]["name"] and endpoint["path"] == "/metrics"
    for pod_monitor in _kind(manifests, "PodMonitor"):
        selected = pod_monitor["spec"]["selector"]["matchLabels"]
        scraped = [
            w
            for w in manifests
            if w["kind"] in ("Deployment", "StatefulSet")
            and selected.items() <= w["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert {w["metadata"]["name"].split("deskpilot-")[-1] for w in scraped} >= {"beat"}
        assert any("worker" in w["metadata"]["name"] for w in scraped)
        [endpoint] = pod_monitor["spec"]["podMetricsEndpoints"]
        for workload in scraped:
            container = _container(workload)
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            assert endpoint["port"] in ports and env["DESKPILOT_METRICS__PORT"] == str(ports["metrics"])
            if "worker" in workload["metadata"]["name"]:
                mounts = {m["mountPath"] for m in container["volumeMounts"]}
                assert env["PROMETHEUS_MULTIPROC_DIR"] in mounts  # an emptyDir: exists and is writable
    for ingress in _kind(manifests, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["name"] == service["metadata"]["name"]


def test_every_deskpilot_pod_runs_the_same_image(manifests: list[dict[str, Any]]) -> None:
    images = {
        _container(w)["image"]
        for w in manifests
        if w["kind"] in WORKLOAD_KINDS and "-chroma" not in w["metadata"]["name"]
    }
    assert len(images) == 1


def test_production_profile_pins_the_image_and_restricts_traffic(tools: Tools) -> None:
    manifests = render(tools, PRODUCTION_VALUES)
    [image] = {_container(w)["image"] for w in _kind(manifests, "Deployment")}
    assert re.fullmatch(r".+@sha256:[0-9a-f]{64}", image)
    policies = {p["metadata"]["name"] for p in _kind(manifests, "NetworkPolicy")}
    assert {
        "rel-deskpilot-web",
        "rel-deskpilot-no-ingress",
        "rel-deskpilot-chroma",
        "rel-deskpilot-egress",
    } <= policies
    assert _named(manifests, "Deployment", "-slack")["spec"]["replicas"] == 2
    assert _config(manifests)["DESKPILOT_ROUTER__MODEL_DIR"].startswith("/app/shared")


def test_only_the_pods_that_search_or_index_reach_chroma(tools: Tools) -> None:
    """Chroma 1.x has no authentication (and 1.5.9 an unfixed pre-auth advisory): the policy is the fence."""
    manifests = render(tools, PRODUCTION_VALUES)
    policy = _named(manifests, "NetworkPolicy", "-chroma")
    [rule] = policy["spec"]["ingress"]
    [peer] = rule["from"]
    [expression] = peer["podSelector"]["matchExpressions"]
    assert expression["key"] == "app.kubernetes.io/component" and expression["operator"] == "In"
    pods = {
        w["metadata"]["name"]: w["spec"]["template"]["metadata"]["labels"]
        for w in manifests
        if w["kind"] in WORKLOAD_KINDS and "-chroma" not in w["metadata"]["name"]
    }
    admitted = {
        name for name, labels in pods.items() if labels["app.kubernetes.io/component"] in expression["values"]
    }
    assert {name for name in pods if "-worker-" in name} <= admitted
    assert any(name.endswith("-web") for name in admitted) and any(
        name.endswith("-slack") for name in admitted
    )
    assert not any(name.endswith(("-beat", "-migrate")) for name in admitted), admitted


def test_chroma_server_matches_the_client_version() -> None:
    import yaml

    lock = (REPO / "requirements.lock").read_text(encoding="utf-8")
    [client] = re.findall(r"^chromadb==(\S+)$", lock, flags=re.MULTILINE)
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert values["chroma"]["image"]["tag"] == client


# --- values.schema.json ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        ({"web.replicas": "three"}, "/web/replicas"),
        ({"replicaCount": "3"}, "replicaCount"),
        ({"beat.replicas": "2"}, "replicas"),
        ({"workers.automations.queues": "null"}, "queues"),
        ({"workers.automations.concurrency": "0"}, "concurrency"),
        ({"deskpilot.env.LLM_MODEL": "x"}, "LLM_MODEL"),
        ({"deskpilot.environment": "staging"}, "environment"),
        ({"securityContext.readOnlyRootFilesystem": "false"}, "readOnlyRootFilesystem"),
        ({"podSecurityContext.runAsNonRoot": "false"}, "runAsNonRoot"),
        ({"image.digest": "latest"}, "digest"),
    ],
)
def test_values_schema_rejects_bad_values(tools: Tools, sets: dict[str, str], message: str) -> None:
    result = helm_template(tools, sets=sets)
    assert result.returncode != 0, f"{sets} was accepted"
    assert message in result.stderr, result.stderr


def test_template_guards_reject_an_unusable_configuration(tools: Tools) -> None:
    no_secrets = helm_template(tools, sets={"secrets.existingSecret": ""})
    assert no_secrets.returncode != 0 and "secrets.existingSecret" in no_secrets.stderr
    inline_url = helm_template(tools, sets={"postgresql.url": "postgresql://u:p@db/x"})
    assert inline_url.returncode != 0 and "secrets.create=true" in inline_url.stderr
    no_chroma = helm_template(tools, sets={"chroma.enabled": "false"})
    assert no_chroma.returncode != 0 and "chroma.external.host" in no_chroma.stderr
    open_chroma = helm_template(tools, sets={"networkPolicy.enabled": "false"})
    assert open_chroma.returncode != 0 and "chroma.allowWithoutNetworkPolicy" in open_chroma.stderr
    acknowledged = {"networkPolicy.enabled": "false", "chroma.allowWithoutNetworkPolicy": "true"}
    assert helm_template(tools, sets=acknowledged).returncode == 0
