"""Settings of the sandbox org: credentials, limits and org flags, read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class SandboxConfig:
    """Everything a test or a demo may want to change about the emulated org."""

    username: str = "integration@crm360.sandbox"
    password: str = "sandbox-password"
    security_token: str = "sandbox-token"
    client_id: str = "crm360-sandbox"
    client_secret: str = "sandbox-secret"
    refresh_token: str = "sandbox-refresh-token"
    org_name: str = "crm360 Sandbox"
    instance_name: str = "CS42"
    is_sandbox: bool = True
    daily_api_limit: int = 100_000
    bulk_batch_limit: int = 15_000
    bulk_query_job_limit: int = 10_000
    bulk_ingest_max_bytes: int = 150 * 1024 * 1024
    query_page_size: int = 2000
    collection_limit: int = 200
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> SandboxConfig:
        """Build a config from the ``SANDBOX_SF_*`` environment variables (unset ones keep defaults)."""
        base = cls()
        return cls(
            username=os.environ.get("SANDBOX_SF_USERNAME", base.username),
            password=os.environ.get("SANDBOX_SF_PASSWORD", base.password),
            security_token=os.environ.get("SANDBOX_SF_TOKEN", base.security_token),
            client_id=os.environ.get("SANDBOX_SF_CLIENT_ID", base.client_id),
            client_secret=os.environ.get("SANDBOX_SF_CLIENT_SECRET", base.client_secret),
            refresh_token=os.environ.get("SANDBOX_SF_REFRESH_TOKEN", base.refresh_token),
            org_name=os.environ.get("SANDBOX_SF_ORG_NAME", base.org_name),
            is_sandbox=_env_bool("SANDBOX_SF_IS_SANDBOX", base.is_sandbox),
            daily_api_limit=_env_int("SANDBOX_SF_DAILY_API_LIMIT", base.daily_api_limit),
            bulk_batch_limit=_env_int("SANDBOX_SF_BULK_BATCH_LIMIT", base.bulk_batch_limit),
            bulk_query_job_limit=_env_int("SANDBOX_SF_BULK_QUERY_JOB_LIMIT", base.bulk_query_job_limit),
            bulk_ingest_max_bytes=_env_int("SANDBOX_SF_BULK_MAX_BYTES", base.bulk_ingest_max_bytes),
        )
