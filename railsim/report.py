"""Regenerate docs/simulator.md and docs/simulator-waitlists.png: a run's statistics beside the published figures.

    python -m railsim.report [--docs DIR] [--step DAYS]

Simulates every train on a date every STEP days of 2016 (the default config's year) and on the
Diwali and Holi weeks, then writes the page and the plot. Deterministic for a given seed.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import itertools
import sys
import time
from pathlib import Path

from . import calibrate, pnrmap
from .config import ERA_2013_FIT, SimConfig
from .railway import Railway
from .render import Answer, status_text
from .stats import BUCKETS, Stats, bucket_label, collect
from .trains import load_trains

DOCS = Path(__file__).resolve().parents[1] / "docs"
YEAR = 2016
FESTIVAL_DATES = [dt.date(2016, 10, 21) + dt.timedelta(days=3 * i) for i in range(6)] + [dt.date(2016, 3, 20), dt.date(2016, 3, 23)]
PLOT_NOW = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)  # when the sample PNRs are picked
PLOT_PNRS = 6
# Kaggle "Railway Waitinglist Dataset" (DOMAIN §1.12 a): confirmed share by booking WL bucket and class.
KAGGLE_BUCKETS = {"1-5": 32.7, "6-10": 23.4, "11-20": 19.0, "21-40": 15.2, "41-60": 11.7, "61-90": 7.3,
                  "91-120": 4.0, "121-200": 2.5, "201+": "0.9 / 0.4"}
KAGGLE_CLASSES = {"SL": 8.7, "2A": 11.5, "3A": 14.3, "1A": 19.8, "CC": 27.3, "2S": 27.0}
KAGGLE_ORDER = ("SL", "2A", "3A", "1A", "CC")  # DOMAIN §3.6 item 3 (2S and CC are level in the data)


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _bucket_row(stats: Stats, b: int) -> str:
    keys = [(c, "GNWL", b) for c in ("SL", "3A", "2A", "1A", "CC", "EC", "2S")]
    n = sum(stats.by_bucket.n[k] for k in keys)
    cnf = sum(stats.by_bucket.cnf[k] for k in keys)
    rac = sum(stats.by_bucket.rac[k] for k in keys)
    label = bucket_label(b)
    return f"| {label} | {n} | {_pct(cnf / n) if n else '-'} | {_pct((cnf + rac) / n) if n else '-'} | {KAGGLE_BUCKETS[label]} % |"


def _ordered(stats: Stats) -> bool:
    rates = [stats.by_class.rate(c, False) for c in KAGGLE_ORDER]
    return all(a < b for a, b in itertools.pairwise(rates))


def _type_rate(stats: Stats, jclass: str, wl: str) -> str:
    keys = [(jclass, wl, b) for b in range(len(BUCKETS))]
    n = sum(stats.by_bucket.n[k] for k in keys)
    hits = sum(stats.by_bucket.cnf[k] + stats.by_bucket.rac[k] for k in keys)
    return f"{_pct(hits / n)} ({n})" if n else "-"


def real_curves(sample: list[dt.date]) -> list[str]:
    """The section on the 2013 era against the original pnr.me's lookups (a note when they are absent)."""
    lines = ["## Against real 2013 lookups (era \"2013\")", ""]
    if not calibrate.prediction_file().exists():
        return lines + [f"Not generated: the real lookups ({calibrate.SOURCE}) were not found beside the repository.", ""]
    lookups = calibrate.real_lookups()
    hours = calibrate.observation_hours(lookups)
    before_config = SimConfig.for_era("2013", **calibrate.BEFORE_FIT)
    after_config = SimConfig.for_era("2013")
    before = calibrate.compare(lookups, calibrate.simulate(before_config, hours))
    after = calibrate.compare(lookups, calibrate.simulate(after_config, hours))
    worst = max((g for g in after if g.kind in calibrate.MARGINALS), key=lambda g: abs(g.gap))
    worst_cell = max((g for g in after if g.kind not in (*calibrate.MARGINALS, "all")), key=lambda g: abs(g.gap))
    marginal = [g for g in after if g.kind in calibrate.MARGINALS]
    cells = [g for g in after if g.kind not in (*calibrate.MARGINALS, "all")]
    flat_marginal, n_marginal = sum(abs(g.gap) <= calibrate.TOLERANCE for g in marginal), len(marginal)
    flat_cells, n_cells = sum(abs(g.gap) <= calibrate.TOLERANCE for g in cells), len(cells)
    beyond = ", ".join(f"{g.kind} {g.name} ({100 * g.gap:+.0f})" for g in marginal if abs(g.gap) > calibrate.TOLERANCE)
    dates = [d.replace(year=2013) for d in sample]
    stats = {name: collect(config, load_trains(), dates) for name, config in (("before", before_config), ("after", after_config))}
    lines += [
        ("The simulator's 2013 era is fitted to the clearance of the original pnr.me's own lookups "
         f"({calibrate.SOURCE}; `../shared/realdata/salilpa-pnr_predictor/db/prediction.bson`, read at run time, "
         f"never copied): the {len(lookups)} labelled lookups of journeys boarding before 2013-11-21 (the 20 RSWL "
         "rows have no simulated queue). \"Cleared\" is CNF or RAC by departure; the WL is the current one at the "
         "lookup. Each lookup names a cell, class x queue x current-WL bucket x hours-before-departure bucket; "
         "the simulator's rate for the cell is the share of its waitlisted passengers seen in that cell who are CNF "
         "or RAC after the chart (seen after the chart, only those still waitlisted show a WL number, so they count "
         "as not cleared). A group's simulated figure is the mean of its lookups' cell rates, so both columns weigh "
         "the cells alike. Cells with fewer than "
         f"{calibrate.MIN_CELL} simulated observations use the rate pooled over classes. Simulated: every class of "
         f"every train on each of the {len(calibrate.JOURNEY_DATES)} real journey dates (2013-10-27 to 11-20, "
         "Diwali inside), passengers seen at quantiles of the real lookups' hours in each bucket. Hours are before "
         "departure from the origin: the 2013 chart is 4 h before an afternoon or evening departure and at 20:00 "
         "the evening before a morning one, so `charted_journeys`' `hours_to_chart` is hours before departure "
         "less 4 h (afternoon) or less the hours from 20:00 to departure (morning)."), "",
        ("**Tolerance** (held by `tests/railsim/test_real.py`): every group of at least "
         f"{calibrate.MIN_GROUP} real lookups, the marginal curves (by current WL, hours, class, queue) and every "
         f"two-way cell of them, within {100 * calibrate.TOLERANCE:.0f} points plus {calibrate.Z_MARGINAL:.0f} "
         f"(marginal) or {calibrate.Z_CELL:.0f} (two-way) binomial standard errors of the real rate: the real rates "
         "are samples too, a 50-lookup cell at 50 % has a 7-point error of its own. A flat "
         f"{100 * calibrate.TOLERANCE:.0f} points is met by {flat_marginal} of {n_marginal} marginal groups and "
         f"{flat_cells} of {n_cells} two-way cells; beyond it: {beyond}. "
         f"Largest marginal gap: {100 * worst.gap:+.1f} points ({worst.kind} {worst.name}: real "
         f"{100 * worst.real:.0f} %, simulator {100 * worst.sim:.0f} %); largest two-way gap "
         f"{100 * worst_cell.gap:+.1f} points ({worst_cell.kind} {worst_cell.name}, {worst_cell.n} lookups). "
         "The same run with seed 2014 moves the marginal figures by about 1 point (PQ by 1-2)."), "",
        ("What the fit does not reach, and why: the real clearance by hours is not monotone (73-168 h: 76 %, "
         "169-400 h: 65 %, at equal WL too), while in the simulator a passenger seen earlier always has more "
         "time for the list to move; the fit splits the difference, so 25-72 h and 73-168 h sit 11-12 points "
         "low and 169-400 h 8 high. 3A clears too easily and 2A too rarely: one hazard and one chart rule serve "
         "every class, and the simulated 3A probably moves more because it includes the big Garib Rath and "
         "Rajdhani rakes. PQWL and CK stay "
         "below the real rates even with a larger share of the released berths."), "",
        *calibrate.side_by_side(lookups, after, before), "",
        "### How the parameters were fitted", "",
        ("`python -m railsim.calibrate --fit --step 3`: a coordinate search over the parameters below "
         "(each moved up and down by 30 % of its value, the step halved after a sweep without gain, within "
         "bounds), on every third real journey date, minimising the squared gaps weighted by real lookups (marginal "
         "curves counted twice). The simulator is seeded, so every evaluation sees the same draws (common random "
         "numbers). The hazard is searched as its far level h0 and its level just before departure "
         "h0 (1 + beta), so that either can move alone. The structural change that made "
         "the fit possible: at the chart the released berths were served to GN first, then RL, PQ, TQ, so on a "
         "Diwali day RLGN, PQWL and CK lists got nothing (simulated RL 7 %, real 61 %). RLGN is the remote "
         "location's *general* quota, and in 2013 it cleared like GNWL; the 2013 era now shares the released "
         "berths between the lists in proportion to weight x unmet demand (`chart_pool_weights`; GN and RL 1). "
         "Eras 2015 and 2025 keep the old serve order: these lookups say nothing about them."), "",
        "| Setting (era 2013) | Before | Fitted |", "|---|---|---|",
        *(f"| `{k}` | {calibrate.BEFORE_FIT[k]!r} | {v!r} |" for k, v in ERA_2013_FIT.items()), "",
        "### Where the published figures and the real curves disagree", "",
        ("The real waitlists move much more than the published averages imply. To clear current WL 81-160 "
         "40 % of the time and WL 161+ 22 %, the cancellation hazard has to be about twice the one that gives the "
         "Railway Board's \"about 21 %\" (DOMAIN §3.4 expected 15-20 % under a 60-day reservation period). The "
         "fit follows the real curves; the published shares of the 2013 era, every train on the dates of 2013 a "
         f"{(sample[1] - sample[0]).days}-day step apart, before and after:"), "",
        "| Era 2013 statistic | Before the fit | Fitted | Published / tested (era 2015) |", "|---|---|---|---|",
        (f"| Booked passengers cancelling before the chart | {_pct(stats['before'].share(stats['before'].cancelled))} | "
         f"{_pct(stats['after'].share(stats['after'].cancelled))} | about 21 %; 18-24 % |"),
        (f"| WL passengers left at the chart / booked, ordinary days | {_pct(stats['before'].share(stats['before'].unmet, ['ordinary']))} | "
         f"{_pct(stats['after'].share(stats['after'].unmet, ['ordinary']))} | 8.9 %; 3-10 % |"),
        *(f"| {c} WL passengers: CNF / RAC or better | {_pct(stats['before'].by_class.rate(c, False))} / "
          f"{_pct(stats['before'].by_class.rate(c))} | {_pct(stats['after'].by_class.rate(c, False))} / "
          f"{_pct(stats['after'].by_class.rate(c))} | 10-40 % / 60-90 % |" for c in ("SL", "3A")),
        (f"| Passengers per WL PNR auto-cancelled | {stats['before'].pax_per_autocancelled_pnr:.2f} | "
         f"{stats['after'].pax_per_autocancelled_pnr:.2f} | 1.48-1.57; 1.45-1.65 |"),
        (f"| SL GNWL / RLWL, RAC or better | {_type_rate(stats['before'], 'SL', 'GNWL')} / {_type_rate(stats['before'], 'SL', 'RLWL')} | "
         f"{_type_rate(stats['after'], 'SL', 'GNWL')} / {_type_rate(stats['after'], 'SL', 'RLWL')} | GNWL above RLWL (§3.6 item 4) |"),
        "",
        ("The published-statistic tests hold era 2015, which these lookups do not describe, and are unchanged. "
         "Where era 2013 leaves a published range, the real curves win: they are what the original pnr.me's users "
         "saw, while the 21 % is a 2024 Railway Board figure for 120-day bookings and the ministry's 8.9 % is "
         "worded ambiguously (DOMAIN §1.12). The sample is users who checked their PNR in one autumn with Diwali "
         "in it, so the fitted era is a busy-season 2013, not a yearly average."), "",
    ]
    return lines


