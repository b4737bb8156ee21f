"""BG/NBD (Fader, Hardie and Lee 2005, "Counting your customers the easy way"): whether a customer
is still a customer and how often they will buy.

While "alive", a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); right after
each purchase they leave for good with probability p ~ Beta(a, b). Everything is computed in logs
(lgamma, log-sum-exp), so a customer with hundreds of purchases or decades of tenure gives finite
numbers, and vectorised over customers.

Note on one-time buyers: in this model a customer can only leave right after a purchase, so a
customer with no repeat purchase (frequency 0) has not had a chance to leave since their first one
and P(alive) = 1 exactly. Their low value shows up in expected purchases, which fall with tenure.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate, stats
from scipy.special import digamma, expit, gammaln, hyp2f1

from crm360.value.fitting import compress, maximise
from crm360.value.history import PurchaseHistory, sample_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BgNbdParams:
    """Purchase rate lambda ~ Gamma(shape r, rate alpha) (alpha in the history's time unit);
    dropout probability after each purchase p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    def __post_init__(self) -> None:
        for name in ("r", "alpha", "a", "b"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"BG/NBD parameter {name}: must be a positive number, got {value}")


@dataclass(frozen=True)
class BgNbdFit:
    params: BgNbdParams
    log_likelihood: float  # summed over the fitted customers
    customers: int  # customers the fit used (a sample when there were more than the cap)
    converged: bool
    message: str


def _terms(r: float, alpha: float, a: float, b: float, x: NDArray, t_x: NDArray, big_t: NDArray
           ) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """The pieces of each customer's log-likelihood: A1 + A2 + log(exp(A3) + [x>0] exp(A4))."""
    repeat = x > 0
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + big_t)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(repeat, np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0))
                      - (r + x) * np.log(alpha + t_x), -np.inf)
    return a1, a2, a3, a4


def log_likelihood(params: BgNbdParams, history: PurchaseHistory) -> NDArray[np.float64]:
    """Each customer's log-likelihood under ``params`` (FHL 2005, equation 6)."""
    a1, a2, a3, a4 = _terms(params.r, params.alpha, params.a, params.b, history.frequency, history.recency,
                            history.tenure)
    return a1 + a2 + np.logaddexp(a3, a4)


def _objective(x: NDArray, t_x: NDArray, big_t: NDArray, weight: NDArray):
    total = weight.sum()

    def objective(log_params: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        r, alpha, a, b = np.exp(log_params)
        a1, a2, a3, a4 = _terms(r, alpha, a, b, x, t_x, big_t)
        mix = np.logaddexp(a3, a4)
        s3 = np.exp(a3 - mix)  # share of the "still alive at T" branch
        s4 = 1.0 - s3
        log_t = np.log(alpha + big_t)
        log_tx = np.log(alpha + t_x)
        safe_b = np.where(x > 0, b + x - 1, 1.0)
        d_r = digamma(r + x) - digamma(r) + np.log(alpha) - s3 * log_t - s4 * log_tx
        d_alpha = r / alpha - (r + x) * (s3 / (alpha + big_t) + s4 / (alpha + t_x))
        d_a = digamma(a + b) - digamma(a + b + x) + s4 / a
        d_b = digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x) - s4 / safe_b
        ll = weight @ (a1 + a2 + mix)
        grad = np.array([weight @ d_r * r, weight @ d_alpha * alpha, weight @ d_a * a, weight @ d_b * b])
        return -ll / total, -grad / total

    return objective


