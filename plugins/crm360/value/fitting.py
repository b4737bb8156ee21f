"""Maximum-likelihood fitting shared by the value models: optimise on log-parameters.

Working on log-parameters keeps every parameter positive without constraints and puts a rate
(alpha, gamma) and a shape on comparable scales. The box on the log-parameters only stops a
degenerate sample (for instance one where nobody ever came back) from running a parameter off to
infinity; a fit that ends on that box is reported as not converged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

GRADIENT_AT_OPTIMUM = 1e-6  # mean log-likelihood per customer, per unit of log-parameter
LOG_BOUND = 14.0  # parameters (in scaled units) stay within [exp(-14), exp(14)] ~ [8e-7, 1.2e6]

Objective = Callable[[NDArray[np.float64]], tuple[float, NDArray[np.float64]]]


@dataclass(frozen=True)
class Optimum:
    log_params: NDArray[np.float64]
    mean_log_likelihood: float
    converged: bool
    message: str
    iterations: int


def maximise(objective: Objective, start: NDArray[np.float64]) -> Optimum:
    """Minimise ``objective`` (mean negative log-likelihood and its gradient) over log-parameters."""
    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(start)
    result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"maxiter": 5000, "ftol": 1e-14, "gtol": 1e-9})
    # the gradient that could still move the fit (a parameter pressed against its bound cannot)
    projected = np.where(((result.x >= LOG_BOUND - 1e-9) & (result.jac < 0))
                         | ((result.x <= -LOG_BOUND + 1e-9) & (result.jac > 0)), 0.0, result.jac)
    flat_optimum = not result.success and float(np.max(np.abs(projected))) < GRADIENT_AT_OPTIMUM
    if flat_optimum:
        # L-BFGS-B's line search gives up on a very flat optimum although the gradient is ~0 there
        result.success = True
        result.message = f"gradient below {GRADIENT_AT_OPTIMUM:g} ({result.message})"
    elif not result.success and not np.any(np.abs(result.x) >= LOG_BOUND - 1e-6):
        # stopped away from a stationary point: a derivative-free polish settles it (not worth it when
        # a parameter is on its bound: that fit is degenerate and reported as not converged anyway)
        polished = minimize(lambda p: objective(p)[0], result.x, method="Nelder-Mead", bounds=bounds,
                            options={"maxiter": 4000, "maxfev": 6000, "xatol": 1e-10, "fatol": 1e-14})
        if polished.fun <= result.fun:
            result = polished
    at_bound = bool(np.any(np.abs(result.x) >= LOG_BOUND - 1e-6))
    converged = bool(result.success) and not at_bound and bool(np.isfinite(result.fun))
    message = str(result.message)
    if at_bound:
        message = "a parameter reached the edge of its range (the data cannot pin it down): " + message
    return Optimum(np.asarray(result.x, dtype=np.float64), -float(result.fun), converged, message,
                   int(getattr(result, "nit", 0)))


def compress(*columns: NDArray[np.float64]) -> tuple[list[NDArray[np.float64]], NDArray[np.float64]]:
    """Identical customers contribute identical likelihood terms: keep each distinct row once with
    its count as a weight (a shop's histories in whole days repeat a lot)."""
    if len(columns[0]) == 0:
        return [c.copy() for c in columns], np.zeros(0)
    rows, counts = np.unique(np.stack(columns, axis=1), axis=0, return_counts=True)
    return [rows[:, k].copy() for k in range(rows.shape[1])], counts.astype(np.float64)
