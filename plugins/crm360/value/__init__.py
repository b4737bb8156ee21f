"""Customer value: will a customer buy again, how often, for how much, and what they are worth.

BG/NBD (purchases and dropout) and Gamma-Gamma (spend per purchase), fitted by maximum likelihood
with numpy/scipy, vectorised so that millions of customers score in seconds. The dbt Python models
in ``dbt_project/models/value/`` call :func:`scoring.fit_models` and :func:`scoring.score`; the
modules can be used on their own:

    history = PurchaseHistory.from_arrays(frequency, recency, tenure, monetary_value)
    purchases = bgnbd.fit(history).params
    bgnbd.probability_alive(purchases, history)
"""

from __future__ import annotations

from crm360.value import bgnbd, gamma_gamma, lifetime, scoring
from crm360.value.history import InvalidPurchaseHistory, PurchaseHistory, summarise_transactions

__all__ = ["InvalidPurchaseHistory", "PurchaseHistory", "bgnbd", "gamma_gamma", "lifetime", "scoring",
           "summarise_transactions"]