def fit(history: PurchaseHistory, *, max_customers: int | None = None, seed: int = 0) -> BgNbdFit:
    """Maximum-likelihood BG/NBD parameters for these customers.

    With more customers than ``max_customers``, fits on a deterministic random sample of that size
    (four parameters are pinned down long before millions of customers). Times are rescaled
    internally so that the mean tenure is 1, which keeps the optimiser well conditioned whatever the
    time unit; alpha is reported in the history's own unit.
    """
    if len(history) == 0:
        raise ValueError("BG/NBD: no customers to fit (the purchase history is empty)")
    rows = sample_rows(len(history), max_customers, seed)
    sample = history.take(rows)
    scale = float(sample.tenure.mean()) or 1.0
    (x, t_x, big_t), weight = compress(sample.frequency, sample.recency / scale, sample.tenure / scale)
    optimum = maximise(_objective(x, t_x, big_t, weight), np.zeros(4))
    r, alpha, a, b = np.exp(optimum.log_params)
    params = BgNbdParams(float(r), float(alpha * scale), float(a), float(b))
    total = float(log_likelihood(params, sample).sum())
    if not optimum.converged:
        log.warning("BG/NBD fit on %d customers did not converge: %s", len(sample), optimum.message)
    return BgNbdFit(params, total, len(sample), optimum.converged, optimum.message)


def probability_alive(params: BgNbdParams, history: PurchaseHistory) -> NDArray[np.float64]:
    """P(the customer has not left by the end of the observation | x, t_x, T).

    1 / (1 + [x>0] * a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x)), computed as a logistic of a log-odds
    so that long tenures and many purchases neither overflow nor lose precision.
    """
    x, t_x, big_t = history.frequency, history.recency, history.tenure
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    log_odds_gone = (np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0))
                     + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x)))
    return np.where(repeat, expit(-log_odds_gone), 1.0)


