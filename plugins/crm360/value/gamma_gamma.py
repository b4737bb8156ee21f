"""Gamma-Gamma spend model (Fader, Hardie and Lee 2005; Fader and Hardie, "The Gamma-Gamma model
of monetary value", 2013): how much a customer spends per purchase.

Each transaction value is Gamma(p, nu) around the customer's own mean p/nu, and nu ~ Gamma(q, gamma)
across customers. It is fitted on the customers with repeat purchases, from the number (x) and the
mean value (m) of their repeat purchases; a customer's expected order value then shrinks their own
mean towards the population mean p*gamma/(q-1), the less so the more purchases they made. The model
assumes spend is independent of purchase frequency (check it on your data before trusting value
predictions for the heaviest buyers).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import digamma, gammaln

from crm360.value.fitting import maximise
from crm360.value.history import PurchaseHistory, sample_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float

    def __post_init__(self) -> None:
        for name in ("p", "q", "gamma"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"Gamma-Gamma parameter {name}: must be a positive number, got {value}")

    @property
    def population_mean(self) -> float:
        """Mean spend per purchase across customers, p*gamma/(q-1); infinite when q <= 1."""
        return self.p * self.gamma / (self.q - 1.0) if self.q > 1 else float("inf")


@dataclass(frozen=True)
class GammaGammaFit:
    params: GammaGammaParams
    log_likelihood: float  # summed over the fitted customers
    customers: int
    converged: bool
    message: str


def _repeat_buyers(history: PurchaseHistory) -> tuple[NDArray, NDArray]:
    if history.monetary_value is None:
        raise ValueError("monetary_value: needed for the Gamma-Gamma model (mean value of the repeat purchases)")
    usable = (history.frequency > 0) & (history.monetary_value > 0)
    return history.frequency[usable], history.monetary_value[usable]


def _log_likelihood(p: float, q: float, gamma: float, x: NDArray, m: NDArray) -> NDArray[np.float64]:
    """log f(m | x): the density of a mean of x Gamma(p, nu) spends, nu ~ Gamma(q, gamma)."""
    px = p * x
    return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(gamma) + (px - 1) * np.log(m)
            + px * np.log(x) - (px + q) * np.log(gamma + m * x))


def log_likelihood(params: GammaGammaParams, history: PurchaseHistory) -> NDArray[np.float64]:
    """Log-likelihood of each customer with repeat purchases and a positive mean spend."""
    x, m = _repeat_buyers(history)
    return _log_likelihood(params.p, params.q, params.gamma, x, m)


def _objective(x: NDArray, m: NDArray, weight: NDArray):
    """Mean negative log-likelihood and gradient. Only log(gamma + m x) needs every customer at each
    step: the gamma functions depend on x alone (a few distinct values) and the rest is fixed sums."""
    total = weight.sum()
    distinct_x, which = np.unique(x, return_inverse=True)
    weight_of_x = np.bincount(which, weight, minlength=len(distinct_x))
    wx = weight * x
    mx = m * x
    sum_w_log_m = weight @ np.log(m)
    sum_wx_log_mx = wx @ (np.log(m) + np.log(x))

    def objective(log_params: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        p, q, gamma = np.exp(log_params)
        pu = p * distinct_x
        log_denominator = np.log(gamma + mx)
        inverse = 1.0 / (gamma + mx)
        wx_log_den = wx @ log_denominator
        w_log_den = weight @ log_denominator
        ll = (weight_of_x @ (gammaln(pu + q) - gammaln(pu)) - total * gammaln(q) + total * q * np.log(gamma)
              + p * sum_wx_log_mx - sum_w_log_m - p * wx_log_den - q * w_log_den)
        d_p = weight_of_x @ (distinct_x * (digamma(pu + q) - digamma(pu))) + sum_wx_log_mx - wx_log_den
        d_q = weight_of_x @ digamma(pu + q) - total * digamma(q) + total * np.log(gamma) - w_log_den
        d_gamma = total * q / gamma - p * (wx @ inverse) - q * (weight @ inverse)
        grad = np.array([d_p * p, d_q * q, d_gamma * gamma])
        return -ll / total, -grad / total

    return objective


def fit(history: PurchaseHistory, *, max_customers: int | None = None, seed: int = 0) -> GammaGammaFit:
    """Maximum-likelihood p, q, gamma from the customers with repeat purchases (and spend > 0).

    Spend is rescaled internally to a mean of 1 (gamma is reported in the history's currency).
    """
    x_all, m_all = _repeat_buyers(history)
    if len(x_all) < 2:
        raise ValueError(f"Gamma-Gamma: needs customers with repeat purchases and a positive spend; found "
                         f"{len(x_all)}")
    rows = sample_rows(len(x_all), max_customers, seed)
    x_all, m_all = x_all[rows], m_all[rows]
    scale = float(m_all.mean())
    x, m, weight = x_all, m_all / scale, np.ones(len(x_all))  # spends are continuous: nothing to compress
    optimum = maximise(_objective(x, m, weight), np.zeros(3))
    p, q, gamma = np.exp(optimum.log_params)
    params = GammaGammaParams(float(p), float(q), float(gamma * scale))
    total = float(_log_likelihood(params.p, params.q, params.gamma, x_all, m_all).sum())
    if not optimum.converged:
        log.warning("Gamma-Gamma fit on %d customers did not converge: %s", len(x_all), optimum.message)
    return GammaGammaFit(params, total, len(x_all), optimum.converged, optimum.message)


def expected_order_value(params: GammaGammaParams, history: PurchaseHistory) -> NDArray[np.float64]:
    """E[spend per purchase | x, m] = (p*gamma + p*x*m) / (p*x + q - 1), per customer.

    A weighted average of the population mean p*gamma/(q-1) and the customer's own mean m, with
    weight p*x/(p*x+q-1) on m. Customers without repeat purchases get the population mean. Needs
    q > 1 (otherwise the population mean spend is infinite).
    """
    if params.q <= 1:
        raise ValueError(f"Gamma-Gamma parameter q: must be > 1 for a finite expected spend, got {params.q}")
    x = history.frequency
    money = history.monetary_value
    m = np.zeros_like(x) if money is None else np.where(x > 0, np.nan_to_num(money, nan=0.0), 0.0)
    return (params.p * params.gamma + params.p * x * m) / (params.p * x + params.q - 1.0)
