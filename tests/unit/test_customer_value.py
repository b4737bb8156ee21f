"""Properties of crm360.value that a user of the predictions would notice."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import hyp2f1

from crm360.value import bgnbd, gamma_gamma, lifetime, scoring
from crm360.value.history import InvalidPurchaseHistory, PurchaseHistory, summarise_transactions

CDNOW_BGNBD = bgnbd.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
DAYS_BGNBD = bgnbd.BgNbdParams(r=0.8, alpha=60.0, a=1.4, b=6.0)  # a > 1, in days
SPEND = gamma_gamma.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)


def _random_histories(n: int, seed: int = 0) -> PurchaseHistory:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 3000, n).astype(float)
    frequency = rng.poisson(rng.gamma(0.7, 8.0, n)).astype(float)
    recency = np.where(frequency > 0, np.floor(tenure * rng.random(n)), 0.0)
    money = np.where(frequency > 0, rng.gamma(3.0, 20.0, n), np.nan)
    return PurchaseHistory.from_arrays(frequency, recency, tenure, money)


@pytest.mark.parametrize("params", [CDNOW_BGNBD, DAYS_BGNBD])
def test_probabilities_stay_in_0_1_even_for_extreme_histories(params: bgnbd.BgNbdParams) -> None:
    extreme = PurchaseHistory.from_arrays([0, 0, 1, 5_000, 100_000, 3, 1],
                                          [0, 0, 0, 3_000, 1e6, 1e7, 1e-9],
                                          [0, 1e7, 1e7, 3_000, 1e6, 1e7, 1e7])
    histories = [extreme, _random_histories(20_000)]
    for history in histories:
        alive = bgnbd.probability_alive(params, history)
        buys = bgnbd.probability_purchase(params, history, 90.0)
        expected = bgnbd.expected_purchases(params, history, 90.0)
        for values in (alive, buys):
            assert np.all(np.isfinite(values))
            assert values.min() >= 0.0 and values.max() <= 1.0
        assert np.all(np.isfinite(expected)) and expected.min() >= 0.0


def test_a_customer_without_repeat_purchases_is_alive_by_definition() -> None:
    """BG/NBD: a customer can only leave right after a purchase, so x = 0 means P(alive) = 1 exactly;
    their low chance of buying shows in expected purchases, which fall with tenure."""
    history = PurchaseHistory.from_arrays([0, 0, 0], [0, 0, 0], [10, 300, 3000])
    assert np.array_equal(bgnbd.probability_alive(DAYS_BGNBD, history), [1.0, 1.0, 1.0])
    expected = bgnbd.expected_purchases(DAYS_BGNBD, history, 90.0)
    buys = bgnbd.probability_purchase(DAYS_BGNBD, history, 90.0)
    assert expected[0] > expected[1] > expected[2] > 0
    assert buys[0] > buys[1] > buys[2] > 0


def test_a_recent_buyer_is_more_likely_alive_than_one_who_has_gone_quiet() -> None:
    recency = np.arange(0, 366, 5, dtype=float)
    history = PurchaseHistory.from_arrays(np.full(len(recency), 4.0), recency, np.full(len(recency), 365.0))
    alive = bgnbd.probability_alive(DAYS_BGNBD, history)
    expected = bgnbd.expected_purchases(DAYS_BGNBD, history, 90.0)
    assert np.all(np.diff(alive) > 0)
    assert np.all(np.diff(expected) > 0)
    assert alive[0] < 0.5 < alive[-1]


def test_silence_after_the_last_purchase_lowers_p_alive() -> None:
    tenure = np.array([100.0, 200.0, 400.0, 800.0])
    history = PurchaseHistory.from_arrays(np.full(4, 3.0), np.full(4, 100.0), tenure)
    assert np.all(np.diff(bgnbd.probability_alive(DAYS_BGNBD, history)) < 0)


def test_expected_purchases_grow_with_the_horizon() -> None:
    history = _random_histories(2_000, seed=1)
    horizons = np.array([0.0, 7.0, 30.0, 90.0, 365.0, 3650.0])
    curves = bgnbd.expected_purchases(DAYS_BGNBD, history, horizons)
    assert curves.shape == (2_000, 6)
    assert np.all(curves[:, 0] == 0)
    assert np.all(np.diff(curves, axis=1) >= -1e-12)
    new = bgnbd.expected_purchases_new_customer(CDNOW_BGNBD, horizons)
    assert np.all(np.diff(new) > 0)


def test_heavy_buyers_use_the_stable_form_of_the_hypergeometric_term() -> None:
    """The direct formula agrees where it can be evaluated and overflows where crm360's does not."""
    params = DAYS_BGNBD
    x, tenure, t = np.array([0.0, 3.0, 20.0]), np.array([50.0, 400.0, 900.0]), 90.0
    history = PurchaseHistory.from_arrays(x, np.zeros(3) + np.where(x > 0, 30.0, 0.0), tenure)
    alive = bgnbd.probability_alive(params, history)
    z = t / (params.alpha + tenure + t)
    direct = ((params.a + params.b + x - 1) / (params.a - 1)
              * (1 - ((params.alpha + tenure) / (params.alpha + tenure + t)) ** (params.r + x)
                 * hyp2f1(params.r + x, params.b + x, params.a + params.b + x - 1, z)))
    assert bgnbd.expected_purchases(params, history, t) == pytest.approx(alive * direct, rel=1e-9)
    heavy = PurchaseHistory.from_arrays([4_000.0], [3_600.0], [3_650.0])
    assert 0 < bgnbd.expected_purchases(params, heavy, 90.0)[0] < 200