def page(year: Stats, festival: Stats, eras: dict[str, float], dates: int, real: list[str] | None = None) -> str:
    """The Markdown page of one run."""
    s = year
    lines = [
        "# The railway simulator: statistics of a run", "",
        ("Generated by `python -m railsim.report` (seed 2013, era \"2015\", the default settings) from "
         f"{s.inventories} simulated inventories: every class of all {len(load_trains())} trains on {dates} dates "
         f"spread over {YEAR}, plus {festival.inventories} inventories in the Diwali and Holi weeks. "
         "The published figures are those of `DOMAIN.md` §1.12 and §3.6; the tests in "
         "`tests/railsim/test_stats.py` hold the simulator to the ranges in the right-hand column."), "",
        "| Statistic | This run | Published figure | Tested range |", "|---|---|---|---|",
        f"| Booked passengers cancelling before the chart | {_pct(s.share(s.cancelled))} | about 21 % (Railway Board 2024) | 18-24 % |",
        f"| Passengers per WL PNR auto-cancelled at the chart | {s.pax_per_autocancelled_pnr:.2f} | 1.48-1.57 (RTI 2019-23) | 1.45-1.65 |",
        (f"| WL passengers left at the chart / booked, ordinary days | {_pct(s.share(s.unmet, ['ordinary']))} | "
         "8.9 % \"average decline\" (ministry) | 3-10 % |"),
        f"| ... in festival weeks | {_pct(festival.share(festival.unmet))} | 13.3 % at peak (ministry) | at least 13 % |",
    ]
    for jclass in ("SL", "3A"):
        lines.append(f"| {jclass} WL passengers: CNF / RAC or better at the chart | "
                     f"{_pct(s.by_class.rate(jclass, False))} / {_pct(s.by_class.rate(jclass))} | broad: 10-40 % / 60-90 % | same |")
    early = {t: s.gn_early[t] / s.gn_booked[t] for t in s.gn_booked}
    lines += [
        f"| GN bookings in the first 2 days, supersonic trains | {_pct(early['supersonic'])} | more than 40 % (Budhkar & Das) | > 40 % |",
        f"| Linearity (R²) of the subsonic booking curve | {s.curve_r2('subsonic'):.3f} | about linear | > 0.9 |",
        "", "## Confirmation by booking position (GNWL, all classes)", "",
        ("The Kaggle dataset's label is probably CNF only, and its PNRs were checked by worried passengers, "
         "so it sits below the simulator's CNF column; the shape, falling with the position, is what the tests hold."), "",
        "| Booking WL | Passengers | CNF at chart | RAC or better | Kaggle confirmed |", "|---|---|---|---|---|",
        *(_bucket_row(s, b) for b in range(len(BUCKETS))),
        "", "## By class", "",
        ("Classes without RAC convert waitlists straight to CNF, so their CNF share is higher at equal position "
         f"(DOMAIN §3.6 item 3). Kaggle's order of CNF shares, {' < '.join(KAGGLE_ORDER)}, "
         f"{'holds' if _ordered(s) else 'does not hold'} in this run."), "",
        "| Class | WL passengers | CNF | RAC or better | Kaggle confirmed |", "|---|---|---|---|---|",
    ]
    for jclass, kaggle in KAGGLE_CLASSES.items():
        lines.append(f"| {jclass} | {s.by_class.n[jclass]} | {_pct(s.by_class.rate(jclass, False))} | "
                     f"{_pct(s.by_class.rate(jclass))} | {kaggle} % |")
    lines += [
        "", "## By waiting list (RAC or better at the chart, passengers)", "",
        ("RailYatri on Rajdhanis: GNWL over 91 % confirmed, TQWL 30-75 %. The general list is served first at "
         "the chart and Tatkal lists move only on Tatkal cancellations before it."), "",
        "| Class | GNWL | RLWL | PQWL | TQWL |", "|---|---|---|---|---|",
        *(f"| {c} | " + " | ".join(_type_rate(s, c, w) for w in ("GNWL", "RLWL", "PQWL", "TQWL")) + " |"
          for c in ("SL", "3A", "2A", "CC", "2S")),
        "", "## Eras", "",
        ("Share of booked passengers cancelling before the chart, same dates (a 60-day reservation period "
         "leaves less time to cancel; DOMAIN §3.4 expects 15-20 % there, but era 2013 is fitted to real 2013 "
         "lookups, which need about twice the cancellations: see \"Against real 2013 lookups\" below):"), "",
        "| Era | Advance reservation | Cancelled |", "|---|---|---|",
        *(f"| {era} | {SimConfig.for_era(era).arp_days} days | {_pct(share)} |" for era, share in eras.items()),
        "", "## Waitlist movement of sample PNRs", "",
        "![Waitlist numbers of sample PNRs over the days before departure](simulator-waitlists.png)", "",
        ("Each line is the first passenger's current WL number from booking to the chart; the last step is the "
         "chart, where released quota berths move the whole list at once (DOMAIN §3.6 item 10)."), "",
    ]
    return "\n".join(lines + (real or []) + _settings())


