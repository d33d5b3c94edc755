"""PNR numbers of simulated bookings, and which booking any 10-digit PNR stands for.

Two kinds of PNR answer (DOMAIN §1.1, §3.1):

* A booking's own PNR: first digit from its train's originating zone, digits 2-3 a PRS id, the last
  seven a keyed permutation of (journey date, train, class, booking number). Any process with the
  same seed can decode it back to its booking, as long as the journey lies between GRACE_DAYS ago and
  one date cycle ahead.
* Any other valid PNR is mapped by SHA-256(seed, PNR, window) to a synthetic booking on the journey
  grid: lookup time is cut into fixed windows from EPOCH; within a window the PNR names one journey
  departing inside it and one booking made before the window began, so every poll in the window sees
  the same, already existing booking and a consistent history. The next window recycles the PNR for
  another journey, as real PNRs are reused after flushing. A small share answers "not found".
"""
from __future__ import annotations

import datetime as dt
import functools
import math

import numpy as np

from .config import SimConfig
from .pnrs import PnrNotFound
from .seeding import stable_int, stable_rng
from .trains import IST, PRS_DIGITS, Train, trains_of_prs

PRS_IDS = ("10", "13", "21", "24", "32", "45", "53", "64", "76", "88")
SUFFIX_SPACE = 10**7
HALF_SPACE = 10**4  # the permutation is a Feistel network on two halves of 10^4 each
FEISTEL_ROUNDS = 6
DATE_CYCLE_DAYS = 190  # a booking's own PNR names its journey date modulo this
GRACE_DAYS = 30  # ... counted from this many days before today
MAX_TRAINS_PER_PRS = 16
MAX_CLASSES = 8
MAX_BOOKINGS = 2048
CODE_LIMIT = DATE_CYCLE_DAYS * MAX_TRAINS_PER_PRS * MAX_CLASSES * MAX_BOOKINGS
EPOCH = dt.datetime(2013, 1, 1, tzinfo=IST)
SYNTHETIC_ATTEMPTS = 8  # journeys tried for a booking of the wanted kind before taking any
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 arrays (wrapping arithmetic); `_mix_int` is the same on one int."""
    with np.errstate(over="ignore"):
        z = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
        return z ^ (z >> np.uint64(31))


def _mix_int(x: int) -> int:
    """splitmix64 finaliser on one Python int (a lookup decodes one PNR: no arrays needed)."""
    z = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return z ^ (z >> 31)


@functools.lru_cache(maxsize=64)
def _keys(seed: int, prs: int) -> tuple[np.uint64, ...]:
    """Round keys of the permutation for one PRS (a pair of first digits shares them)."""
    return tuple(np.uint64(stable_int(seed, "pnr-code", prs, r)) for r in range(FEISTEL_ROUNDS))


def _round(half: np.ndarray, key: np.uint64) -> np.ndarray:
    return (_mix(half.astype(np.uint64) ^ key) % np.uint64(HALF_SPACE)).astype(np.int64)


def permute(values: np.ndarray, seed: int, prs: int) -> np.ndarray:
    """A keyed bijection of [0, 10^8) onto itself (a Feistel network), on many values at once."""
    left, right = np.divmod(np.asarray(values, dtype=np.int64), HALF_SPACE)
    for key in _keys(seed, prs):
        left, right = right, (left + _round(right, key)) % HALF_SPACE
    return left * HALF_SPACE + right


def unpermute(value: int, seed: int, prs: int) -> int:
    """The inverse of `permute` for one value."""
    left, right = divmod(value, HALF_SPACE)
    for key in reversed(_keys(seed, prs)):
        left, right = (right - _mix_int(left ^ int(key)) % HALF_SPACE) % HALF_SPACE, left
    return left * HALF_SPACE + right


def booking_pnrs(seed: int, train: Train, train_slot: int, class_slot: int, journey_date: dt.date,
                 bookings: np.ndarray) -> list[str]:
    """The own PNRs of bookings (numbers < MAX_BOOKINGS) of one class of one train-date."""
    prs = PRS_DIGITS[train.zone_digit][0]
    code = ((journey_date.toordinal() % DATE_CYCLE_DAYS * MAX_TRAINS_PER_PRS + train_slot) * MAX_CLASSES
            + class_slot) * MAX_BOOKINGS + np.asarray(bookings, dtype=np.int64)
    mixed = permute(code, seed, prs)
    firsts = PRS_DIGITS[train.zone_digit]
    out = []
    for b, value in zip(np.asarray(bookings).tolist(), mixed.tolist()):
        prs_id, suffix = divmod(value, SUFFIX_SPACE)
        out.append(f"{firsts[b % len(firsts)]}{PRS_IDS[prs_id]}{suffix:07d}")
    return out


def decode(seed: int, pnr: str, trains: tuple[Train, ...], today: dt.date) -> tuple[Train, int, dt.date, int] | None:
    """(train, class slot, journey date, booking number) if `pnr` is a booking's own PNR, else None."""
    first, prs_id, suffix = int(pnr[0]), pnr[1:3], int(pnr[3:])
    if prs_id not in PRS_IDS:
        return None
    value = unpermute(PRS_IDS.index(prs_id) * SUFFIX_SPACE + suffix, seed, PRS_DIGITS[first][0])
    if value >= CODE_LIMIT:
        return None
    rest, booking = divmod(value, MAX_BOOKINGS)
    rest, class_slot = divmod(rest, MAX_CLASSES)
    day, train_slot = divmod(rest, MAX_TRAINS_PER_PRS)
    group = trains_of_prs(trains, first)
    if train_slot >= len(group):
        return None
    base = today - dt.timedelta(days=GRACE_DAYS)
    journey_date = base + dt.timedelta(days=(day - base.toordinal()) % DATE_CYCLE_DAYS)
    return group[train_slot], class_slot, journey_date, booking


