"""One row per run: the BG/NBD and Gamma-Gamma parameters fitted on the purchase histories as of
the run date, their log-likelihoods and whether the fits converged (crm360.value.scoring)."""

from __future__ import annotations

import datetime as dt


def model(dbt, session):
    import numpy as np
    import pyarrow as pa

    from crm360.value.history import PurchaseHistory
    from crm360.value.scoring import ValueSettings, fit_models

    dbt.config(materialized="table")
    max_fit = int(dbt.config.meta_get("max_fit_customers"))
    summary = dbt.ref("int_customer_purchase_summary").order("customer_id")
    columns = summary.select("frequency, recency_days, tenure_days, monetary_value").fetchnumpy()
    history = PurchaseHistory.from_arrays(
        columns["frequency"].astype(np.float64),
        columns["recency_days"].astype(np.float64),
        columns["tenure_days"].astype(np.float64),
        np.ma.filled(np.ma.asarray(columns["monetary_value"], dtype=np.float64), np.nan),
    )
    models = fit_models(history, ValueSettings(max_fit_customers=max_fit))
    purchases = models.purchases
    spend = models.spend

    def value(fit, name):
        return None if fit is None else float(getattr(fit.params, name))

    row = {
        "ds": dt.date.fromisoformat(str(dbt.config.meta_get("ds"))),
        "customers": models.customers,
        "customers_fitted": 0 if purchases is None else purchases.customers,
        "spend_customers_fitted": 0 if spend is None else spend.customers,
        "r": value(purchases, "r"),
        "alpha": value(purchases, "alpha"),
        "a": value(purchases, "a"),
        "b": value(purchases, "b"),
        "p": value(spend, "p"),
        "q": value(spend, "q"),
        "gamma": value(spend, "gamma"),
        "bgnbd_log_likelihood": None if purchases is None else purchases.log_likelihood,
        "gamma_gamma_log_likelihood": None if spend is None else spend.log_likelihood,
        "is_bgnbd_converged": purchases is not None and purchases.converged,
        "is_gamma_gamma_converged": spend is not None and spend.converged,
        "is_converged": models.converged,
        "fit_message": "; ".join(f"{name}: {fit.message}" for name, fit in (("bgnbd", purchases),
                                                                             ("gamma_gamma", spend))
                                 if fit is not None) or "no customers with orders",
    }
    schema = pa.schema([
        ("ds", pa.date32()), ("customers", pa.int64()), ("customers_fitted", pa.int64()),
        ("spend_customers_fitted", pa.int64()),
        *((name, pa.float64()) for name in ("r", "alpha", "a", "b", "p", "q", "gamma", "bgnbd_log_likelihood",
                                            "gamma_gamma_log_likelihood")),
        ("is_bgnbd_converged", pa.bool_()), ("is_gamma_gamma_converged", pa.bool_()), ("is_converged", pa.bool_()),
        ("fit_message", pa.string()),
    ])
    return pa.Table.from_pylist([row], schema=schema)