def test_p_alive_of_one_purchase_days_matches_its_formula() -> None:
    history = PurchaseHistory.from_arrays([2.0], [30.43], [38.86])
    p = CDNOW_BGNBD
    formula = 1 / (1 + p.a / (p.b + 2 - 1) * ((p.alpha + 38.86) / (p.alpha + 30.43)) ** (p.r + 2))
    assert bgnbd.probability_alive(p, history)[0] == pytest.approx(formula, rel=1e-12)


def test_expected_order_value_shrinks_towards_the_population_mean() -> None:
    history = PurchaseHistory.from_arrays([0, 1, 10, 100], [0, 5, 50, 90], [100, 100, 100, 100],
                                          [np.nan, 200.0, 200.0, 200.0])
    value = gamma_gamma.expected_order_value(SPEND, history)
    assert value[0] == pytest.approx(SPEND.population_mean)
    assert SPEND.population_mean < value[1] < value[2] < value[3] < 200.0


def test_lifetime_value_without_discount_is_spend_times_purchases() -> None:
    history = _random_histories(500, seed=2)
    undiscounted = lifetime.expected_lifetime_value(DAYS_BGNBD, SPEND, history, horizon=365.0, discount_rate=0.0,
                                                    discount_period=365.0)
    expected = (gamma_gamma.expected_order_value(SPEND, history)
                * bgnbd.expected_purchases(DAYS_BGNBD, history, 365.0))
    assert undiscounted == pytest.approx(expected, rel=1e-9)
    discounted = lifetime.expected_lifetime_value(DAYS_BGNBD, SPEND, history, horizon=365.0, discount_rate=0.1,
                                                  discount_period=365.0)
    longer = lifetime.expected_lifetime_value(DAYS_BGNBD, SPEND, history, horizon=730.0, discount_rate=0.1,
                                              discount_period=365.0)
    assert np.all(discounted <= undiscounted) and np.all(discounted >= undiscounted / 1.1 - 1e-9)
    assert np.all(longer >= discounted)


@pytest.mark.parametrize(("arrays", "field"), [
    (([-1, 0], [0, 0], [5, 5]), "frequency"),
    (([1.5, 0], [1, 0], [5, 5]), "frequency"),
    (([1, 0], [6, 0], [5, 5]), "tenure"),
    (([1, 0], [-2, 0], [5, 5]), "recency"),
    (([0, 0], [3, 0], [5, 5]), "recency"),
    (([1, 0], [1, 0], [5, np.nan]), "tenure"),
    (([1, 0], [1, 0], [5]), "tenure"),
    (([1, 0], [1, 0], [5, 5], [np.nan, np.nan]), "monetary_value"),
    (([1, 0], [1, 0], [5, 5], [-3.0, np.nan]), "monetary_value"),
])
def test_bad_input_is_refused_naming_the_field(arrays: tuple, field: str) -> None:
    with pytest.raises(InvalidPurchaseHistory, match=rf"^{field}:"):
        PurchaseHistory.from_arrays(*arrays)


def test_bad_parameters_and_settings_are_refused_naming_them() -> None:
    with pytest.raises(ValueError, match="alpha"):
        bgnbd.BgNbdParams(r=1.0, alpha=0.0, a=1.0, b=1.0)
    with pytest.raises(ValueError, match="horizon_days"):
        scoring.ValueSettings(horizon_days=0)
    with pytest.raises(ValueError, match="monetary_value"):
        gamma_gamma.fit(PurchaseHistory.from_arrays([1, 2], [1, 2], [3, 3]))


