"""The simulator's parameters: one frozen settings object per (seed, era), every number overridable.

The numbers are design assumptions calibrated against the published figures in DOMAIN.md §1 and
§3; the era switch carries the rules that changed over the years (RAC berths, WL caps, charting,
advance reservation period).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

ERAS = ("2013", "2015", "2025")

# WL limits from 2013 until June 2025 (DOMAIN §1.11); 2S and 3E are not in the published list.
FIXED_WL_CAPS = {"1A": 30, "EC": 30, "FC": 30, "2A": 100, "3A": 300, "3E": 300, "CC": 300, "SL": 400, "2S": 400}
# Side-lower berths per coach sold as RAC (two passengers each): revised on 16 Jan 2017.
RAC_BERTHS_2013 = {"SL": 5, "3A": 2, "3E": 2, "2A": 2}
RAC_BERTHS_2017 = {"SL": 7, "3A": 4, "3E": 4, "2A": 3}

# Share of a class's berths per quota; GN takes what is left. Typical values, not official (§3.2).
_MAIL = {"TQ": 0.22, "HO": 0.08, "LD": 0.015, "SS": 0.04, "DF": 0.01, "FT": 0.005, "RL": 0.05, "PQ": 0.05}
_PREMIUM = {"TQ": 0.10, "HO": 0.08, "LD": 0.015, "SS": 0.04, "DF": 0.01, "FT": 0.005, "RL": 0.03, "PQ": 0.03}
_DAY = {"TQ": 0.15, "HO": 0.06, "LD": 0.015, "SS": 0.04, "DF": 0.01, "FT": 0.005, "PQ": 0.05}
_FIRST = {"HO": 0.15, "SS": 0.04, "DF": 0.02, "FT": 0.01, "PQ": 0.03}
DEFAULT_QUOTA_SHARES: dict[str, dict[str, dict[str, float]]] = {
    "mail": {"*": _MAIL, "1A": _FIRST},
    "rajdhani": {"*": _PREMIUM, "1A": _FIRST},
    "shatabdi": {"*": {**_DAY, "TQ": 0.10}, "EC": {**_DAY, "TQ": 0.10, "HO": 0.10}},
    "jan_shatabdi": {"*": _DAY},
    "garib_rath": {"*": _MAIL},
}

# Festival demand windows: (first day, last day, demand multiplier, name), from each year's Diwali
# and Holi; Chhath falls inside the Diwali window and Durga Puja in the window before it.
DIWALI = {
    2012: "11-13", 2013: "11-03", 2014: "10-23", 2015: "11-11", 2016: "10-30", 2017: "10-19",
    2018: "11-07", 2019: "10-27", 2020: "11-14", 2021: "11-04", 2022: "10-24", 2023: "11-12",
    2024: "11-01", 2025: "10-20", 2026: "11-08", 2027: "10-29", 2028: "10-17", 2029: "11-05", 2030: "10-26",
}
HOLI = {
    2012: "03-08", 2013: "03-27", 2014: "03-17", 2015: "03-06", 2016: "03-24", 2017: "03-13",
    2018: "03-02", 2019: "03-21", 2020: "03-10", 2021: "03-29", 2022: "03-18", 2023: "03-08",
    2024: "03-25", 2025: "03-14", 2026: "03-04", 2027: "03-22", 2028: "03-11", 2029: "03-01", 2030: "03-20",
}
DIWALI_MULTIPLIER = 1.9
PUJA_MULTIPLIER = 1.5
HOLI_MULTIPLIER = 1.7
SUMMER_MULTIPLIER = 1.15
FESTIVALS = ("diwali", "puja", "holi")  # the peak windows; "summer" is the holiday season
FestivalWindow = tuple[dt.date, dt.date, float, str]


def default_festival_windows(diwali: float = DIWALI_MULTIPLIER, puja: float = PUJA_MULTIPLIER,
                             holi: float = HOLI_MULTIPLIER, summer: float = SUMMER_MULTIPLIER
                             ) -> tuple[FestivalWindow, ...]:
    """Diwali/Chhath, Durga Puja, Holi and summer-holiday windows for every year in the tables."""
    windows = []
    for year, md in sorted(DIWALI.items()):
        day = dt.date.fromisoformat(f"{year}-{md}")
        windows.append((day - dt.timedelta(days=10), day + dt.timedelta(days=8), diwali, "diwali"))
        windows.append((day - dt.timedelta(days=24), day - dt.timedelta(days=16), puja, "puja"))
        holi_day = dt.date.fromisoformat(f"{year}-{HOLI[year]}")
        windows.append((holi_day - dt.timedelta(days=6), holi_day + dt.timedelta(days=2), holi, "holi"))
        windows.append((dt.date(year, 5, 15), dt.date(year, 6, 15), summer, "summer"))
    return tuple(windows)


# Era 2013, fitted to the original pnr.me's 2013 lookups (python -m railsim.calibrate --fit;
# docs/simulator.md, "Against real 2013 lookups").
ERA_2013_FIT: dict[str, Any] = {
    "hazard_h0_per_h": 0.00025,
    "hazard_beta": 3.9,
    "hazard_tau_d_h": 72.0,
    "hazard_multipliers": {"CNF": 1.0, "RAC": 1.3, "WL": 3.0, "TQ_CNF": 0.1},
    "segment_shares": {"GN": 0.90, "RL": 0.40, "PQ": 0.05},
    "chart_pool_weights": {"GN": 1.0, "RL": 1.0, "PQ": 1.86, "TQ": 1.11},
}


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """Everything the simulation depends on besides the train list."""

    seed: int = 2013
    era: str = "2015"
    # --- rules that changed over the years (set by the era) ---
    arp_days: int = 120
    rac_berths_per_coach: Mapping[str, int] = dataclasses.field(default_factory=lambda: dict(RAC_BERTHS_2017))
    wl_caps: Mapping[str, int] | None = dataclasses.field(default_factory=lambda: dict(FIXED_WL_CAPS))
    wl_cap_fraction_ac: float = 0.60  # of class capacity, used when wl_caps is None (2025)
    wl_cap_fraction_non_ac: float = 0.30
    minor_wl_cap_fraction: float = 0.25  # RL/PQ/TQ waiting lists, as a share of the class cap
    chart_rule: str = "2013"
    # --- capacity split ---
    quota_shares: Mapping[str, Mapping[str, Mapping[str, float]]] = dataclasses.field(
        default_factory=lambda: DEFAULT_QUOTA_SHARES
    )
    eq_usage_beta: tuple[float, float] = (4.0, 3.0)  # used share of the emergency (HO) quota
    other_usage_beta: tuple[float, float] = (6.0, 3.0)  # used share of LD/SS/DF/FT
    # How the chart shares released berths between waiting lists: None serves GN, RL, PQ, TQ in turn;
    # weights share them in proportion to weight x unmet demand (see charting.share_pool).
    chart_pool_weights: Mapping[str, float] | None = None
    # --- demand ---
    load_median: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: {"supersonic": 1.6, "subsonic": 1.25, "chuk-chuk": 0.85}
    )
    load_sigma: float = 0.15  # train-date level, log scale
    class_load_sigma: float = 0.1  # extra spread per class
    weekend_multiplier: float = 1.1  # Friday, Saturday and Sunday departures
    festival_windows: tuple[FestivalWindow, ...] = dataclasses.field(
        default_factory=default_festival_windows
    )
    segment_shares: Mapping[str, float] = dataclasses.field(default_factory=lambda: {"GN": 0.90, "RL": 0.05, "PQ": 0.05})
    tatkal_demand_range: tuple[float, float] = (0.5, 1.0)  # Tatkal requests per TQ berth, times sqrt(load)
    party_size_probs: tuple[float, ...] = (0.66, 0.21, 0.06, 0.04, 0.02, 0.01)
    surge_share: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: {"supersonic": 0.65, "subsonic": 0.45, "chuk-chuk": 0.25}
    )
    surge_scale_h: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: {"supersonic": 6.0, "subsonic": 24.0, "chuk-chuk": 48.0}
    )
    late_share: float = 0.05  # bookings in the last days before the chart
    late_scale_h: float = 96.0
    tatkal_rush_scale_h: float = 10.0 / 60.0
    # --- cancellations (hazard per hour, DOMAIN §3.4) ---
    hazard_h0_per_h: float = 0.000087
    hazard_alpha: float = 3.5  # recent-purchase bump
    hazard_tau_a_h: float = 48.0
    hazard_beta: float = 3.0  # approach-to-departure rise
    hazard_tau_d_h: float = 72.0
    hazard_multipliers: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: {"CNF": 1.0, "RAC": 1.3, "WL": 3.0, "TQ_CNF": 0.1}
    )
    fee_spike: float = 1.7  # confirmed tickets, in the day before the 48-hour fee threshold
    fee_after: float = 0.8  # confirmed tickets, once the higher charge applies
    partial_cancel_prob: float = 0.15  # of cancelling parties of two or more
    # --- PNR lookups ---
    flushed_fraction: float = 0.02
    wl_lookup_share: float = 0.65
    window_days: int = 30
    cache_size: int = 1024  # inventories kept per process (about 25 KB each)

    @classmethod
    def for_era(cls, era: str = "2015", seed: int = 2013, **overrides: Any) -> SimConfig:
        """The defaults of an era ("2013", "2015" = 2015-2024, "2025"), then the overrides."""
        if era not in ERAS:
            raise ValueError(f"unknown era {era!r}; choose one of {', '.join(ERAS)}")
        base: dict[str, Any] = {"seed": int(seed), "era": era}
        if era == "2013":
            base.update(arp_days=60, rac_berths_per_coach=dict(RAC_BERTHS_2013),
                        **{k: dict(v) if isinstance(v, dict) else v for k, v in ERA_2013_FIT.items()})
        elif era == "2025":
            base.update(arp_days=60, wl_caps=None, chart_rule="2025", hazard_h0_per_h=0.000115)
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise TypeError(f"unknown simulator setting(s): {', '.join(unknown)}")
        return cls(**{**base, **overrides})

    def _window(self, date: dt.date) -> FestivalWindow | None:
        """The window with the largest multiplier containing `date`, if any."""
        inside = [w for w in self.festival_windows if w[0] <= date <= w[1]]
        return max(inside, key=lambda w: w[2]) if inside else None

    def festival_multiplier(self, date: dt.date) -> float:
        """The demand multiplier of a journey date (1 outside every window)."""
        window = self._window(date)
        return window[2] if window else 1.0

    def season(self, date: dt.date) -> str:
        """"ordinary", or the name of the window a journey date falls in ("diwali", "summer", ...)."""
        window = self._window(date)
        return window[3] if window else "ordinary"

    def wl_cap(self, journey_class: str, capacity: int) -> int:
        """The general waiting-list limit of a class; beyond it bookings are REGRET."""
        if self.wl_caps is not None:
            return int(self.wl_caps.get(journey_class, 300))
        ac = journey_class not in ("SL", "2S", "FC")
        return max(1, int(capacity * (self.wl_cap_fraction_ac if ac else self.wl_cap_fraction_non_ac)))
