"""Per-customer purchase histories in the shape the BG/NBD and Gamma-Gamma models read.

Each customer is described from their first purchase on, in one time unit of the caller's choice
(crm360 uses days; the published CDNOW fits use weeks):

- ``frequency`` (x): repeat purchases, i.e. purchase occasions after the first one. crm360 counts
  distinct purchase days, so two orders on one day are one occasion, as in the BG/NBD paper.
- ``recency`` (t_x): the customer's age at their last purchase (time from the first purchase to the
  last one); 0 when there was no repeat purchase. This is *not* "time since the last order".
- ``tenure`` (T): the customer's age at the end of the observation (time from the first purchase to
  the run date).
- ``monetary_value``: the mean value of the repeat purchases (the first purchase is left out, as in
  Fader and Hardie's Gamma-Gamma note); NaN when there is none.

Validation happens once, here, so that the models can trust their inputs and a person reading the
error learns which field and which row was wrong.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


class InvalidPurchaseHistory(ValueError):
    """The purchase summary cannot be modelled; the message names the field and the first bad row."""


def _as_vector(name: str, values: ArrayLike, allow_nan: bool = False) -> NDArray[np.float64]:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidPurchaseHistory(f"{name}: expected numbers ({exc})") from exc
    if array.ndim != 1:
        raise InvalidPurchaseHistory(f"{name}: expected one value per customer (a 1-D array), got shape "
                                     f"{array.shape}")
    bad = ~np.isfinite(array) if not allow_nan else np.isinf(array)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidPurchaseHistory(f"{name}: must be a finite number; row {row} is {array[row]}")
    return array


def _first_bad(name: str, bad: NDArray[np.bool_], values: NDArray[np.float64], rule: str) -> None:
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidPurchaseHistory(f"{name}: {rule}; row {row} has {values[row]:g} "
                                     f"({int(bad.sum())} row(s) break this rule)")


@dataclass(frozen=True)
class PurchaseHistory:
    """Validated (frequency, recency, tenure[, monetary_value]) arrays, one row per customer."""

    frequency: NDArray[np.float64]
    recency: NDArray[np.float64]
    tenure: NDArray[np.float64]
    monetary_value: NDArray[np.float64] | None = None

    @classmethod
    def from_arrays(cls, frequency: ArrayLike, recency: ArrayLike, tenure: ArrayLike,
                    monetary_value: ArrayLike | None = None) -> PurchaseHistory:
        """Check and wrap the arrays; raises InvalidPurchaseHistory naming the field and row."""
        x = _as_vector("frequency", frequency)
        t_x = _as_vector("recency", recency)
        big_t = _as_vector("tenure", tenure)
        for name, array in (("recency", t_x), ("tenure", big_t)):
            if len(array) != len(x):
                raise InvalidPurchaseHistory(f"{name}: has {len(array)} rows but frequency has {len(x)}")
        _first_bad("frequency", (x < 0) | (x != np.floor(x)), x, "must be a whole number >= 0 (repeat purchases)")
        _first_bad("recency", t_x < 0, t_x, "must be >= 0 (age at the last purchase)")
        _first_bad("recency", (x == 0) & (t_x != 0), t_x,
                   "must be 0 when frequency is 0 (recency is the age at the last repeat purchase, "
                   "not the time since the last order)")
        _first_bad("tenure", big_t < t_x, big_t, "must be >= recency (the customer's age at the end of the "
                   "observation)")
        money = None
        if monetary_value is not None:
            money = _as_vector("monetary_value", monetary_value, allow_nan=True)
            if len(money) != len(x):
                raise InvalidPurchaseHistory(f"monetary_value: has {len(money)} rows but frequency has {len(x)}")
            _first_bad("monetary_value", (x > 0) & np.isnan(money), money,
                       "must be given for customers with repeat purchases")
            _first_bad("monetary_value", money < 0, money, "must be >= 0 (mean value of the repeat purchases)")
        return cls(x, t_x, big_t, money)

    def __len__(self) -> int:
        return len(self.frequency)

    def take(self, rows: NDArray[np.int64]) -> PurchaseHistory:
        """The histories of the given rows (already valid, so not checked again)."""
        money = None if self.monetary_value is None else self.monetary_value[rows]
        return PurchaseHistory(self.frequency[rows], self.recency[rows], self.tenure[rows], money)


def sample_rows(n: int, max_rows: int | None, seed: int = 0) -> NDArray[np.int64]:
    """All row numbers, or a deterministic random subset of ``max_rows`` of them (sorted).

    Fitting four or three parameters needs far fewer customers than a large shop has; the same
    input in the same order always gives the same sample, so a re-run gives the same fit.
    """
    if max_rows is not None and max_rows < 1:
        raise ValueError(f"max_rows: must be at least 1, got {max_rows}")
    if max_rows is None or n <= max_rows:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=max_rows, replace=False)).astype(np.int64)


@dataclass(frozen=True)
class SummarisedTransactions:
    customer_ids: NDArray[np.object_] | NDArray[np.int64]
    history: PurchaseHistory


def summarise_transactions(customer_ids: ArrayLike, dates: ArrayLike, values: ArrayLike, *,
                           observation_end: dt.date | str, period_days: float = 1.0) -> SummarisedTransactions:
    """Build the per-customer summary from raw transactions (one row per order).

    Transactions after ``observation_end`` (the last observed day, inclusive) are ignored.
    Orders on the same day form one purchase occasion whose value is their sum. Times are
    whole days divided by ``period_days`` (7 for weeks): recency = last - first purchase day,
    tenure = observation_end - first purchase day. Customers come back sorted by id.
    """
    ids = np.asarray(customer_ids)
    days = np.asarray(dates, dtype="datetime64[D]")
    amounts = np.asarray(values, dtype=np.float64)
    if not len(ids) == len(days) == len(amounts):
        raise InvalidPurchaseHistory(f"transactions: customer_ids, dates and values differ in length "
                                     f"({len(ids)}, {len(days)}, {len(amounts)})")
    end = np.datetime64(observation_end, "D")
    keep = days <= end
    ids, days, amounts = ids[keep], days[keep], amounts[keep]
    if len(ids) == 0:
        empty = np.zeros(0)
        return SummarisedTransactions(ids, PurchaseHistory.from_arrays(empty, empty, empty, empty))
    unique_ids, customer = np.unique(ids, return_inverse=True)
    day_number = (days - days.min()).astype(np.int64)
    # one row per (customer, day): order by customer then day, then sum the day's values
    order = np.lexsort((day_number, customer))
    customer, day_number, amounts = customer[order], day_number[order], amounts[order]
    new_occasion = np.ones(len(customer), dtype=bool)
    new_occasion[1:] = (customer[1:] != customer[:-1]) | (day_number[1:] != day_number[:-1])
    starts = np.flatnonzero(new_occasion)
    occ_customer = customer[starts]
    occ_day = day_number[starts]
    occ_value = np.add.reduceat(amounts, starts) if len(starts) else amounts
    n = len(unique_ids)
    occasions = np.bincount(occ_customer, minlength=n)
    first_index = np.concatenate(([0], np.cumsum(occasions)[:-1])).astype(np.int64)
    last_index = first_index + occasions - 1
    first_day = occ_day[first_index]
    frequency = (occasions - 1).astype(np.float64)
    recency = (occ_day[last_index] - first_day) / period_days
    end_number = (end - days.min()).astype(np.int64)
    tenure = (end_number - first_day) / period_days
    repeat_total = np.bincount(occ_customer, weights=occ_value, minlength=n) - occ_value[first_index]
    # refunds can leave a day's net value below zero; a customer's mean spend is at least 0
    monetary = np.where(frequency > 0, np.maximum(repeat_total / np.maximum(frequency, 1), 0.0), np.nan)
    history = PurchaseHistory.from_arrays(frequency, recency, tenure, monetary)
    return SummarisedTransactions(unique_ids, history)
