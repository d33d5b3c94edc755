"""The number of places a waitlisted passenger advances before the chart, and its likelihood.

A passenger at waitlist position Y advances N places by the chart, N = M + A:
  M ~ NegBinomial(mean mu, size r): places freed from outside the waitlist ahead (confirmed and RAC
      passengers cancelling, quota released at the chart);
  A ~ Binomial(Y - 1, q): the waitlisted passengers ahead who cancel.
Reaching RAC needs N >= Y; a berth needs N >= Y + K, K being the RAC places of the queue.
Because A grows by a Bernoulli step when Y grows by one, P(N >= Y + K) can only fall as Y grows:
the model is monotone in position by construction, not by luck of the fitted values.

Everything is vectorised: the binomial is summed over a window of +-WINDOW_SD standard deviations,
rows bucketed by window width so each bucket is one 2-D numpy computation.
"""
from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np
from scipy import special

WINDOW_SD = 6.5  # the binomial's mass beyond is below 1e-10
MIN_WIDTH = 4
PASS_COST_TERMS = 4096  # a block's fixed cost, in terms computed
TINY = 1e-300
RELATIVE_ERROR = 1e-7  # bound on the binomial mass left out of a row, relative to its likelihood
LOG_SIZE_STEP = 1e-4  # numerical derivative of the incomplete beta in its size parameter
LOG_FACTORIAL_TABLE = 20_000


@functools.cache
def _log_factorials(size: int) -> np.ndarray:
    return special.gammaln(np.arange(size) + 1.0)


def _log_factorial(x: np.ndarray) -> np.ndarray:
    """log(x!) for non-negative integer arrays, from a table when small enough."""
    if x.size and x.max() < LOG_FACTORIAL_TABLE:
        return _log_factorials(LOG_FACTORIAL_TABLE)[x]
    return special.gammaln(x + 1.0)


def nb_logpmf(j: np.ndarray, mu: np.ndarray, r: np.ndarray) -> np.ndarray:
    """log P(M = j) for M ~ NegBinomial(mean mu, size r); -inf for j < 0."""
    jj = np.maximum(j, 0)
    out = (special.gammaln(jj + r) - special.gammaln(r) - _log_factorial(jj)
           - r * np.log1p(mu / r) + jj * (np.log(mu) - np.log(mu + r)))
    return np.where(j >= 0, out, -np.inf)


def nb_sf(j: np.ndarray, mu: np.ndarray, r: np.ndarray) -> np.ndarray:
    """P(M >= j) for M ~ NegBinomial(mean mu, size r), by the regularised incomplete beta."""
    return np.where(j <= 0, 1.0, special.betainc(np.maximum(j, 1), r, mu / (mu + r)))


