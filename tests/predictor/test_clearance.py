"""The clearance distribution N = NegBinomial + Binomial: likelihood, derivatives, monotonicity."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from predictor import clearance


def _random_rows(seed: int, count: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    n = rng.integers(0, 300, count)
    q = rng.uniform(0.01, 0.8, count)
    mu = np.exp(rng.uniform(-2, 5, count))
    r = np.exp(rng.uniform(-1, 4, count))
    value = rng.integers(0, 400, count)
    exact = rng.random(count) < 0.5
    return n, q, mu, r, value, exact


def _brute_force(n: int, q: float, mu: float, r: float, value: int, exact: bool) -> float:
    k = np.arange(n + 1)
    binom = stats.binom.pmf(k, n, q)
    p = r / (r + mu)
    nb = stats.nbinom.pmf(value - k, r, p) if exact else stats.nbinom.sf(value - k - 1, r, p)
    return float(np.log(max(np.sum(binom * nb), 1e-300)))


def test_log_likelihood_matches_the_full_convolution() -> None:
    rows = _random_rows(1, 300)
    ll = clearance.log_likelihood(*rows)[0]
    truth = np.array([_brute_force(*(x[i] for x in rows)) for i in range(300)])
    plausible = truth > -20  # beyond, only outliers live; the window is built for the plausible
    assert plausible.sum() > 100
    np.testing.assert_allclose(ll[plausible], truth[plausible], rtol=0, atol=1e-6)
    assert np.all(ll <= 1e-12)


@pytest.mark.parametrize("which", [1, 2, 3])
def test_derivatives_match_finite_differences(which: int) -> None:
    n, q, mu, r, value, exact = _random_rows(2, 300)
    out = clearance.log_likelihood(n, q, mu, r, value, exact)
    h = 1e-6
    logit = np.log(q / (1 - q))
    moved = {1: (n, q, mu * np.exp(h), r), 2: (n, 1 / (1 + np.exp(-(logit + h))), mu, r),
             3: (n, q, mu, r * np.exp(h))}[which]
    numeric = (clearance.log_likelihood(*moved, value, exact)[0] - out[0]) / h
    plausible = out[0] > -20
    np.testing.assert_allclose(out[which][plausible], numeric[plausible], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("mu,q,r", [(0.05, 0.9, 10.0), (0.05, 0.5, 0.3), (3.0, 0.3, 1.0), (50.0, 0.2, 5.0),
                                    (400.0, 0.05, 0.5), (1.0, 0.99, 1000.0)])
def test_reaching_a_place_gets_no_likelier_further_back(mu: float, q: float, r: float) -> None:
    y = np.arange(1, 600)
    full = np.full(len(y), 1.0)
    for extra in (0, 30):
        p = clearance.prob_at_least(y - 1, q * full, mu * full, r * full, y + extra)
        assert np.all((p >= 0) & (p <= 1))
        assert np.all(np.diff(p) <= 1e-15)


def test_prob_at_least_is_one_for_nothing_to_clear_and_empty_is_empty() -> None:
    one = np.array([1.0])
    assert clearance.prob_at_least(np.array([5]), 0.2 * one, 3 * one, 2 * one, np.array([0]))[0] == 1.0
    assert clearance.prob_at_least(np.zeros(0, int), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)).size == 0


def test_interval_likelihood_matches_the_difference_of_tails() -> None:
    n, q, mu, r, value, _ = _random_rows(3, 200)
    upper = value + 1 + np.random.default_rng(4).integers(0, 60, 200)
    censored = np.zeros(200, dtype=bool)
    ll, *grads = clearance.log_likelihood(n, q, mu, r, value, censored, upper)
    low = clearance.prob_at_least(n, q, mu, r, value)
    high = clearance.prob_at_least(n, q, mu, r, upper)
    plausible = low - high > 1e-8
    np.testing.assert_allclose(ll[plausible], np.log(np.maximum(low - high, 1e-300))[plausible], rtol=1e-6, atol=1e-9)
    h = 1e-6
    moved = clearance.log_likelihood(n, q, mu * np.exp(h), r, value, censored, upper)[0]
    np.testing.assert_allclose(grads[0][plausible], ((moved - ll) / h)[plausible], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("q", [0.001, 0.01, 0.05, 0.3])
def test_the_window_holds_the_long_upper_tail_of_few_likely_cancellations(q: float) -> None:
    # With few of those ahead likely to cancel, the binomial's tail above its mean is far longer than
    # its standard deviation says; a window that missed it had most rows evaluated again in full.
    n = np.arange(1, 500)
    lo, hi = clearance._window(n, np.full(len(n), q))
    assert np.all(special.bdtrc(hi, n, q) <= np.exp(-clearance.WINDOW_SD**2 / 2))
    assert np.all(special.bdtr(lo - 1, n, q)[lo > 0] <= 1e-9)
