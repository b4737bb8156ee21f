"""Connecting to Salesforce through Airflow's Salesforce connection (simple-salesforce underneath)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simple_salesforce import Salesforce


def connect(conn_id: str) -> Salesforce:
    """A logged-in simple-salesforce client for the Airflow connection `conn_id`.

    Locally the connection comes from `AIRFLOW_CONN_<ID>`; a self-signed sandbox is trusted through
    `REQUESTS_CA_BUNDLE`.
    """
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    return SalesforceHook(salesforce_conn_id=conn_id).get_conn()


def api_usage(sf: Salesforce) -> tuple[int, int]:
    """(used, max) daily API requests, read from `/limits`."""
    limits = sf.limits()
    daily = limits["DailyApiRequests"]
    return int(daily["Max"]) - int(daily["Remaining"]), int(daily["Max"])
