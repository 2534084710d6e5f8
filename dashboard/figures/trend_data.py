"""The numbers behind the overview's trend, without plotly: which exposures
are drawn one by one, the binned envelope of the many OK ones, the control
lines broken at gaps, the pinned off-scale factors and the marginal
histogram's bins.

Everything here takes and returns numpy arrays (or small dataclasses of
them): `reduce_trend` is the whole reduction of one filter's table, and
`dashboard.figures.trends` turns its result into plotly traces. The policy
of what is drawn at survey size (480,000 factors, a figure the browser
redraws in ~100 ms):

* flagged, drifting and reviewed exposures are drawn one by one, the
  ``max_shown`` worst when there are more, an even share per kind
  (`worst_rows`, `fair_shares`);
* OK exposures one by one up to ``max_points``, beyond that as a binned
  median with its 1-99 % envelope (`binned_quantiles`);
* factors beyond the robust y range pinned at its edge (`pin_off_scale`);
* no line across a gap of more than `GAP_DAYS` (`broken_at_gaps`).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from relphot_core.mjd import datetime_to_mjd
from relphot_core.status import STATUS_ORDER, Status

X_COLUMNS = ("mjd_obs", "obs_id")
"""The abscissae of the trend: time (drawn as UTC dates) or observation id."""

WANTED = ("obs_id", "exposure", "mjd_obs", "value", "error", "status", "reason", "review_decision", "reviewer",
          "flag", "flag_reason", "running_median", "control_low", "control_high")
"""The columns of a ``Store.trend`` table the trend uses (others are ignored)."""

UNIX_EPOCH_MJD = datetime_to_mjd(datetime(1970, 1, 1, tzinfo=timezone.utc))
"""MJD of 1970-01-01T00:00 UTC (40587): plotly's date axes take numbers as
milliseconds since then."""

GAP_DAYS = 30.0
"""No line is drawn across a gap longer than this (days) between exposures
(`relphot_core.config.Control.max_gap_days`: the control charts restart there too)."""

FLAG_LABEL = "other flag"
"""The legend's name of the rings: a control-chart alarm, a flagged
detector or a disagreement with the global solution (the hover says which)."""

WORST_GROUPS = (Status.FAIL.value, Status.NODATA.value, Status.WARN.value, FLAG_LABEL, "reviewed")
"""The kinds of exposure drawn one by one, ranked in this order."""


def mjd_to_epoch_ms(mjd: np.ndarray) -> np.ndarray:
    """Milliseconds since 1970-01-01 UTC of MJDs (NaN stays NaN): the
    numbers a plotly date axis reads as UTC moments.

    Examples
    --------
    >>> float(mjd_to_epoch_ms(np.array([40588.5]))[0])
    129600000.0
    """
    return (np.asarray(mjd, dtype=float) - UNIX_EPOCH_MJD) * 86_400_000.0


def mjd_to_text(mjd: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD HH:MM`` (UTC) of MJDs, vectorised; empty for NaN.

    Examples
    --------
    >>> mjd_to_text(np.array([60700.5, np.nan])).tolist()
    ['2025-01-25 12:00', '']
    """
    ms = mjd_to_epoch_ms(mjd)
    finite = np.isfinite(ms)
    moments = np.zeros(ms.shape, dtype="datetime64[ms]")
    moments[finite] = ms[finite].round().astype(np.int64).astype("datetime64[ms]")
    text = np.datetime_as_string(moments, unit="m").astype(object)
    text = np.char.replace(text.astype(str), "T", " ").astype(object)
    text[~finite] = ""
    return text


ROBUST_SPAN = 4.0
"""The robust y range reaches at most 1 +- ROBUST_SPAN x the FAIL level."""


def factor_range(values: np.ndarray, errors: np.ndarray | None, *, fail: float,
                 fit_all: bool = True) -> list[float]:
    """A y range that shows both FAIL bands and the values (with their
    error bars): every value with ``fit_all``, else only those within
    1 +- `ROBUST_SPAN` x ``fail`` (one extreme factor then does not squash
    the others into a line; `off_scale` tells which are beyond)."""
    values = np.asarray(values, dtype=float)
    lo, hi = 1 - 2 * fail, 1 + 2 * fail
    finite = np.isfinite(values)
    if finite.any():
        err = np.zeros_like(values) if errors is None else np.nan_to_num(np.asarray(errors, dtype=float))
        low, high = (values - err)[finite], (values + err)[finite]
        if not fit_all:
            limit = ROBUST_SPAN * fail
            low, high = np.maximum(low, 1 - limit), np.minimum(high, 1 + limit)
        lo = min(lo, float(np.min(low)))
        hi = max(hi, float(np.max(high)))
    pad = 0.06 * (hi - lo)
    return [lo - pad, hi + pad]


