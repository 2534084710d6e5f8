"""Compare two runs of the same sets: what a reprocessing changed.

A *choice of runs* (`RunChoice`) names one run per (observation, filter)
set: its current run, the one before it, the latest of a software version
or of a parameter digest, the one current at a date, or explicit run ids.
The store reads the factors of two choices
(`relphot_core.store.api.Store.choice_factors`); `compare_runs` pairs them
exposure by exposure and says what changed: the sets compared, the status
transitions, the size of the factor changes and the parameters that differ.

Sizes of a change, for an exposure with factors ``a`` (before) and ``b``
(after):

- ``delta`` = ``b - a`` (QPRELEX);
- ``delta_mmag`` = ``2.5 log10(a / b)`` in mmag (+ = the exposure now reads
  fainter, as ``dm`` everywhere in relphot);
- ``delta_sigma`` = ``|b - a| / QPRELEXE`` of the later run: the change in
  units of the error the new product carries (both runs read the same
  catalogues, so their errors are not independent and are not added).

Pure functions of data frames, no I/O.

Examples
--------
>>> RunChoice.parse("previous").describe()
"each set's run before its current one"
>>> RunChoice.parse("version:0.2.0").value
'0.2.0'
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from .errors import RelphotError
from .status import STATUS_ORDER

CHOICE_KINDS: tuple[str, ...] = ("current", "previous", "version", "params", "date", "runs")
"""The kinds of `RunChoice`: ``current``, ``previous`` (bare words) and
``version:V``, ``params:DIGEST``, ``date:ISO``, ``runs:ID,ID,...``."""

PERCENTILES: tuple[float, ...] = (50.0, 90.0, 99.0, 100.0)
"""The percentiles of ``|delta|`` reported (100 = the largest)."""

STATUSES: tuple[str, ...] = tuple(s.value for s in STATUS_ORDER)

FACTOR_COLUMNS: tuple[str, ...] = ("obs_id", "filter", "exposure", "run_id", "value", "error", "status")
"""The columns `compare_runs` needs of each side's factor table."""

RUN_COLUMNS: tuple[str, ...] = ("run_id", "software_version", "params_digest", "parameters", "created")
"""The columns `compare_runs` needs of each side's run table."""


class ChoiceError(RelphotError):
    """A choice of runs that cannot be read (the message says how to write one)."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"choice of runs '{text[:60]}'", reason)


@dataclass(frozen=True)
class RunChoice:
    """Which run of each set one side of a comparison takes.

    Attributes
    ----------
    kind : str
        One of `CHOICE_KINDS`.
    value : str
        The software version, the digest prefix, the ISO time, or the run
        ids (comma-separated); empty for ``current`` and ``previous``.
    """

    kind: str = "current"
    value: str = ""

    @classmethod
    def parse(cls, text: str) -> RunChoice:
        """Read ``current``, ``previous``, ``version:V``, ``params:DIGEST``,
        ``date:YYYY-MM-DD[THH:MM]`` or ``runs:ID,ID``.

        Raises
        ------
        ChoiceError
            Anything else (one line, with the accepted forms).
        """
        raw = str(text or "").strip()
        kind, _, value = raw.partition(":")
        kind, value = kind.strip().lower(), value.strip()
        forms = "use current, previous, version:V, params:DIGEST, date:YYYY-MM-DD or runs:ID,ID"
        if kind not in CHOICE_KINDS:
            raise ChoiceError(raw, forms)
        if kind in ("current", "previous"):
            if value:
                raise ChoiceError(raw, f"'{kind}' takes no value ({forms})")
            return cls(kind)
        if not value:
            raise ChoiceError(raw, f"'{kind}:' needs a value ({forms})")
        if kind == "date":
            choice_time(value, raw)
        if kind == "runs":
            ids = [part.strip() for part in value.split(",") if part.strip()]
            if not ids or not all(part.isascii() and part.isdigit() for part in ids):
                raise ChoiceError(raw, "runs: takes run ids (whole numbers) separated by commas")
            value = ",".join(str(int(part)) for part in ids)
        if kind == "params" and not all(c in "0123456789abcdef" for c in value.lower()):
            raise ChoiceError(raw, "params: takes a hexadecimal digest (or its first characters)")
        return cls(kind, value.lower() if kind == "params" else value)

    def __str__(self) -> str:
        return self.kind if not self.value else f"{self.kind}:{self.value}"

    @property
    def run_ids(self) -> list[int]:
        """The run ids of a ``runs:`` choice (empty otherwise)."""
        return [int(part) for part in self.value.split(",")] if self.kind == "runs" else []

    @property
    def time(self) -> datetime | None:
        """The time of a ``date:`` choice (UTC), else None."""
        return choice_time(self.value, str(self)) if self.kind == "date" else None

    def describe(self) -> str:
        """The choice in words."""
        return {
            "current": "each set's current run",
            "previous": "each set's run before its current one",
            "version": f"each set's latest run of software version {self.value}",
            "params": f"each set's latest run with parameter digest {self.value}...",
            "date": f"each set's latest run created before {self.value} (UTC)",
            "runs": f"runs {self.value}",
        }[self.kind]


def choice_time(value: str, raw: str = "") -> datetime:
    """An ISO 8601 time or date of a ``date:`` choice, as UTC (naive = UTC)."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ChoiceError(raw or value, "date: takes an ISO 8601 date or time, e.g. date:2026-03-01") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


