"""docker-compose.yml is production-shaped and wired correctly (no Docker engine here: parse and check it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = {
    "airflow-apiserver": ["airflow", "api-server"],
    "airflow-scheduler": ["airflow", "scheduler"],
    "airflow-dag-processor": ["airflow", "dag-processor"],
    "airflow-triggerer": ["airflow", "triggerer"],
    "airflow-worker": ["airflow", "celery", "worker"],
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_services_of_a_production_airflow(compose: dict) -> None:
    services = compose["services"]
    assert set(AIRFLOW_SERVICES) | {"postgres", "redis", "airflow-init", "sandbox-salesforce"} <= set(services)
    for name, command in AIRFLOW_SERVICES.items():
        assert services[name]["command"][: len(command)] == command, name


def test_airflow_commands_exist_in_this_airflow(compose: dict) -> None:
    from airflow.cli.cli_parser import get_parser

    parser = get_parser()
    for name in AIRFLOW_SERVICES:
        if name == "airflow-worker":
            continue  # the celery subcommands come from the Celery provider, installed in the image only
        args = compose["services"][name]["command"][1:]
        parser.parse_args(args)  # SystemExit on an unknown command


def test_executor_metadata_db_and_broker_wiring(compose: dict) -> None:
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert "@postgres:5432/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    broker = env["AIRFLOW__CELERY__BROKER_URL"]
    assert broker.startswith("redis://") and "@redis:6379" in broker
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080/")
    for name in AIRFLOW_SERVICES:
        depends = compose["services"][name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
    assert "crm360_warehouse 1" in " ".join(compose["services"]["airflow-init"]["command"])


def test_project_folders_are_mounted(compose: dict) -> None:
    for name in AIRFLOW_SERVICES:
        mounts = {v.split(":")[0]: v.split(":")[1] for v in compose["services"][name]["volumes"]}
        for folder in ("./dags", "./plugins", "./dbt_project", "./expectations"):
            assert folder in mounts, (name, folder)
            assert (REPO / folder).is_dir()
        env = compose["services"][name]["environment"]
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == mounts["./dags"]
        assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == mounts["./plugins"]
        assert env["CRM360_DBT_PROJECT"] == mounts["./dbt_project"]


def test_secrets_come_from_env_file_only(compose: dict) -> None:
    text = (REPO / "docker-compose.yml").read_text()
    example = (REPO / ".env.example").read_text()
    defined = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line and not line.startswith("#")}
    referenced = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    missing = referenced - defined
    assert not missing, f"variables used by docker-compose.yml but missing from .env.example: {missing}"
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|FERNET|TOKEN", key):
                assert str(value).startswith("${"), f"{name}: {key} must come from .env, not be written in the file"
            if "://" in str(value) and "@" in str(value):
                assert "${" in str(value).split("@")[0], f"{name}: {key} has credentials written in the URL"
    for name in AIRFLOW_SERVICES:
        assert compose["services"][name]["env_file"] == ".env"
    ignored = (REPO / ".gitignore").read_text().split()
    assert ".env" in ignored


def test_image_builds_from_the_repos_locks() -> None:
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    for copied in re.findall(r"^COPY (\S+)", dockerfile, flags=re.M):
        assert (REPO / copied.rstrip("/")).exists(), copied
    assert "requirements/lock.txt" in dockerfile and "pip check" in dockerfile
