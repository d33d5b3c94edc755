"""When a booking is cancelled: the hazard of DOMAIN §3.4 as two competing risks.

    h(a, tau) = h0 * m_status * [ fee(tau) (1 + beta e^(-tau/tau_d))  +  alpha e^(-a/tau_a) g(tau_b) ]

with a the hours since booking, tau the hours before departure and g(tau_b) = fee (1 + beta e^(-tau/tau_d))
at the booking time. This is the §3.4 product form, with the recent-purchase bump weighted by the
departure term as it stood when the ticket was bought (the bump lasts about two days, so the
difference is small). A sum of hazards is the minimum of independent clocks, and each clock has an
exact inverse: the departure clock through a tabulated integral, the bump clock in closed form. So
a whole inventory's cancellation times cost a few array passes.
"""
from __future__ import annotations

import functools

import numpy as np

from .config import SimConfig

NEVER = -np.inf  # cancellation time of a booking that is not cancelled before the chart
FEE_THRESHOLD_H = 48.0  # the higher cancellation charge starts 48 h before departure
FEE_SPIKE_START_H = 72.0
TABLE_STEP_H = 0.1
TABLE_SPAN_H = 400 * 24.0  # covers any advance reservation period but the foreign tourists' 365 days


def fee_step(config: SimConfig, tau_h: np.ndarray, confirmed: bool) -> np.ndarray:
    """Cancellation-charge effect on a confirmed ticket's hazard: a spike before the 48 h step, then lower."""
    if not confirmed:
        return np.ones_like(tau_h, dtype=float)
    spike = (tau_h > FEE_THRESHOLD_H) & (tau_h <= FEE_SPIKE_START_H)
    return np.where(spike, config.fee_spike, np.where(tau_h <= FEE_THRESHOLD_H, config.fee_after, 1.0))


def _departure_term(config: SimConfig, tau_h: np.ndarray, confirmed: bool) -> np.ndarray:
    """The hazard's factor that depends on the time before departure only (per h0)."""
    return fee_step(config, tau_h, confirmed) * (1.0 + config.hazard_beta * np.exp(-tau_h / config.hazard_tau_d_h))


@functools.lru_cache(maxsize=16)
def _table(h0: float, beta: float, tau_d: float, spike: float, after: float, confirmed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Grid of tau and the integral of the departure term from 0 to tau (strictly increasing)."""
    grid = np.arange(0.0, TABLE_SPAN_H + TABLE_STEP_H, TABLE_STEP_H)
    pieces: tuple[tuple[float, float, float], ...] = (
        (0.0, FEE_THRESHOLD_H, after), (FEE_THRESHOLD_H, FEE_SPIKE_START_H, spike), (FEE_SPIKE_START_H, np.inf, 1.0))
    if not confirmed:
        pieces = ((0.0, np.inf, 1.0),)
    total = np.zeros_like(grid)
    for lo, hi, mult in pieces:
        a, b = np.minimum(grid, lo), np.minimum(grid, hi)
        total += mult * ((b - a) + beta * tau_d * (np.exp(-a / tau_d) - np.exp(-b / tau_d)))
    return grid, h0 * total


def cancellation_times(config: SimConfig, book_h: np.ndarray, exp_departure: np.ndarray, exp_bump: np.ndarray,
                       options: list[tuple[np.ndarray | float, bool]], chart_h: float) -> np.ndarray:
    """Hours before departure at which each booking is cancelled (NEVER if not before the chart), per option.

    `options` are (multiplier, confirmed) pairs, one per status a booking could hold, the multiplier
    a number or one per booking; row i of the result answers option i. `exp_departure` and `exp_bump` are unit exponential variates, one pair
    per booking, shared by every option: a booking's status changes when it cancels, not whether
    its draw is taken.
    """
    book_h = np.asarray(book_h, dtype=float)
    out = np.full((len(options), len(book_h)), NEVER)
    bump_mass = config.hazard_h0_per_h * config.hazard_alpha * config.hazard_tau_a_h
    shapes = {}
    for confirmed in {c for _, c in options}:
        grid, integral = _table(config.hazard_h0_per_h, config.hazard_beta, config.hazard_tau_d_h,
                                config.fee_spike, config.fee_after, confirmed)
        at_booking = np.interp(book_h, grid, integral)
        shapes[confirmed] = (grid, integral, at_booking, float(np.interp(chart_h, grid, integral)),
                             bump_mass * _departure_term(config, book_h, confirmed))
    for row, (multiplier, confirmed) in enumerate(options):
        grid, integral, at_booking, at_chart, bump = shapes[confirmed]
        level = at_booking - exp_departure / multiplier
        hit = np.flatnonzero(level > at_chart)
        out[row, hit] = np.interp(level[hit], integral, grid)
        with np.errstate(divide="ignore"):  # h0 = 0 (no cancellations) is allowed
            x = exp_bump / (np.asarray(multiplier) * bump)
        early = np.flatnonzero(x < 1.0)
        bump_at = book_h[early] + config.hazard_tau_a_h * np.log1p(-x[early])
        out[row, early] = np.maximum(out[row, early], np.where(bump_at > chart_h, bump_at, NEVER))
    return out