@dataclass
class RunComparison:
    """What `compare_runs` found.

    Attributes
    ----------
    exposures : pandas.DataFrame
        One row per exposure present in both runs of a compared set:
        obs_id, filter, exposure, run_before, run_after, value_before,
        value_after, error_before, error_after, status_before, status_after,
        delta, delta_mmag, delta_sigma (NaN when a value is missing),
        status_changed (bool). Ordered by obs_id, filter, exposure.
    sets : pandas.DataFrame
        Per filter: compared (sets with a different run on each side),
        same_run (the same run on both sides: nothing to compare),
        only_before, only_after (a run on one side only),
        exposures (paired), unpaired (exposures in one run only).
    parameters : list of dict
        Per distinct (before, after) parameter set: ``sets`` (how many),
        ``before`` and ``after`` (software version, params digest) and
        ``differ``: ``{name: [before value, after value]}`` (None: absent).
    """

    exposures: pd.DataFrame
    sets: pd.DataFrame
    parameters: list[dict[str, Any]] = field(default_factory=list)

    def transitions(self, filter: str | None = None) -> pd.DataFrame:
        """The status transition matrix: rows the status before, columns the
        status after (`STATUSES`), counts of exposures (of one filter, or all)."""
        df = self.exposures if filter is None else self.exposures[self.exposures["filter"] == filter]
        table = pd.crosstab(pd.Categorical(df["status_before"], STATUSES),
                            pd.Categorical(df["status_after"], STATUSES), dropna=False)
        table.index.name, table.columns.name = "before", "after"
        return table.reindex(index=list(STATUSES), columns=list(STATUSES), fill_value=0).astype("int64")

    def percentiles(self, filter: str | None = None) -> dict[str, dict[str, float | None]]:
        """``|delta|`` percentiles (`PERCENTILES`) in mmag and in QPRELEXE units,
        over exposures with a value on both sides: ``{"mmag": {"p50": ..},
        "sigma": {...}}`` (None when there is none)."""
        df = self.exposures if filter is None else self.exposures[self.exposures["filter"] == filter]
        out: dict[str, dict[str, float | None]] = {}
        for unit, column in (("mmag", "delta_mmag"), ("sigma", "delta_sigma")):
            values = np.abs(df[column].to_numpy(dtype=float))
            values = values[np.isfinite(values)]
            out[unit] = {f"p{p:g}": (float(np.percentile(values, p)) if values.size else None) for p in PERCENTILES}
        return out

    def largest(self, n: int = 20, filter: str | None = None) -> pd.DataFrame:
        """The ``n`` exposures whose factor changed most (``|delta_mmag|``),
        status changes with a missing value (to or from NODATA) first."""
        df = self.exposures if filter is None else self.exposures[self.exposures["filter"] == filter]
        size = np.abs(df["delta_mmag"].to_numpy(dtype=float))
        size = np.where(np.isfinite(size), size, np.where(df["status_changed"].to_numpy(), np.inf, -1.0))
        order = np.argsort(-size, kind="stable")[: int(n)]
        chosen = df.iloc[order]
        return chosen[np.isfinite(size[order]) | np.isinf(size[order])].reset_index(drop=True)

    def summary(self) -> dict[str, Any]:
        """The comparison as JSON-ready data (what ``relphot compare --json`` prints)."""
        filters = sorted(set(self.sets["filter"])) if len(self.sets) else []

        def part(name: str | None) -> dict[str, Any]:
            sets = self.sets if name is None else self.sets[self.sets["filter"] == name]
            counts = {column: int(sets[column].sum()) for column in SET_COLUMNS}
            df = self.exposures if name is None else self.exposures[self.exposures["filter"] == name]
            matrix = self.transitions(name)
            return {
                **counts,
                "status_changed": int(df["status_changed"].sum()),
                "transitions": {b: {a: int(matrix.loc[b, a]) for a in STATUSES} for b in STATUSES},
                "abs_delta": self.percentiles(name),
            }

        return {"total": part(None), "filters": {name: part(name) for name in filters},
                "parameters": self.parameters}