def _alive_purchase_curve(params: BgNbdParams, x: NDArray, big_t: NDArray, t: float) -> NDArray[np.float64]:
    """E[purchases in the next t | alive at T] for customers with x repeat purchases and tenure T.

    Given alive, the customer is a fresh BG/NBD customer with r+x, alpha+T and b+x, so this is
    (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) * 2F1(r+x, b+x; a+b+x-1; z)], z = t/(alpha+T+t).
    Euler's transformation turns the bracket into 1 - (1-z)^(a-1) * 2F1(a+b-1-r, a-1; a+b+x-1; z), whose
    first two parameters do not grow with x (the direct form overflows for heavy buyers).
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    if abs(a - 1.0) < 1e-9:  # the formula is 0/0 at a = 1; the limit is continuous
        a = 1.0 + 1e-9
    one_minus_z = (alpha + big_t) / (alpha + big_t + t)
    z = 1.0 - one_minus_z
    with np.errstate(over="ignore", invalid="ignore"):
        bracket = 1.0 - one_minus_z ** (a - 1.0) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
        curve = (a + b + x - 1.0) / (a - 1.0) * bracket
    bad = ~np.isfinite(curve) | (curve < 0)
    if np.any(bad):  # e.g. a and b in the thousands (dropout nearly fixed): 2F1 overflows
        curve[bad] = [_alive_purchase_integral(r, alpha, a, b, float(xi), float(ti), t)
                      for xi, ti in zip(np.asarray(x)[bad], np.asarray(big_t)[bad], strict=True)]
    return curve


def _alive_purchase_integral(r: float, alpha: float, a: float, b: float, x: float, big_t: float, t: float) -> float:
    """The same expectation by quadrature, where the closed form is numerically unusable: given
    alive at T, the dropout p ~ Beta(a, b+x) and the rate lambda ~ Gamma(r+x, alpha+T); given both,
    E[purchases in t] = (1 - exp(-lambda p t)) / p, whose mean over lambda is
    (1 - ((alpha+T) / (alpha+T+p t))^(r+x)) / p; integrate that over p."""
    dropout = stats.beta(a, b + x)
    scale = alpha + big_t

    def integrand(p: float) -> float:
        if p <= 0.0:
            return (r + x) * t / scale * dropout.pdf(p)
        return -np.expm1(-(r + x) * np.log1p(p * t / scale)) / p * dropout.pdf(p)

    low, high = dropout.ppf(1e-12), dropout.ppf(1.0 - 1e-12)
    value, _ = integrate.quad(integrand, low, high, limit=200)
    return float(value)


def _distinct_pairs(x: NDArray, big_t: NDArray) -> tuple[NDArray, NDArray, NDArray[np.int64]]:
    """Distinct (x, T) pairs and each customer's pair: the hypergeometric term depends on nothing
    else, and a shop's histories in whole days have few distinct pairs (thousands for millions of
    customers), so the expensive part runs once per pair."""
    if len(x) == 0:
        return x, big_t, np.zeros(0, dtype=np.int64)
    whole = bool(np.all(big_t == np.floor(big_t)))
    if whole and big_t.max() < 2**20 and x.max() < 2**20 and (x.max() + 1) * (big_t.max() + 1) <= 50_000_000:
        stride = int(big_t.max()) + 1
        key = x.astype(np.int64) * stride + big_t.astype(np.int64)
        present = np.zeros(int(key.max()) + 1, dtype=bool)
        present[key] = True
        keys = np.flatnonzero(present)
        position = np.cumsum(present) - 1
        return (keys // stride).astype(np.float64), (keys % stride).astype(np.float64), position[key]
    key = x + 1j * big_t
    keys = np.unique(key)
    return keys.real.copy(), keys.imag.copy(), np.searchsorted(keys, key).astype(np.int64)


def expected_purchases(params: BgNbdParams, history: PurchaseHistory, t: float | ArrayLike
                       ) -> NDArray[np.float64]:
    """E[purchases in the next t (the history's time unit) | x, t_x, T], per customer.

    With several horizons ``t`` (a 1-D array), returns shape (customers, horizons).
    """
    horizons = np.atleast_1d(np.asarray(t, dtype=np.float64))
    if horizons.ndim != 1 or np.any(horizons < 0) or not np.all(np.isfinite(horizons)):
        raise ValueError(f"t: horizons must be finite and >= 0, got {t}")
    alive = probability_alive(params, history)
    pair_x, pair_t, pair = _distinct_pairs(history.frequency, history.tenure)
    out = np.empty((len(history), len(horizons)))
    for k, horizon in enumerate(horizons):
        curve = _alive_purchase_curve(params, pair_x, pair_t, float(horizon)) if horizon > 0 else np.zeros(
            len(pair_x))
        out[:, k] = alive * curve[pair]
    return out[:, 0] if np.ndim(t) == 0 else out


def discounted_expected_purchases(params: BgNbdParams, history: PurchaseHistory, times: NDArray[np.float64],
                                  weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """sum_k weights[k] * (E[Y(times[k])] - E[Y(times[k-1])]), with times[-1] = 0, per customer: the
    expected purchases of each period between consecutive ``times``, weighted (discounted) per period.
    Computed once per distinct (x, T) pair, so many periods cost little more than one."""
    alive = probability_alive(params, history)
    pair_x, pair_t, pair = _distinct_pairs(history.frequency, history.tenure)
    total = np.zeros(len(pair_x))
    previous = np.zeros(len(pair_x))
    for horizon, weight in zip(times.tolist(), weights.tolist(), strict=True):
        current = _alive_purchase_curve(params, pair_x, pair_t, horizon)
        total += weight * (current - previous)
        previous = current
    return alive * total[pair]


def probability_purchase(params: BgNbdParams, history: PurchaseHistory, t: float) -> NDArray[np.float64]:
    """P(at least one purchase in the next t | x, t_x, T) = P(alive) * (1 - ((alpha+T)/(alpha+T+t))^(r+x)):
    a customer alive at T stays alive until their next purchase, whose waiting time has the
    posterior rate Gamma(r+x, alpha+T)."""
    if t < 0 or not np.isfinite(t):
        raise ValueError(f"t: must be finite and >= 0, got {t}")
    x, big_t = history.frequency, history.tenure
    no_purchase_if_alive = np.exp((params.r + x) * (np.log(params.alpha + big_t)
                                                     - np.log(params.alpha + big_t + t)))
    return probability_alive(params, history) * (1.0 - no_purchase_if_alive)


def expected_purchases_new_customer(params: BgNbdParams, t: float | ArrayLike) -> NDArray[np.float64]:
    """E[X(t)]: repeat purchases a customer makes in their first t after their first purchase
    (FHL 2005, equation 9)."""
    horizons = np.asarray(t, dtype=np.float64)
    zeros = np.zeros_like(horizons)
    return _alive_purchase_curve(params, zeros, zeros, horizons)  # type: ignore[arg-type]