def _window(n: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The [lo, hi] range of the binomial outside which its mass is negligible.

    Above the mean the tail is longer than the standard deviation says when few of those ahead are
    likely to cancel (a Poisson-like tail): there the window reaches as far as Bernstein's bound,
    P(A >= nq + t) <= exp(-t^2 / (2 (var + t / 3))), puts the mass beyond a normal's WINDOW_SD
    deviations out. A narrower window left most such rows to be evaluated again over every count.
    """
    mean = n * q
    var = n * q * (1 - q)
    half = WINDOW_SD * np.sqrt(var) + 1
    reach = WINDOW_SD**2 / 6 + np.sqrt(WINDOW_SD**4 / 36 + WINDOW_SD**2 * var) + 1  # >= half
    lo = np.clip(np.floor(mean - half), 0, n).astype(np.int64)
    hi = np.clip(np.ceil(mean + reach), 0, n).astype(np.int64)
    return lo, hi


def _buckets(width: np.ndarray) -> Iterator[tuple[np.ndarray, int]]:
    """Row indices grouped by window width rounded up (by at most half) to a few sizes; a group joins
    the next larger one when padding it costs less than a numpy pass's fixed cost."""
    width = np.maximum(width, MIN_WIDTH)
    size = 2 ** np.ceil(np.log2(width)).astype(np.int64)
    size = np.where(width <= 3 * size // 4, 3 * size // 4, size)
    rows: np.ndarray | None = None
    current = 0
    for s in np.unique(size):
        these = np.flatnonzero(size == s)
        if rows is not None and len(rows) * (s - current) > PASS_COST_TERMS:
            yield rows, int(current)
            rows = None
        rows = these if rows is None else np.concatenate([rows, these])
        current = s
    if rows is not None:
        yield rows, int(current)


def _block(n: np.ndarray, q: np.ndarray, mu: np.ndarray, r: np.ndarray, value: np.ndarray,
           exact: bool, lo: np.ndarray, width: int, derivatives: bool = True) -> np.ndarray:
    """log P(N = value) (exact) or log P(N >= value), and its derivatives in log mu, logit q, log r.

    Rows are the window's binomial counts k = lo, lo + 1, ...; the negative binomial's argument
    j = value - k then falls by one a column, so lgamma(j + r) and digamma(j + r) follow from the
    first column by lgamma(x) = lgamma(x + 1) - log x and digamma(x) = digamma(x + 1) - 1/x.
    """
    col = np.arange(width)
    k = lo[:, None] + col
    nn = n[:, None]
    inside = k <= nn
    kk = np.minimum(k, nn)
    log_q, log_not_q = np.log(q), np.log1p(-q)
    log_binom = ((_log_factorial(n) + n * log_not_q)[:, None] - _log_factorial(kk) - _log_factorial(nn - kk)
                 + kk * (log_q - log_not_q)[:, None])
    log_binom[~inside] = -np.inf
    top = value - lo
    j = top[:, None] - col
    jj = np.maximum(j, 0)
    x = np.where(j >= 0, j + r[:, None], 1.0)
    x[:, 0] = 1.0
    first = np.maximum(top, 0) + r
    lgamma = special.gammaln(first)[:, None] - np.cumsum(np.log(x), axis=1)
    log_mu_share = np.log(mu) - np.log(mu + r)
    log_pmf = (lgamma - (special.gammaln(r) + r * np.log1p(mu / r))[:, None] - _log_factorial(jj)
               + jj * log_mu_share[:, None])
    log_pmf[j < 0] = -np.inf
    if not derivatives:
        if exact:
            log_f = log_pmf
        else:
            step = np.exp(log_pmf)
            step[:, 0] = 0.0
            log_f = np.log(np.clip(nb_sf(top, mu, r)[:, None] + np.cumsum(step, axis=1), TINY, 1.0))
        return _log_sum(log_binom + log_f)[0][None, :]
    digamma = special.digamma(first)[:, None] - np.cumsum(np.where(j >= 0, 1.0 / x, 0.0) * (col > 0), axis=1)
    # d log P(M = j) / d log mu and / d log r
    pmf_mu = (r / (mu + r))[:, None] * (jj - mu[:, None])
    pmf_r = r[:, None] * (digamma + (mu / (mu + r) - special.digamma(r) - np.log1p(mu / r))[:, None]
                          - jj / (mu + r)[:, None])
    if exact:
        log_f, slope_mu, slope_r = log_pmf, pmf_mu, pmf_r
    else:
        # P(M >= j) down the window: the top of the window from the incomplete beta, the rest by
        # adding point masses (a row-wise cumulative sum stays accurate for tiny tails).
        pmf = np.exp(log_pmf)
        step = pmf.copy()
        step[:, 0] = 0.0
        sf = nb_sf(top, mu, r)[:, None] + np.cumsum(step, axis=1)
        h = np.exp(LOG_SIZE_STEP)
        top_r = (nb_sf(top, mu, r * h) - nb_sf(top, mu, r / h)) / (2 * LOG_SIZE_STEP)
        sf_r = top_r[:, None] + np.cumsum(step * pmf_r, axis=1)
        sf = np.clip(sf, TINY, 1.0)
        log_f = np.log(sf)
        positive = j >= 1
        slope_mu = np.where(positive, jj * pmf / sf, 0.0)  # d P(M >= j) / d log mu = j P(M = j)
        slope_r = np.where(positive, sf_r / sf, 0.0)
    total, weight = _log_sum(log_binom + log_f)
    return np.stack([
        total,
        (weight * slope_mu).sum(axis=1),
        (weight * np.where(inside, k - nn * q[:, None], 0.0)).sum(axis=1),
        (weight * slope_r).sum(axis=1),
    ])


def _log_sum(terms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise log of the sum of exp(terms) (floored at log TINY), and each term's share of it."""
    peak = terms.max(axis=1)
    finite = np.isfinite(peak)
    peak = np.where(finite, peak, 0.0)
    spread = np.exp(terms - peak[:, None])
    mass = np.where(finite, spread.sum(axis=1), 1.0)
    total = np.where(finite, np.maximum(peak + np.log(mass), np.log(TINY)), np.log(TINY))
    return total, np.where(finite[:, None], spread / mass[:, None], 0.0)


def _evaluate(n: np.ndarray, q: np.ndarray, mu: np.ndarray, r: np.ndarray, value: np.ndarray,
              exact: np.ndarray, derivatives: bool = True) -> np.ndarray:
    """Per-row log-likelihood and derivatives over the binomial's window, then, for the rows where the
    binomial mass left out could exceed RELATIVE_ERROR of the result (outlying observations), again
    over every count the binomial can take."""
    lo, hi = _window(n, q)
    top = np.where(exact, np.minimum(n, value), n)  # an exact observation caps A at N
    hi = np.minimum(hi, top)
    lo = np.minimum(lo, hi)
    out = _run(n, q, mu, r, value, exact, derivatives, lo, hi)
    left_out = np.where(lo > 0, special.bdtr(lo - 1, n, q), 0.0) + np.where(hi < top, special.bdtrc(hi, n, q), 0.0)
    redo = np.flatnonzero(left_out > RELATIVE_ERROR * np.exp(out[0]))
    if len(redo):
        out[:, redo] = _run(n[redo], q[redo], mu[redo], r[redo], value[redo], exact[redo], derivatives,
                            np.zeros(len(redo), dtype=np.int64), top[redo])
    return out


def _run(n: np.ndarray, q: np.ndarray, mu: np.ndarray, r: np.ndarray, value: np.ndarray, exact: np.ndarray,
         derivatives: bool, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """_block over rows grouped by kind and window width."""
    width = hi - lo + 1
    out = np.zeros((4 if derivatives else 1, len(n)))
    for kind in (True, False):
        chosen = np.flatnonzero(exact == kind)
        for part, w in _buckets(width[chosen]):
            i = chosen[part]
            out[:, i] = _block(n[i], q[i], mu[i], r[i], value[i], kind, lo[i], w, derivatives)
    return out


def log_likelihood(n: np.ndarray, q: np.ndarray, mu: np.ndarray, r: np.ndarray, value: np.ndarray,
                   exact: np.ndarray, upper: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-row log-likelihood of the observed clearances and its derivatives.

    Exact rows saw N = value; the others N >= value, and N < upper where upper > value (an interval).
    Returns (loglik, d/d log mu, d/d logit q, d/d log r).
    """
    value = np.asarray(value, dtype=np.int64)
    out = _evaluate(n, q, mu, r, value, exact)
    if upper is not None:
        closed = np.flatnonzero(~exact & (upper > value))
        if len(closed):
            out[:, closed] = _interval(out[:, closed], _evaluate(n[closed], q[closed], mu[closed], r[closed],
                                                                 upper[closed], exact[closed]))
    return out[0], out[1], out[2], out[3]


def _interval(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """log P(a <= N < b) and its derivatives from those of log P(N >= a) and log P(N >= b)."""
    ratio = np.exp(np.minimum(high[0] - low[0], 0.0))  # P(N >= b) / P(N >= a) <= 1
    rest = np.maximum(1.0 - ratio, TINY)
    out = np.empty_like(low)
    out[0] = np.maximum(low[0] + np.log(rest), np.log(TINY))
    out[1:] = (low[1:] - ratio * high[1:]) / rest
    return out


def prob_at_least(n: np.ndarray, q: np.ndarray, mu: np.ndarray, r: np.ndarray,
                  threshold: np.ndarray) -> np.ndarray:
    """P(N >= threshold) for each row."""
    threshold = np.asarray(threshold, dtype=np.int64)
    if len(threshold) == 0:
        return np.zeros(0)
    ll = _evaluate(n, q, mu, r, threshold, np.zeros(len(threshold), dtype=bool), derivatives=False)[0]
    return np.clip(np.where(threshold <= 0, 1.0, np.exp(ll)), 0.0, 1.0)
