"""docker-compose.yml cannot run here (no Docker engine), so its structure is checked instead."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_airflow3_services_on_postgres_with_mail_catcher() -> None:
    services = _compose()["services"]
    for name, command in {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
    }.items():
        assert services[name]["command"] == command
        assert services[name]["image"].startswith("scansense-airflow:3.")
        env = services[name]["environment"]
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
        assert env["AIRFLOW__CORE__EXECUTOR"].endswith("LocalExecutor}")
        assert "./dags:/opt/scansense/dags:ro" in services[name]["volumes"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert "healthcheck" in services["postgres"]
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    assert "scansense_warehouse 1" in services["airflow-init"]["command"]


def test_celery_profile_scales_workers() -> None:
    services = _compose()["services"]
    worker = services["airflow-worker"]
    assert worker["profiles"] == ["celery"] and services["redis"]["profiles"] == ["celery"]
    assert worker["command"] == "celery worker"
    assert "container_name" not in worker, "a fixed container name prevents --scale"
    assert worker["environment"]["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")


def test_volumes_declared_and_images_pinned() -> None:
    compose = _compose()
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        assert ":" in service["image"] and not service["image"].endswith(":latest"), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} uses undeclared volume {source}"


def test_dockerfile_uses_the_lock_and_the_same_airflow_version() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    lock = (ROOT / "requirements.lock").read_text()
    version = next(line.split("==")[1] for line in lock.splitlines() if line.startswith("apache-airflow=="))
    assert f"apache/airflow:{version}-python3.11" in dockerfile
    assert "requirements.lock" in dockerfile
    assert f"scansense-airflow:{version}" == _compose()["services"]["airflow-scheduler"]["image"]
