"""crm360.value reproduces the published BG/NBD and Gamma-Gamma fits on the CDNOW sample.

Calibration as in Fader, Hardie and Lee (2005): the 2,357 customers of the 1/10th sample, one
transaction per customer-day, 39 weeks from 1997-01-01 (last day 1997-09-30), times in weeks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crm360.value import bgnbd, gamma_gamma
from crm360.value.history import PurchaseHistory, SummarisedTransactions, summarise_transactions

CDNOW = Path(__file__).resolve().parents[1] / "fixtures" / "cdnow" / "CDNOW_sample.txt"


@pytest.fixture(scope="module")
def calibration() -> SummarisedTransactions:
    raw = np.loadtxt(CDNOW, dtype=str)
    dates = np.array([f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in raw[:, 2]], dtype="datetime64[D]")
    return summarise_transactions(raw[:, 0].astype(np.int64), dates, raw[:, 4].astype(np.float64),
                                  observation_end="1997-09-30", period_days=7.0)


def test_the_calibration_summary_matches_the_paper(calibration: SummarisedTransactions) -> None:
    history = calibration.history
    assert len(history) == 2357
    assert int((history.frequency > 0).sum()) == 946
    assert int(history.frequency.sum()) == 2457  # repeat transactions in weeks 1-39
    assert history.tenure.max() == pytest.approx(38.86, abs=0.005)  # first bought on 1997-01-01


def test_bgnbd_fit_reproduces_fader_hardie_lee_2005(calibration: SummarisedTransactions) -> None:
    fit = bgnbd.fit(calibration.history)
    assert fit.converged, fit.message
    assert fit.customers == 2357
    assert fit.params.r == pytest.approx(0.243, abs=0.005)
    assert fit.params.alpha == pytest.approx(4.414, abs=0.01)
    assert fit.params.a == pytest.approx(0.793, abs=0.005)
    assert fit.params.b == pytest.approx(2.426, abs=0.005)
    assert fit.log_likelihood == pytest.approx(-9582.4, abs=0.1)


def test_conditional_expectation_matches_the_papers_worked_example() -> None:
    """FHL 2005, section 4: x = 2, t_x = 30.43, T = 38.86 weeks -> 1.226 purchases in the next 39 weeks."""
    params = bgnbd.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
    customer = PurchaseHistory.from_arrays([2], [30.43], [38.86])
    assert bgnbd.expected_purchases(params, customer, 39.0)[0] == pytest.approx(1.226, abs=0.002)


def test_gamma_gamma_fit_reproduces_fader_hardie(calibration: SummarisedTransactions) -> None:
    fit = gamma_gamma.fit(calibration.history)
    assert fit.converged, fit.message
    assert fit.customers == 946
    assert fit.params.p == pytest.approx(6.25, rel=0.01)
    assert fit.params.q == pytest.approx(3.74, rel=0.01)
    assert fit.params.gamma == pytest.approx(15.44, rel=0.01)


def test_a_capped_fit_uses_a_fixed_sample_and_stays_close(calibration: SummarisedTransactions) -> None:
    first = bgnbd.fit(calibration.history, max_customers=1500, seed=3)
    again = bgnbd.fit(calibration.history, max_customers=1500, seed=3)
    assert first.customers == 1500
    assert first.params == again.params
    assert first.params.r == pytest.approx(0.243, rel=0.25)
    assert first.params.a == pytest.approx(0.793, rel=0.5)
