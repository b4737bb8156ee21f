"""Shared test helpers.

With CI=true (as CI sets it) a test whose service is missing fails instead of skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Airflow state for tests stays inside the repo's ignored folder, never in ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", str(REPO_ROOT / ".airflow" / "pytest"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "dags"))

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, reason: str) -> None:
    """Skip (locally) or fail (in CI) when a needed service or tool is absent."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required for CI but missing: {reason}")
    pytest.skip(reason)
