"""Connecting to Salesforce through Airflow's Salesforce connection (simple-salesforce underneath),
and the retry rules every Salesforce call of crm360 follows (extraction and activation alike)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

log = logging.getLogger(__name__)

T = TypeVar("T")
TRANSIENT_STATUS = {500, 502, 503, 504}


class SalesforceUnavailable(RuntimeError):
    """Salesforce kept failing with transient faults until crm360 gave up."""


def timeout_session(seconds: float | None = None) -> Any:
    """A requests session whose calls time out (simple-salesforce sets no timeout of its own, so a
    stalled Salesforce would hang a task): `CRM360_SF_TIMEOUT_SECONDS`, default 300. A timeout is a
    transient fault, retried like a 503."""
    import os

    import requests

    limit = seconds if seconds is not None else float(os.environ.get("CRM360_SF_TIMEOUT_SECONDS") or 300)

    class TimeoutSession(requests.Session):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = limit
            return super().request(method, url, *args, **kwargs)

    return TimeoutSession()


def connect(conn_id: str) -> Salesforce:
    """A logged-in simple-salesforce client for the Airflow connection `conn_id`, with call timeouts.

    Locally the connection comes from `AIRFLOW_CONN_<ID>`; a self-signed sandbox is trusted through
    `REQUESTS_CA_BUNDLE`.
    """
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    return SalesforceHook(salesforce_conn_id=conn_id, session=timeout_session()).get_conn()


def api_usage(sf: Salesforce) -> tuple[int, int]:
    """(used, max) daily API requests, read from `/limits`."""
    limits = sf.limits()
    daily = limits["DailyApiRequests"]
    return int(daily["Max"]) - int(daily["Remaining"]), int(daily["Max"])


def require_api_budget(used: int, allowed: int, needed: int, share: float, *, what: str, consequence: str,
                       error_type: type[Exception]) -> None:
    """Raise `error_type` when `what` (needing about `needed` calls) would take the org's daily API usage
    beyond `share` of its allocation (`CRM360_SF_API_BUDGET_SHARE`); the message gives both numbers."""
    budget = int(allowed * share)
    if used + needed > budget:
        raise error_type(
            f"{what} needs about {needed} API calls; {used} of {allowed} daily calls are used and crm360 may use "
            f"up to {share:.0%} ({budget}). {consequence} Wait for the allocation to reset or raise "
            "CRM360_SF_API_BUDGET_SHARE.")


def is_transient(exc: BaseException) -> bool:
    """Faults worth another attempt: server errors, dropped connections, expired sessions, failed jobs."""
    from requests import exceptions as rex
    from simple_salesforce import exceptions as sfx

    if isinstance(exc, sfx.SalesforceExpiredSession | rex.ConnectionError | rex.Timeout):
        return True
    if isinstance(exc, sfx.SalesforceGeneralError):
        return getattr(exc, "status", None) in TRANSIENT_STATUS
    return type(exc).__name__ in ("SalesforceBulkV2ExtractError", "SalesforceOperationError")


class SalesforceSession:
    """A client that can be thrown away and re-created (new login) after a session expires."""

    def __init__(self, connect: Callable[[], Salesforce]) -> None:
        self._connect = connect
        self._sf: Salesforce | None = None
        self.logins = 0

    @property
    def sf(self) -> Salesforce:
        if self._sf is None:
            self._sf = self._connect()
            self.logins += 1
        return self._sf

    def reset(self) -> None:
        self._sf = None


def with_retries(session: SalesforceSession, what: str, attempt: Callable[[Salesforce], T], *,
                 attempts: int = 3, wait_seconds: float = 2.0,
                 error_type: type[Exception] = SalesforceUnavailable, consequence: str = "") -> T:
    """Run `attempt(sf)`; on a transient fault log it, back off exponentially and try again; after
    `attempts` raise `error_type` naming `what`, the last error and the `consequence`."""
    from simple_salesforce.exceptions import SalesforceExpiredSession
    from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

    def before_sleep(state: Any) -> None:
        exc = state.outcome.exception()
        if isinstance(exc, SalesforceExpiredSession):
            session.reset()
        log.warning("%s: attempt %d failed (%s: %s); retrying", what, state.attempt_number,
                    type(exc).__name__, str(exc)[:300])

    retrying = Retrying(stop=stop_after_attempt(max(1, attempts)),
                        wait=wait_exponential(multiplier=wait_seconds, max=60),
                        retry=retry_if_exception(is_transient), before_sleep=before_sleep, reraise=False)
    try:
        return retrying(lambda: attempt(session.sf))
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise error_type(f"{what}: gave up after {attempts} attempts; last error {type(last).__name__}: "
                         f"{str(last)[:500]}. {consequence}".rstrip()) from last