SET_COLUMNS: tuple[str, ...] = ("compared", "same_run", "only_before", "only_after", "exposures", "unpaired")


def _checked(df: pd.DataFrame, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {', '.join(missing)}")
    return df


def compare_runs(before: pd.DataFrame, after: pd.DataFrame, runs_before: pd.DataFrame | None = None,
                 runs_after: pd.DataFrame | None = None) -> RunComparison:
    """Compare the factors of two choices of runs, exposure by exposure.

    Parameters
    ----------
    before, after : pandas.DataFrame
        The factors of each side, one row per exposure of the chosen run of
        each set, with the columns `FACTOR_COLUMNS` (value and error NaN
        when missing, status a `relphot_core.status.Status` string).
    runs_before, runs_after : pandas.DataFrame, optional
        The chosen runs (`RUN_COLUMNS`: run_id, software_version,
        params_digest, parameters as a dict, created), for the parameters
        that differ; without them no parameter is compared.

    Returns
    -------
    RunComparison

    Examples
    --------
    >>> a = pd.DataFrame({"obs_id": [1, 1], "filter": ["NIR_J"] * 2, "exposure": [1, 2], "run_id": [10, 10],
    ...                   "value": [1.0, 1.0], "error": [0.001, 0.001], "status": ["OK", "OK"]})
    >>> b = a.assign(run_id=11, value=[1.0, 1.02], status=["OK", "FAIL"])
    >>> c = compare_runs(a, b)
    >>> int(c.transitions().loc["OK", "FAIL"]), round(c.percentiles()["mmag"]["p100"], 1)
    (1, 21.5)
    """
    _checked(before, FACTOR_COLUMNS, "the factors before")
    _checked(after, FACTOR_COLUMNS, "the factors after")
    keys = ["obs_id", "filter"]
    set_before = before[keys + ["run_id"]].drop_duplicates(keys)
    set_after = after[keys + ["run_id"]].drop_duplicates(keys)
    sets = set_before.merge(set_after, on=keys, how="outer", suffixes=("_before", "_after"), indicator=True)
    same = (sets["_merge"] == "both") & (sets["run_id_before"] == sets["run_id_after"])
    compared = (sets["_merge"] == "both") & ~same
    sets = sets.assign(compared=compared, same_run=same, only_before=sets["_merge"] == "left_only",
                       only_after=sets["_merge"] == "right_only")
    chosen = sets.loc[compared, keys]

    columns = list(FACTOR_COLUMNS)
    left = before[columns].merge(chosen, on=keys)
    right = after[columns].merge(chosen, on=keys)
    paired = left.merge(right, on=[*keys, "exposure"], how="outer", suffixes=("_before", "_after"), indicator=True)
    unpaired = paired[paired["_merge"] != "both"]
    paired = paired[paired["_merge"] == "both"].drop(columns="_merge")
    paired = paired.rename(columns={"run_id_before": "run_before", "run_id_after": "run_after"})
    a = paired["value_before"].to_numpy(dtype=float)
    b = paired["value_after"].to_numpy(dtype=float)
    error = paired["error_after"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = b - a
        ratio = np.where((a > 0) & (b > 0), a / b, np.nan)
        delta_mmag = 2500.0 * np.log10(ratio)
        delta_sigma = np.where(error > 0, np.abs(delta) / error, np.nan)
    paired = paired.assign(
        run_before=paired["run_before"].astype("int64"), run_after=paired["run_after"].astype("int64"),
        exposure=paired["exposure"].astype("int64"), delta=delta, delta_mmag=delta_mmag, delta_sigma=delta_sigma,
        status_changed=(paired["status_before"] != paired["status_after"]).to_numpy(),
    )
    order = ["obs_id", "filter", "exposure", "run_before", "run_after", "value_before", "value_after",
             "error_before", "error_after", "status_before", "status_after", "delta", "delta_mmag",
             "delta_sigma", "status_changed"]
    exposures = paired[order].sort_values(["obs_id", "filter", "exposure"], ignore_index=True)

    per_filter = sets.groupby("filter")[["compared", "same_run", "only_before", "only_after"]].sum()
    per_filter["exposures"] = exposures.groupby("filter").size()
    per_filter["unpaired"] = unpaired.groupby("filter").size()
    per_filter = per_filter.fillna(0).astype("int64").reset_index()
    parameters = _parameter_changes(sets[compared], runs_before, runs_after)
    return RunComparison(exposures=exposures, sets=per_filter[["filter", *SET_COLUMNS]], parameters=parameters)


def parameter_differences(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """``{name: [before, after]}`` of the parameters whose values differ
    (None: absent on that side), sorted by name.

    >>> parameter_differences({"clipping.sigma": "3.0", "a": 1}, {"clipping.sigma": "2.5", "a": 1})
    {'clipping.sigma': ['3.0', '2.5']}
    """
    names = sorted(set(before) | set(after))
    return {name: [before.get(name), after.get(name)] for name in names if before.get(name) != after.get(name)}


def _parameter_changes(pairs: pd.DataFrame, runs_before: pd.DataFrame | None,
                       runs_after: pd.DataFrame | None) -> list[dict[str, Any]]:
    if runs_before is None or runs_after is None or pairs.empty:
        return []
    _checked(runs_before, RUN_COLUMNS, "the runs before")
    _checked(runs_after, RUN_COLUMNS, "the runs after")
    info_before = runs_before.drop_duplicates("run_id").set_index("run_id")
    info_after = runs_after.drop_duplicates("run_id").set_index("run_id")
    groups: dict[tuple[str, str, str, str], int] = {}
    for run_a, run_b in zip(pairs["run_id_before"].astype("int64"), pairs["run_id_after"].astype("int64")):
        key = (str(info_before.at[run_a, "software_version"]), str(info_before.at[run_a, "params_digest"]),
               str(info_after.at[run_b, "software_version"]), str(info_after.at[run_b, "params_digest"]))
        groups.setdefault(key, 0)
        groups[key] += 1
    # one representative run per digest gives its parameters (a digest names one parameter set)
    by_digest_a = {str(d): p for d, p in zip(info_before["params_digest"], info_before["parameters"])}
    by_digest_b = {str(d): p for d, p in zip(info_after["params_digest"], info_after["parameters"])}
    out = []
    for (version_a, digest_a, version_b, digest_b), n in sorted(groups.items(), key=lambda item: -item[1]):
        out.append({
            "sets": n,
            "before": {"software_version": version_a, "params_digest": digest_a},
            "after": {"software_version": version_b, "params_digest": digest_b},
            "differ": parameter_differences(dict(by_digest_a[digest_a] or {}), dict(by_digest_b[digest_b] or {})),
        })
    return out


__all__ = ["CHOICE_KINDS", "PERCENTILES", "STATUSES", "ChoiceError", "RunChoice", "RunComparison", "compare_runs",
           "parameter_differences", "choice_time"]
