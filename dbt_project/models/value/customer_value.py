"""One row per person with at least one live order: probability they are still a customer, churn
risk, expected purchases in the next 90 days and the probability of at least one, expected order
value and discounted expected lifetime value, from the parameters in customer_value_model_fit
(crm360.value.scoring)."""

from __future__ import annotations

PURCHASE_WINDOW_DAYS = 90  # the columns are expected_purchases_90d and probability_purchase_90d


def model(dbt, session):
    import numpy as np
    import pyarrow as pa

    from crm360.value.bgnbd import BgNbdParams
    from crm360.value.gamma_gamma import GammaGammaParams
    from crm360.value.history import PurchaseHistory
    from crm360.value.scoring import ValueSettings, score

    dbt.config(materialized="table")
    settings = ValueSettings(
        purchase_window_days=PURCHASE_WINDOW_DAYS,
        horizon_days=float(dbt.config.meta_get("horizon_days")),
        annual_discount_rate=float(dbt.config.meta_get("annual_discount_rate")),
    )
    fit_relation = dbt.ref("customer_value_model_fit")
    fitted = fit_relation.fetchall()
    fit = dict(zip(fit_relation.columns, fitted[0], strict=True)) if fitted else {}
    purchases = BgNbdParams(fit["r"], fit["alpha"], fit["a"], fit["b"]) if fit.get("r") is not None else None
    spend = GammaGammaParams(fit["p"], fit["q"], fit["gamma"]) if fit.get("p") is not None else None

    summary = dbt.ref("int_customer_purchase_summary").order("customer_id")
    columns = summary.select("customer_id, frequency, recency_days, tenure_days, monetary_value").fetchnumpy()
    money = np.ma.filled(np.ma.asarray(columns["monetary_value"], dtype=np.float64), np.nan)
    history = PurchaseHistory.from_arrays(
        columns["frequency"].astype(np.float64),
        columns["recency_days"].astype(np.float64),
        columns["tenure_days"].astype(np.float64),
        money,
    )
    scores = score(history, purchases, spend, settings)

    def column(values):
        return pa.array(values, type=pa.float64(), from_pandas=True)  # NaN -> null

    return pa.table({
        "customer_id": pa.array(columns["customer_id"], type=pa.string()),
        "frequency": pa.array(columns["frequency"], type=pa.int64()),
        "recency_days": pa.array(columns["recency_days"], type=pa.int64()),
        "tenure_days": pa.array(columns["tenure_days"], type=pa.int64()),
        "monetary_value": column(money),
        "probability_alive": column(scores["probability_alive"]),
        "churn_risk": column(scores["churn_risk"]),
        "expected_purchases_90d": column(scores["expected_purchases"]),
        "probability_purchase_90d": column(scores["probability_purchase"]),
        "expected_order_value": column(scores["expected_order_value"]),
        "expected_lifetime_value": column(scores["expected_lifetime_value"]),
    })