def off_scale(values: np.ndarray, y_range: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the finite values below and above a y range."""
    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        return values < y_range[0], values > y_range[1]


def to_float_array(series) -> np.ndarray:
    """A float numpy array with None (or any non-number) turned into NaN."""
    return pd.to_numeric(pd.Series(series), errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def floats(values: np.ndarray) -> np.ndarray:
    """A float array as is; other arrays (None for missing) converted."""
    return values if getattr(values, "dtype", None) is not None and values.dtype.kind == "f" else to_float_array(values)


def status_codes(status: pd.Series) -> np.ndarray:
    """Index in `STATUS_ORDER` of each row's status (``len(STATUS_ORDER)`` if unknown)."""
    unknown = len(STATUS_ORDER)
    if isinstance(status.dtype, pd.CategoricalDtype):
        lut = np.array([STATUS_ORDER.index(c) if c in STATUS_ORDER else unknown
                        for c in status.cat.categories] + [unknown], dtype=np.int8)
        return lut[status.cat.codes.to_numpy()]
    return status.map({name: i for i, name in enumerate(STATUS_ORDER)}).fillna(unknown).to_numpy(dtype=np.int8)


def _column(series: pd.Series) -> np.ndarray | pd.Categorical:
    """A column as a numpy array, or as a `pandas.Categorical` (whose
    indexing and comparisons work on its integer codes: 100x cheaper than an
    array of Python strings at survey size)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.array
    return series.to_numpy()


def trend_columns(df: pd.DataFrame, x: str) -> dict[str, np.ndarray]:
    """The columns the trend needs (`WANTED`), sorted along ``x``, with
    ``code`` (`status_codes`), float ``value`` / ``error``, boolean
    ``flag`` and ``reviewed``."""
    cols = {c: _column(df[c]) for c in WANTED if c in df.columns}
    cols["code"] = status_codes(df["status"])
    cols["value"] = floats(cols["value"])
    cols["error"] = floats(cols["error"]) if "error" in cols else np.full(len(df), np.nan)
    flag = cols.get("flag")
    if flag is None:
        cols["flag"] = np.zeros(len(df), dtype=bool)
    elif flag.dtype != bool:
        cols["flag"] = np.where(pd.isna(flag), False, flag).astype(bool)
    decision = cols.get("review_decision")
    cols["reviewed"] = ~pd.isna(decision) if decision is not None else np.zeros(len(df), dtype=bool)
    xs = cols[x]
    if len(xs) > 1 and not np.all(xs[1:] >= xs[:-1]):
        order = np.lexsort((cols["exposure"], xs))
        cols = {k: v[order] for k, v in cols.items()}
    return cols


def chart_columns(chart: pd.DataFrame, x: str) -> dict[str, np.ndarray]:
    """x, ``mjd_obs`` and the control chart's columns of ``chart``, sorted along x."""
    cols = {c: chart[c].to_numpy(dtype=float, na_value=np.nan)
            for c in dict.fromkeys((x, "mjd_obs", "running_median", "control_low", "control_high"))
            if c in chart.columns}
    xs = cols.get(x)
    if xs is not None and len(xs) > 1 and not np.all(xs[1:] >= xs[:-1]):
        order = np.argsort(xs, kind="stable")
        cols = {k: v[order] for k, v in cols.items()}
    return cols


def decimate(n: int, limit: int) -> slice:
    """A step slice keeping at most about ``limit`` of ``n`` items, evenly spread."""
    return slice(None, None, max(1, int(np.ceil(n / limit))))


@dataclass(frozen=True)
class Envelope:
    """Binned quantiles of y along x (one entry per non-empty bin)."""

    x: np.ndarray
    """Mean x of each bin."""
    low: np.ndarray
    """1 % quantile."""
    median: np.ndarray
    high: np.ndarray
    """99 % quantile."""


def binned_quantiles(xs: np.ndarray, ys: np.ndarray, n_bins: int) -> Envelope | None:
    """Median and 1-99 % envelope of ``ys`` in ``n_bins`` equal bins of
    ``xs`` (vectorised: one sort, no loop over bins). Non-finite pairs are
    skipped; None when none is left. A bin's quantile q is its
    ``floor(q (n - 1))``-th smallest value."""
    xs = np.asarray(xs, dtype=float)
    ys = np.asarray(ys, dtype=float)
    finite = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[finite], ys[finite]
    if xs.size == 0:
        return None
    start, width = xs.min(), (xs.max() + 1e-9 - xs.min()) / n_bins
    index = np.clip(((xs - start) / width).astype(np.int64), 0, n_bins - 1)  # equal bins: no search
    # Sorting by bin, then y, as one sort of keys bin + fraction of y (5x
    # faster than an argsort); y comes back from the fraction.
    low_y, scale = float(ys.min()), (float(ys.max() - ys.min()) or 1.0) * (1 + 1e-9)
    if np.isfinite(scale) and scale < 1e3:  # key precision ~1e-16 x scale: exact for factors
        keys = np.sort(index + (ys - low_y) / scale)
        ys_sorted = low_y + (keys - np.floor(keys)) * scale
    else:  # absurd values among the OK ones: the exact, slower sort
        ys_sorted = ys[np.lexsort((ys, index))]
    counts = np.bincount(index, minlength=n_bins)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    full = counts > 0
    counts, starts = counts[full], starts[full]

    def quantile(q: float) -> np.ndarray:
        return ys_sorted[starts + np.floor(q * (counts - 1)).astype(int)]

    mid = np.bincount(index, weights=xs, minlength=n_bins)[full] / counts
    return Envelope(x=mid, low=quantile(0.01), median=quantile(0.5), high=quantile(0.99))


def broken_at_gaps(xs: np.ndarray, times: np.ndarray | None, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y of a line with a NaN inserted after each gap of more than
    `GAP_DAYS` in ``times`` (MJD, in the order of the points; plotly does
    not join across a NaN). Without times, the line as is.

    Examples
    --------
    >>> xs, ys = broken_at_gaps(np.array([1., 2., 90.]), np.array([1., 2., 90.]), np.ones(3))
    >>> xs.tolist()
    [1.0, 2.0, nan, 90.0]
    """
    xs = np.asarray(xs, dtype=float)
    if times is None or xs.size < 2:
        return xs, ys
    t = np.asarray(times, dtype=float)
    with np.errstate(invalid="ignore"):
        gaps = np.flatnonzero(np.diff(t) > GAP_DAYS) + 1
    if gaps.size == 0:
        return xs, ys
    return np.insert(xs, gaps, np.nan), np.insert(np.asarray(ys, dtype=float), gaps, np.nan)


@dataclass(frozen=True)
class Line:
    """A line of the trend: its name, role and points (NaN breaks it)."""

    name: str
    role: str
    """``median``, ``control`` (the limits), or ``dither`` (a dither's running median)."""
    x: np.ndarray
    y: np.ndarray
    dither: int | None = None


def control_lines(cols: dict[str, np.ndarray], x: str, *, max_points: int = 400) -> list[Line]:
    """The running median and its control limits (at most ``max_points``
    points each, broken at gaps of weeks)."""
    if "running_median" not in cols or x not in cols:
        return []
    median = floats(cols["running_median"])
    finite = np.isfinite(median)
    rows = np.flatnonzero(finite)[decimate(int(finite.sum()), max_points)]
    if rows.size == 0:
        return []
    times = cols["mjd_obs"][rows] if "mjd_obs" in cols else None
    lines = [Line("running median", "median", *broken_at_gaps(cols[x][rows], times, median[rows]))]
    for column in ("control_high", "control_low"):
        if column in cols:
            lines.append(Line(column, "control", *broken_at_gaps(cols[x][rows], times, floats(cols[column][rows]))))
    return lines


def dither_lines(cols: dict[str, np.ndarray], x: str, *, max_points: int = 400) -> list[Line]:
    """A running median of QPRELEX per dither position (at most
    ``max_points`` points each, broken at gaps): a drifting dither shows as
    its own line leaving 1, where the pooled median of all dithers stays put.

    The window is 1/50 of the dither's exposures, 5 to 400 (a few days of
    a survey), centred."""
    if "exposure" not in cols or x not in cols:
        return []
    values = floats(cols["value"])
    lines = []
    for dither in np.unique(cols["exposure"]):
        idx = np.flatnonzero((cols["exposure"] == dither) & np.isfinite(values))
        if idx.size < 2:
            continue
        window = int(np.clip(idx.size // 50, 5, 400))
        median = pd.Series(values[idx]).rolling(window, center=True, min_periods=max(1, window // 3)).median()
        pick = np.arange(idx.size)[decimate(idx.size, max_points)]
        rows = idx[pick]
        times = cols["mjd_obs"][rows] if "mjd_obs" in cols else None
        xs, ys = broken_at_gaps(cols[x][rows], times, median.to_numpy()[pick])
        lines.append(Line(f"dither {int(dither)} median", "dither", xs, ys, dither=int(dither)))
    return lines


def fair_shares(sizes: np.ndarray, limit: int) -> np.ndarray:
    """How many of each group to keep: at most ``limit`` in all, shared as
    evenly as the groups allow (a small group keeps all its members and
    leaves the rest of its share to the larger ones).

    Examples
    --------
    >>> fair_shares(np.array([3, 100, 100]), 53).tolist()
    [3, 25, 25]
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if sizes.sum() <= limit:
        return sizes
    # water-filling: the smallest groups, while they fit in an even split
    # of what is left, are kept whole; the others get that split
    left, level = limit, 0
    for taken, size in enumerate(np.sort(sizes)):
        others = sizes.size - taken
        if size * others > left:
            level = left // others
            break
        left -= size
    shares = np.minimum(sizes, level)
    extra = limit - int(shares.sum())
    for index in np.argsort(-sizes, kind="stable")[:extra]:
        shares[index] += 1
    return shares


def ringed(cols: dict[str, np.ndarray]) -> np.ndarray:
    """Flags beyond the status drawn as rings (``flag``: a control-chart
    alarm, a flagged detector, a cross-check), on OK or WARN exposures. A
    FAIL or NODATA exposure is flagged already; on an OK or WARN one the
    ring is what flags it (and makes it a kind of its own in `worst_rows`)."""
    quiet = np.isin(cols["code"], [Status.OK.rank, Status.WARN.rank])
    return cols["flag"] & quiet


def worst_rows(cols: dict[str, np.ndarray], candidates: np.ndarray, limit: int) -> np.ndarray:
    """Mask of the (at most ``limit``) candidate rows to draw one by one.

    The candidates are FAIL, NODATA and WARN exposures, other flags
    (`ringed`, WARN ones included) and reviewed exposures of the other
    statuses (`WORST_GROUPS`). Beyond the limit each group keeps a fair
    share (`fair_shares`), its members farthest from 1 first (NODATA ones,
    without a value, spread along the series): every kind of flag stays on
    the plot, however many of another kind there are (thousands of WARN at
    survey size, or reviews accumulating over a survey, do not crowd out
    the rare drift alarm or FAIL)."""
    if candidates.sum() <= limit:
        return candidates
    group = np.full(candidates.size, len(WORST_GROUPS), dtype=np.int8)
    for position, status in enumerate(WORST_GROUPS[:3]):
        group[cols["code"] == Status(status).rank] = position
    group[ringed(cols)] = 3
    group[cols["reviewed"] & (group == len(WORST_GROUPS))] = 4
    group[~candidates] = len(WORST_GROUPS)
    deviation = np.nan_to_num(np.abs(cols["value"] - 1.0), nan=np.inf)
    idx = np.flatnonzero(candidates)
    order = idx[np.lexsort((-deviation[idx], group[idx]))]  # by group, worst first within each
    sizes = np.bincount(group[idx], minlength=len(WORST_GROUPS))[:len(WORST_GROUPS)]
    shares = fair_shares(sizes, limit)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    shown = np.zeros(candidates.size, dtype=bool)
    nodata = WORST_GROUPS.index(Status.NODATA.value)
    for position, (start, size, share) in enumerate(zip(starts, sizes, shares)):
        if position == nodata and share < size:
            # no value, no "worst": spread over the series instead (the
            # rows are in x order within the group)
            members = np.sort(order[start:start + size])
            shown[members[np.linspace(0, size - 1, share).round().astype(np.int64)]] = True
        else:
            shown[order[start:start + share]] = True
    return shown


PIN_INSET = 0.015
"""Off-scale factors are drawn this fraction of the y span inside the edge."""


def pin_off_scale(values: np.ndarray, y_range: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values to draw, with those beyond ``y_range`` pinned just inside its
    edge; and the masks of the values below and above the range.

    Examples
    --------
    >>> drawn, below, above = pin_off_scale(np.array([0.5, 1.0, np.nan]), [0.9, 1.1])
    >>> np.round(drawn, 3).tolist(), below.tolist(), above.tolist()
    ([0.903, 1.0, nan], [True, False, False], [False, False, False])
    """
    values = np.asarray(values, dtype=float)
    below, above = off_scale(values, y_range)
    span = y_range[1] - y_range[0]
    drawn = np.where(below, y_range[0] + PIN_INSET * span, np.where(above, y_range[1] - PIN_INSET * span, values))
    return drawn, below, above


def bin_count(values: np.ndarray, span: float) -> int:
    """Bins over ``span``: the finer of 2 sqrt(N) and the Freedman-Diaconis
    width (which follows a narrow core among a few outliers), 20 to 160."""
    n = values.size
    if n >= 6400:  # 2 sqrt(N) is at the cap already
        return 160
    bins = 2 * np.sqrt(n)
    if n >= 8:
        q25, q75 = np.percentile(values, [25, 75])
        if q75 > q25:
            bins = max(bins, span / (2 * (q75 - q25) / np.cbrt(n)))
    return int(np.clip(bins, 20, 160))


def zone_edges(low: float, high: float, width: float, thresholds: list[float]) -> np.ndarray:
    """Bin edges from ``low`` to ``high``, at most ``width`` apart, with
    every threshold inside the range an edge: no bin straddles two zones of
    |QPRELEX - 1|. (A bin of the WARN zone may still hold OK factors: WARN
    also asks for ``warn_nsigma`` errors from 1; and a factor exactly on a
    threshold counts in the bin above it.)"""
    stops = [low] + sorted(t for t in thresholds if low < t < high) + [high]
    parts = [np.linspace(a, b, max(1, int(np.ceil((b - a) / width - 1e-9))) + 1)[:-1]
             for a, b in itertools.pairwise(stops)]
    return np.append(np.concatenate(parts), high)


@dataclass(frozen=True)
class FactorHistogram:
    """The distribution of the factors along the trend's y axis."""

    edges: np.ndarray
    counts: np.ndarray
    zone: np.ndarray
    """Per bin: 0 OK, 1 WARN, 2 FAIL (of the bin's centre)."""
    beyond: int
    """Finite factors outside the bins."""
    span: float
    """The bins cover at most 1 +- ``span``."""

    @property
    def log(self) -> bool:
        """Whether the counts need a log axis (a bin of more than 1000)."""
        return bool(self.counts.size and self.counts.max() > 1000)


def factor_histogram(values: np.ndarray, y_range: list[float], *, warn: float, fail: float) -> FactorHistogram:
    """Bins of the finite ``values`` over the y range, but never beyond
    1 +- 3 ``fail`` (one far outlier would otherwise make the bins too
    coarse to show the core), with the WARN and FAIL thresholds as edges
    (`zone_edges`, `bin_count`)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    low, high = max(y_range[0], 1 - 3 * fail), min(y_range[1], 1 + 3 * fail)
    width = (high - low) / bin_count(values[(values >= low) & (values <= high)], high - low)
    edges = zone_edges(low, high, width, [1 - fail, 1 - warn, 1 + warn, 1 + fail])
    inside = (values >= edges[0]) & (values <= edges[-1])
    counts, _ = np.histogram(values[inside], bins=edges)
    deviation = np.abs(0.5 * (edges[:-1] + edges[1:]) - 1)
    zone = np.where(deviation > fail, 2, np.where(deviation > warn, 1, 0))
    return FactorHistogram(edges=edges, counts=counts, zone=zone, beyond=int(values.size - np.count_nonzero(inside)),
                           span=3 * fail)


@dataclass(frozen=True)
class PointGroup:
    """Rows of the table drawn as one kind of marker.

    ``kind`` is a status (``OK``, ``WARN``, ...), ``FLAG_LABEL`` (rings),
    ``reviewed: confirmed`` / ``reviewed: overruled`` (squares) or
    ``OK dither N`` (OK points by dither)."""

    kind: str
    rows: np.ndarray
    """Indexes into the columns of `TrendData`, in x order."""
    total: int
    """How many exposures of this kind the selection holds (drawn or not)."""
    dither: int | None = None


@dataclass
class TrendData:
    """The reduction of one filter's trend (see `reduce_trend`)."""

    cols: dict[str, np.ndarray]
    """The table's columns (`trend_columns`), sorted along ``x``."""
    x: str
    y_range: list[float]
    y_nodata: float
    """Where NODATA exposures (no value) are drawn: near the bottom."""
    drawn_y: np.ndarray
    """Each row's y as drawn (`pin_off_scale`: off-scale ones at the edge)."""
    below: np.ndarray
    above: np.ndarray
    groups: list[PointGroup]
    envelope: Envelope | None
    """Binned OK factors (when more than ``max_points``), else None."""
    n_binned: int
    """OK exposures in the envelope's count (all OK ones when binned)."""
    lines: list[Line]
    histogram: FactorHistogram
    n_candidates: int
    """Flagged, drifting or reviewed exposures..."""
    n_shown: int
    """...and how many of them are drawn one by one."""
    has_nodata: bool = False
    off_scale_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def n_hidden(self) -> int:
        """Flagged exposures left out of the drawing (the cap)."""
        return self.n_candidates - self.n_shown


def reduce_trend(df: pd.DataFrame | None, *, warn: float, fail: float, x: str = "mjd_obs", max_points: int = 3000,
                 n_bins: int = 300, max_shown: int = 250, chart: pd.DataFrame | None = None, by: str = "status",
                 fit_all: bool = False) -> TrendData | None:
    """What the trend of one filter draws (see `dashboard.figures.trends.trend_figure`
    for the parameters); None when ``df`` is empty.

    Raises
    ------
    ValueError
        When ``x`` is not one of `X_COLUMNS`.
    """
    if x not in X_COLUMNS:
        raise ValueError(f"x must be one of {sorted(X_COLUMNS)}, not {x!r}")
    if df is None or len(df) == 0:
        return None
    cols = trend_columns(df, x)
    values, errors, codes = cols["value"], cols["error"], cols["code"]
    y_range = factor_range(values, errors, fail=fail, fit_all=fit_all)
    y_nodata = y_range[0] + 0.04 * (y_range[1] - y_range[0])
    drawn_y, below, above = pin_off_scale(values, y_range)
    if by == "dither":  # a running median per dither position instead of the pooled one
        lines = dither_lines(cols if chart is None else trend_columns(chart, x), x)
    else:
        lines = control_lines(cols if chart is None else chart_columns(chart, x), x)
    ok_code, nodata_code = Status.OK.rank, Status.NODATA.rank
    candidates = (codes != ok_code) | cols["flag"] | cols["reviewed"]
    shown = worst_rows(cols, candidates, max_shown)
    groups: list[PointGroup] = []
    envelope, n_binned = None, 0
    for status in STATUS_ORDER:
        mask = codes == status.rank
        total = int(mask.sum())
        if not total:
            continue
        if status == Status.OK and total > max_points:
            plain = mask & ~shown
            envelope, n_binned = binned_quantiles(cols[x][plain], values[plain], n_bins), total
            mask = mask & shown
        elif status != Status.OK:
            mask = mask & shown
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            continue
        if status == Status.OK and by == "dither":  # the OK points in their dither's colour
            dithers = cols["exposure"][rows]
            for dither in np.unique(dithers):
                part = rows[dithers == dither]
                groups.append(PointGroup(f"OK dither {int(dither)}", part, part.size, dither=int(dither)))
            continue
        groups.append(PointGroup(status.value, rows, total))
    decision = cols.get("review_decision")
    for mask, kind in ((ringed(cols), FLAG_LABEL),
                       (cols["reviewed"] & (decision == "confirmed") if decision is not None else None,
                        "reviewed: confirmed"),
                       (cols["reviewed"] & (decision == "overruled") if decision is not None else None,
                        "reviewed: overruled")):
        if mask is None or not (mask & shown).any():
            continue
        rows = np.flatnonzero(mask & shown)
        groups.append(PointGroup(kind, rows, rows.size))
    histogram = factor_histogram(values[codes != nodata_code], y_range, warn=warn, fail=fail)
    return TrendData(cols=cols, x=x, y_range=y_range, y_nodata=y_nodata, drawn_y=drawn_y, below=below, above=above,
                     groups=groups, envelope=envelope, n_binned=n_binned, lines=lines, histogram=histogram,
                     n_candidates=int(candidates.sum()), n_shown=int(shown.sum()),
                     has_nodata=bool((codes == nodata_code).any()),
                     off_scale_rows=np.flatnonzero(below | above))
