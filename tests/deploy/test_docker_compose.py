"""docker-compose.yaml checked by a real Compose parser (no Docker engine here), after the YAML
loading and variable interpolation `docker compose config` does, plus what the spec cannot know:
the topology's services, dependencies that exist, files and build contexts that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
COMPOSE = PROJECT_ROOT / "docker-compose.yaml"
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}; $$ is a literal $
VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
REQUIRED_SERVICES = {
    "postgres",
    "redis",
    "localaws",
    "mlflow",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}


class MissingVariable(ValueError):
    pass


def interpolate(value, env: dict[str, str]):
    """Compose's interpolation, applied to every string of the loaded file."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        present = name in env and (env[name] != "" or op in (None, "-", "?"))
        if op in (":?", "?") and not present:
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and not present:
            return arg
        return env.get(name, "")

    return VARIABLE.sub(substitute, value)


def load(env: dict[str, str]) -> dict:
    loaded = yaml.safe_load(COMPOSE.read_text())  # resolves anchors and << merges, as compose does
    return interpolate({k: v for k, v in loaded.items() if not k.startswith("x-")}, env)


ENV = {"POSTGRES_PASSWORD": "pw", "AIRFLOW_FERNET_KEY": "k" * 44, "AIRFLOW_JWT_SECRET": "s"}


@pytest.fixture(scope="module")
def config() -> dict:
    return load(ENV)


def test_the_compose_spec_parser_accepts_the_file(config):
    from compose_spec import PyCompose

    parsed = PyCompose.from_json(json.dumps(config))
    assert set(parsed.service_names()) >= REQUIRED_SERVICES


def test_the_parser_rejects_what_compose_would(config):
    from compose_spec import PyCompose

    for breaking in (
        lambda c: c["services"]["airflow-scheduler"].__setitem__("restart", "sometimes"),
        lambda c: c["services"]["airflow-worker"].__setitem__("user", "${NOT_INTERPOLATED}:0"),
        lambda c: c["services"]["redis"].__setitem__("ports", [{"target": "not-a-port"}]),
    ):
        broken = json.loads(json.dumps(config))
        breaking(broken)
        with pytest.raises(ValueError):
            PyCompose.from_json(json.dumps(broken))


def test_secrets_must_come_from_the_environment():
    with pytest.raises(MissingVariable, match="POSTGRES_PASSWORD"):
        load({"AIRFLOW_FERNET_KEY": "k", "AIRFLOW_JWT_SECRET": "s"})
    assert "pw" not in COMPOSE.read_text()


def test_dependencies_files_and_build_contexts_exist(config):
    services = config["services"]
    for name, service in services.items():
        depends = service.get("depends_on", {})
        for target in depends if isinstance(depends, list) else depends.keys():
            assert target in services, f"{name} depends on unknown service {target}"
        for env_file in service.get("env_file", []):
            path = env_file if isinstance(env_file, str) else env_file["path"]
            required = True if isinstance(env_file, str) else env_file.get("required", True)
            assert not required or (PROJECT_ROOT / path).is_file(), f"{name}: env_file {path} is missing"
        build = service.get("build")
        if build:
            context = PROJECT_ROOT / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = context / (build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile")
            assert dockerfile.is_file(), f"{name}: {dockerfile} is missing"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith("./"):
                assert (PROJECT_ROOT / source).exists(), f"{name}: mounted {source} is missing"
    scheduler = services["airflow-scheduler"]
    assert scheduler["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    local_env = (PROJECT_ROOT / "docker" / "local.env").read_text()
    assert "AIRFLOW_CONN_AWS_DEFAULT=" in local_env and "endpoint_url" in local_env
    assert "AIRFLOW_CONN_MLFLOW_DEFAULT=" in local_env
    for mounted in ("dags", "plugins", "include"):
        assert any(f"./{mounted}:" in v for v in scheduler["volumes"] if isinstance(v, str)), mounted


def test_the_job_images_install_what_their_code_needs_from_the_lock_file():
    """The Dockerfiles pick their pins out of requirements.txt: every name they grep must be there."""
    import re as regex

    from include.training.package import JOB_REQUIREMENTS

    lock = (PROJECT_ROOT / "requirements.txt").read_text()
    for dockerfile in ("include/preprocessing/Dockerfile", "include/training/Dockerfile"):
        names = regex.search(r"grep -E '\^\(([^)]+)\)==", (PROJECT_ROOT / dockerfile).read_text()).group(1).split("|")
        for name in names:
            assert regex.search(rf"^{regex.escape(name)}==", lock, regex.MULTILINE), f"{dockerfile}: {name} not locked"
    training = (PROJECT_ROOT / "include/training/Dockerfile").read_text()
    assert all(name in training for name in JOB_REQUIREMENTS)