def window_start(config: SimConfig, now: dt.datetime) -> tuple[int, dt.datetime]:
    """The lookup window containing `now`: its number and its first moment."""
    days = config.window_days
    number = math.floor((now - EPOCH).total_seconds() / (days * 86400.0))
    return number, EPOCH + dt.timedelta(days=number * days)


class SyntheticDraw:
    """The random choices a foreign PNR makes in one window, fixed in number so they never shift."""

    def __init__(self, config: SimConfig, pnr: str, window: int) -> None:
        self.rng = stable_rng(config.seed, "pnr", pnr, window)
        self.flushed = bool(self.rng.random() < config.flushed_fraction)
        # people look their PNR up mostly while waitlisted: bias the synthetic bookings that way
        self.wants_waitlisted = bool(self.rng.random() < config.wl_lookup_share)

    def attempt(self, config: SimConfig, trains: tuple[Train, ...], capacity_weights: dict[str, dict[str, int]]
                ) -> tuple[Train, str, int, float]:
        """(train, class, days into the window, pick in [0, 1)) for one try at finding a booking."""
        train = trains[int(self.rng.integers(len(trains)))]
        classes = capacity_weights[train.number]
        weights = np.array(list(classes.values()), dtype=float)
        jclass = list(classes)[int(np.searchsorted(np.cumsum(weights) / weights.sum(), self.rng.random(), side="right"))]
        offset = int(config.window_days * math.sqrt(self.rng.random()))  # later days likelier: fewer finished journeys
        return train, jclass, min(offset, config.window_days - 1), float(self.rng.random())


def pick_booking(booking_h: np.ndarray, waitlisted: np.ndarray, before_h: float, wants_waitlisted: bool | None,
                 pick: float) -> int | None:
    """One booking made before `before_h` hours before departure, waitlisted at booking or not as wanted (None: any)."""
    made = booking_h >= before_h
    pool = np.flatnonzero(made if wants_waitlisted is None else made & (waitlisted == wants_waitlisted))
    return int(pool[int(pick * len(pool))]) if len(pool) else None


def not_found(pnr: str) -> PnrNotFound:
    """The error for a PNR with no booking behind it (flushed, or not issued yet)."""
    return PnrNotFound(f"PNR {pnr} is not in the system (flushed after its journey, or never issued)")
