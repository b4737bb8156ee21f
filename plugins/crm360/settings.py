"""Paths and knobs, read from the environment with sensible defaults.

Secrets never live here: Salesforce credentials come from the Airflow connection
(`salesforce_default`, or `CRM360_SALESFORCE_CONN_ID`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Salesforce objects extracted every night, in dependency order.
DEFAULT_SF_OBJECTS = ("User", "Account", "Contact", "Lead", "Campaign", "CampaignMember", "Opportunity",
                      "Task")


def _path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def _location(name: str, default: Path) -> Path:
    """A local path, or an object-store URI (s3://, gs://, memory://...) as a universal_pathlib UPath."""
    value = os.environ.get(name)
    if value and "://" in value and not value.startswith("file://"):
        from upath import UPath

        return UPath(value)
    return _path(name, default) if not (value or "").startswith("file://") else Path(value[7:]).resolve()


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    try:
        return float(raw) if raw not in (None, "") else default
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={raw!r} is not a number") from exc


@dataclass(frozen=True)
class Settings:
    """Where crm360 reads and writes, and how it behaves. Build with `Settings.from_env()`."""

    home: Path
    warehouse_path: Path
    landing_root: Path
    inbox_root: Path
    reports_root: Path
    dbt_project_dir: Path
    expectations_dir: Path
    salesforce_conn_id: str = "salesforce_default"
    sf_objects: tuple[str, ...] = DEFAULT_SF_OBJECTS
    sf_overlap_minutes: float = 15.0
    sf_api_budget_share: float = 0.5
    push_max_change_share: float = 0.5
    bulk_wait_seconds: float = 5.0
    gx_runtime_dir: Path | None = None
    identity_max_cluster: int = 200
    sf_bulk_threshold: int = 10_000
    sf_retries: int = 3
    sf_retry_wait_seconds: float = 2.0
    push_bulk_threshold: int = 2_000
    push_verify_max_mismatch_share: float = 0.01
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        home = _path("CRM360_HOME", REPO_ROOT)
        objects = os.environ.get("CRM360_SF_OBJECTS")
        return cls(
            home=home,
            warehouse_path=_path("CRM360_WAREHOUSE", home / "warehouse" / "crm360.duckdb"),
            landing_root=_path("CRM360_LANDING", home / "data" / "landing"),
            inbox_root=_location("CRM360_INBOX", home / "data" / "inbox"),
            reports_root=_path("CRM360_REPORTS", home / "reports"),
            # GX results and data docs hold sample failing values (personal data): they live with the
            # data (next to the landing zone), not with the reports.
            gx_runtime_dir=_path("CRM360_GX_RUNTIME", _path("CRM360_LANDING", home / "data" / "landing").parent / "gx"),
            dbt_project_dir=_path("CRM360_DBT_PROJECT", REPO_ROOT / "dbt_project"),
            expectations_dir=_path("CRM360_EXPECTATIONS", REPO_ROOT / "expectations"),
            salesforce_conn_id=os.environ.get("CRM360_SALESFORCE_CONN_ID", "salesforce_default"),
            sf_objects=tuple(o.strip() for o in objects.split(",") if o.strip()) if objects else DEFAULT_SF_OBJECTS,
            sf_overlap_minutes=_float("CRM360_SF_OVERLAP_MINUTES", 15.0),
            sf_api_budget_share=_float("CRM360_SF_API_BUDGET_SHARE", 0.5),
            push_max_change_share=_float("CRM360_PUSH_MAX_CHANGE_SHARE", 0.5),
            bulk_wait_seconds=_float("CRM360_BULK_WAIT_SECONDS", 5.0),
            sf_bulk_threshold=int(_float("CRM360_SF_BULK_THRESHOLD", 10_000)),
            identity_max_cluster=int(_float("CRM360_IDENTITY_MAX_CLUSTER", 200)),
            sf_retries=int(_float("CRM360_SF_RETRIES", 3)),
            sf_retry_wait_seconds=_float("CRM360_SF_RETRY_WAIT_SECONDS", 2.0),
            push_bulk_threshold=int(_float("CRM360_PUSH_BULK_THRESHOLD", 2_000)),
            push_verify_max_mismatch_share=_float("CRM360_PUSH_VERIFY_MAX_MISMATCH_SHARE", 0.01),
        )
