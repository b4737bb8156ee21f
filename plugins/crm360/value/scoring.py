"""Fit both value models on a shop's customers and score every customer: what the dbt models call.

Times are in days. Fitting uses at most ``max_fit_customers`` customers (a deterministic sample);
scoring is vectorised over all of them. When the data cannot support a model (no customers, or
fewer than two with repeat purchases), its parameters are None and the columns
that depend on it are NaN (null in the warehouse) rather than made up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from crm360.value import bgnbd, gamma_gamma, lifetime
from crm360.value.history import PurchaseHistory

log = logging.getLogger(__name__)

DAYS_PER_YEAR = 365.0


@dataclass(frozen=True)
class ValueSettings:
    """What a run predicts: the purchase window, the lifetime horizon and its discount, the fit cap."""

    purchase_window_days: float = 90.0
    horizon_days: float = 365.0
    annual_discount_rate: float = 0.10
    max_fit_customers: int | None = 500_000
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.purchase_window_days > 0:
            raise ValueError(f"purchase_window_days: must be > 0, got {self.purchase_window_days}")
        if not self.horizon_days > 0:
            raise ValueError(f"horizon_days: must be > 0, got {self.horizon_days}")
        if not self.annual_discount_rate >= 0:
            raise ValueError(f"annual_discount_rate: must be >= 0, got {self.annual_discount_rate}")
        if self.max_fit_customers is not None and self.max_fit_customers < 10:
            raise ValueError(f"max_fit_customers: must be at least 10 (or None for no cap), got "
                             f"{self.max_fit_customers}")


@dataclass(frozen=True)
class ValueModels:
    customers: int
    purchases: bgnbd.BgNbdFit | None
    spend: gamma_gamma.GammaGammaFit | None

    @property
    def converged(self) -> bool:
        return bool(self.purchases and self.purchases.converged and self.spend and self.spend.converged)


def fit_models(history: PurchaseHistory, settings: ValueSettings) -> ValueModels:
    """BG/NBD and Gamma-Gamma maximum-likelihood fits; a model the data cannot support is None."""
    purchases = None
    # with (almost) nobody buying twice the BG/NBD likelihood has no interior optimum (r -> 0,
    # alpha -> infinity): no fit rather than degenerate parameters and scores
    repeaters = int(np.count_nonzero(history.frequency > 0))
    if repeaters >= 2:
        purchases = bgnbd.fit(history, max_customers=settings.max_fit_customers, seed=settings.seed)
    elif len(history):
        log.warning("BG/NBD not fitted: %d customer(s) with repeat purchases (2 needed)", repeaters)
    spend = None
    repeat_buyers = int(np.count_nonzero((history.frequency > 0) & (np.nan_to_num(
        history.monetary_value, nan=0.0) > 0))) if history.monetary_value is not None else 0
    if repeat_buyers >= 2:
        spend = gamma_gamma.fit(history, max_customers=settings.max_fit_customers, seed=settings.seed)
    else:
        log.warning("Gamma-Gamma not fitted: %d customer(s) with repeat purchases and spend > 0", repeat_buyers)
    return ValueModels(len(history), purchases, spend)


def score(history: PurchaseHistory, purchases: bgnbd.BgNbdParams | None,
          spend: gamma_gamma.GammaGammaParams | None, settings: ValueSettings) -> dict[str, NDArray[np.float64]]:
    """Per customer: probability_alive, churn_risk, expected_purchases and probability_purchase (in the
    purchase window), expected_order_value, expected_lifetime_value; NaN where a model is missing.

    churn_risk is the probability of no purchase in the window (1 - probability_purchase): what a
    marketer means by "at risk", and unlike 1 - P(alive) it ranks customers without a repeat
    purchase too (BG/NBD puts their P(alive) at exactly 1: a customer can only leave after a purchase).
    """
    n = len(history)
    missing = np.full(n, np.nan)
    out: dict[str, NDArray[np.float64]] = {}
    if purchases is None:
        out["probability_alive"] = missing
        out["churn_risk"] = missing
        out["expected_purchases"] = missing
        out["probability_purchase"] = missing
    else:
        alive = bgnbd.probability_alive(purchases, history)
        out["probability_alive"] = alive
        out["expected_purchases"] = bgnbd.expected_purchases(purchases, history, settings.purchase_window_days)
        out["probability_purchase"] = bgnbd.probability_purchase(purchases, history, settings.purchase_window_days)
        out["churn_risk"] = 1.0 - out["probability_purchase"]
    if spend is None or spend.q <= 1:
        if spend is not None:
            log.warning("Gamma-Gamma q=%.3f <= 1: the population mean spend is infinite; no order value", spend.q)
        out["expected_order_value"] = missing
        out["expected_lifetime_value"] = missing
        return out
    out["expected_order_value"] = gamma_gamma.expected_order_value(spend, history)
    if purchases is None:
        out["expected_lifetime_value"] = missing
    else:
        out["expected_lifetime_value"] = lifetime.expected_lifetime_value(
            purchases, spend, history, horizon=settings.horizon_days, discount_rate=settings.annual_discount_rate,
            discount_period=DAYS_PER_YEAR)
    return out
