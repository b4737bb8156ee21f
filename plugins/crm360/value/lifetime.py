"""Expected lifetime value over a horizon, discounted: BG/NBD purchases times Gamma-Gamma spend.

The formula (the discrete form used with these models, e.g. Fader, Hardie and Lee 2005, section 5):

    CLV_i = E[M_i] * sum_{k=1..K} (E[Y_i(t_k)] - E[Y_i(t_{k-1})]) / (1 + d) ** (t_k / P)

with t_k = k * H / K (H the horizon, K periods, t_0 = 0), E[Y_i(t)] the BG/NBD expected purchases in
the next t given the customer's history (it already includes the chance they have left), E[M_i] the
Gamma-Gamma expected spend per purchase, and d the discount rate per period of length P (an annual
rate with P = 365 days). Purchases of period k are discounted from its end. It is expected
*revenue* over the horizon, not margin, and not lifetime beyond the horizon.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from crm360.value import bgnbd, gamma_gamma
from crm360.value.history import PurchaseHistory


def discount_schedule(horizon: float, discount_rate: float, discount_period: float, periods: int
                      ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(t_k, discount factor of period k) for k = 1..periods."""
    if not horizon > 0 or not math.isfinite(horizon):
        raise ValueError(f"horizon: must be a positive number, got {horizon}")
    if not discount_rate >= 0 or not math.isfinite(discount_rate):
        raise ValueError(f"discount_rate: must be >= 0, got {discount_rate}")
    if not discount_period > 0:
        raise ValueError(f"discount_period: must be > 0, got {discount_period}")
    if periods < 1:
        raise ValueError(f"periods: must be at least 1, got {periods}")
    times = horizon * np.arange(1, periods + 1) / periods
    return times, (1.0 + discount_rate) ** (-times / discount_period)


def expected_lifetime_value(purchases: bgnbd.BgNbdParams, spend: gamma_gamma.GammaGammaParams,
                            history: PurchaseHistory, *, horizon: float, discount_rate: float,
                            discount_period: float, periods: int | None = None) -> NDArray[np.float64]:
    """Discounted expected revenue per customer over ``horizon`` (see the module docstring).

    Times are in the history's unit. ``periods`` defaults to one per 30 units of the horizon (months,
    when the unit is days), at least one.
    """
    count = periods if periods is not None else max(1, round(horizon / 30))
    times, factors = discount_schedule(horizon, discount_rate, discount_period, count)
    purchases_discounted = bgnbd.discounted_expected_purchases(purchases, history, times, factors)
    return gamma_gamma.expected_order_value(spend, history) * purchases_discounted