def _settings() -> list[str]:
    """The settings table: every SimConfig field, overridable as Railway(seed, era, **overrides)."""
    lines = ["## Settings", "",
             ("Every number is a keyword of `Railway(seed=2013, era=\"2015\", **overrides)` "
              "(see `railsim/config.py`); the era sets the first group; `trains_file=` points at another train "
              "list than `railsim/data/trains.json`. Defaults of era \"2015\":"), "",
             "| Setting | Default |", "|---|---|"]
    config = SimConfig.for_era("2015")
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        shown = f"{len(value)} windows (Diwali, Durga Puja, Holi, summer; 2012-2030)" if field.name == "festival_windows" \
            else "per archetype and class, see config.py" if field.name == "quota_shares" else repr(value)
        lines.append(f"| `{field.name}` | {shown} |")
    return lines + [""]


def plot(source: Railway, path: Path) -> None:
    """Draw the WL number of a few sample PNRs against days before departure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, start = pnrmap.window_start(source.config, PLOT_NOW)
    window_end = start + dt.timedelta(days=source.config.window_days, minutes=-1)  # every sample journey is over
    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    for pnr in source.sample_pnrs(PLOT_NOW, PLOT_PNRS):
        history = source.history(pnr, window_end)
        xs, ys = [], []
        for status in history:
            seat = status.passengers[0][2]
            xs.append(_days_before(status))
            if seat.code == "CAN":
                break
            ys.append(seat.position or 0 if seat.code == "WL" else 0)
        end = history[-1].passengers[0][2]
        first = history[0]
        label = (f"{first.train.number} {first.journey_class}: {status_text(first.passengers[0][1], False)}"
                 f" -> {status_text(end, False)}")
        (line,) = ax.step(xs[: len(ys)], ys, where="post", label=label)
        if end.code == "CAN":
            ax.plot([xs[-1]], [ys[-1]], marker="x", color=line.get_color())
        elif end.code != "WL":
            ax.plot([xs[-1]], [0], marker="o", color=line.get_color())
    ax.invert_xaxis()
    ax.set_xlabel("days before departure")
    ax.set_ylabel("current WL number (0 = left the list: RAC or CNF)")
    ax.set_title("Sample PNRs: waitlist movement until the chart")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _days_before(status: Answer) -> float:
    return (status.departure - status.as_of).total_seconds() / 86400.0


def main(argv: list[str] | None = None) -> int:
    """Run the simulation and write the page and the plot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=DOCS, help="where to write (default: the repository's docs/)")
    parser.add_argument("--step", type=int, default=5, help="days between simulated dates")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    config = SimConfig.for_era("2015")
    trains = load_trains()
    dates = [dt.date(YEAR, 1, 2) + dt.timedelta(days=d) for d in range(0, 365, args.step)]
    year = collect(config, trains, dates)
    festival = collect(config, trains, FESTIVAL_DATES)
    sample = dates[:: max(1, len(dates) // 12)]
    eras = {era: collect(SimConfig.for_era(era), trains, sample) for era in ("2013", "2015", "2025")}
    shares = {era: st.share(st.cancelled) for era, st in eras.items()}
    real = real_curves(sample)
    args.docs.mkdir(parents=True, exist_ok=True)
    (args.docs / "simulator.md").write_text(page(year, festival, shares, len(dates), real), encoding="utf-8")
    plot(Railway(), args.docs / "simulator-waitlists.png")
    print(f"wrote {args.docs / 'simulator.md'} and simulator-waitlists.png in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