def test_same_day_orders_are_one_purchase_and_the_first_purchase_is_not_in_the_spend() -> None:
    summary = summarise_transactions(
        ["b", "a", "a", "a", "a", "c"],
        ["2026-01-01", "2026-01-01", "2026-01-01", "2026-01-11", "2026-03-01", "2026-01-05"],
        [10.0, 5.0, 7.0, 30.0, 99.0, 8.0],
        observation_end="2026-01-31",
    )
    assert list(summary.customer_ids) == ["a", "b", "c"]
    history = summary.history
    assert history.frequency.tolist() == [1.0, 0.0, 0.0]  # the March order is after the observation
    assert history.recency.tolist() == [10.0, 0.0, 0.0]
    assert history.tenure.tolist() == [30.0, 30.0, 26.0]
    assert history.monetary_value[0] == 30.0 and np.isnan(history.monetary_value[1])


def test_scoring_without_enough_data_gives_no_made_up_numbers() -> None:
    settings = scoring.ValueSettings()
    one_repeater = PurchaseHistory.from_arrays([0, 0, 1], [0, 0, 2], [3, 5, 6], [np.nan, np.nan, 40.0])
    models = scoring.fit_models(one_repeater, settings)
    # one repeat buyer cannot identify either model: no parameters, null scores, not "converged"
    assert models.purchases is None and models.spend is None and not models.converged
    scores = scoring.score(one_repeater, None, None, settings)
    assert all(np.all(np.isnan(v)) for v in scores.values())
    two_repeaters = PurchaseHistory.from_arrays([0, 2, 1], [0, 4, 2], [3, 5, 6], [np.nan, 30.0, 40.0])
    models = scoring.fit_models(two_repeaters, settings)
    assert models.purchases is not None
    scores = scoring.score(two_repeaters, models.purchases.params, None, settings)
    assert np.all(np.isfinite(scores["probability_alive"]))
    assert np.all(np.isnan(scores["expected_lifetime_value"]))
    empty = PurchaseHistory.from_arrays([], [], [], [])
    assert scoring.fit_models(empty, settings).purchases is None
    assert all(len(v) == 0 for v in scoring.score(empty, None, None, settings).values())


def test_a_generated_population_is_recovered_by_the_fit() -> None:
    """Customers simulated from known BG/NBD parameters: the fit recovers them (and reports convergence)."""
    rng = np.random.default_rng(11)
    n, truth = 20_000, bgnbd.BgNbdParams(r=0.9, alpha=40.0, a=1.2, b=4.0)
    tenure = rng.integers(200, 700, n).astype(float)
    rate = rng.gamma(truth.r, 1 / truth.alpha, n)
    drop = rng.beta(truth.a, truth.b, n)
    frequency, recency = np.zeros(n), np.zeros(n)
    clock = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():  # purchase by purchase: wait, buy (if still observed), maybe leave
        clock = clock + rng.exponential(1 / rate)
        buys = alive & (clock <= tenure)
        frequency[buys] += 1
        recency[buys] = clock[buys]
        alive = buys & (rng.random(n) >= drop)
    fit = bgnbd.fit(PurchaseHistory.from_arrays(frequency, recency, tenure))
    assert fit.converged, fit.message
    assert fit.params.r == pytest.approx(truth.r, rel=0.15)
    assert fit.params.alpha == pytest.approx(truth.alpha, rel=0.2)
    assert fit.params.a == pytest.approx(truth.a, rel=0.3)
    assert fit.params.b == pytest.approx(truth.b, rel=0.3)


def test_expected_purchases_stay_finite_when_dropout_is_nearly_certain_to_be_tiny() -> None:
    """A fit with a and b in the thousands (seen on a young shop) overflows the hypergeometric
    closed form; the quadrature fallback gives the no-dropout limit, (r + x) / (alpha + T) * t."""
    params = bgnbd.BgNbdParams(r=1.28, alpha=101.0, a=2343.8, b=716088.0)
    x = np.array([1.0, 5.0, 3.0, 2.0])
    tenure = np.array([152.0, 153.0, 142.0, 143.0])
    history = PurchaseHistory.from_arrays(x, tenure - 10, tenure, np.full(4, 50.0))
    expected = bgnbd.expected_purchases(params, history, 90)
    assert np.all(np.isfinite(expected)) and np.all(expected >= 0)
    no_dropout = (params.r + x) / (params.alpha + tenure) * 90
    assert expected == pytest.approx(no_dropout * bgnbd.probability_alive(params, history), rel=0.01)
    # and where the closed form works, the fallback agrees with it
    usual = bgnbd.BgNbdParams(r=0.24, alpha=4.4, a=0.79, b=2.43)
    closed = bgnbd._alive_purchase_curve(usual, x, tenure / 7, 39.0)
    fallback = [bgnbd._alive_purchase_integral(0.24, 4.4, 0.79, 2.43, xi, ti / 7, 39.0)
                for xi, ti in zip(x, tenure, strict=True)]
    assert closed == pytest.approx(fallback, rel=1e-6)
