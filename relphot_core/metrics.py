"""The store's state as Prometheus metrics (``/metrics`` of the dashboard).

One scrape reads the store (`store_metrics`) and renders the text
exposition format with prometheus_client (`exposition`): gauges of what the
store holds now (open problems by kind and filter, problems by state,
exposures by filter and status, exposures awaiting review, open processing
failures, the latest batch's start, end, duration, exit status and sets)
and counters over the batches' log (``relphot_batches_total``,
``relphot_sets_computed_total``, ``relphot_batch_failures_total``). The
user's guide (docs/metrics.rst) lists them with a Prometheus and
Alertmanager set-up; ``time() - relphot_last_batch_start_timestamp_seconds
> 26 * 3600`` is its "no new data" rule.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client import exposition as _exposition
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from .config import FILTERS
from .qc.problems import ACTIVE_STATES, PROBLEM_STATES
from .status import STATUS_ORDER


CONTENT_TYPE: str = getattr(_exposition, "CONTENT_TYPE_PLAIN_0_0_4", "text/plain; version=0.0.4; charset=utf-8")
"""The text format `exposition` writes (its names are plain ASCII: format 0.0.4, which every Prometheus reads)."""


def store_metrics(store: Any) -> list[Metric]:
    """Read the metric families of a `relphot_core.store.Store` (one scrape)."""
    problems = store.problems(current=True)
    open_problems = GaugeMetricFamily("relphot_open_problems", "Current problems in an open state (open, regressed).",
                                      labels=["kind", "filter"])
    by_state = GaugeMetricFamily("relphot_problems", "Current problems by state.", labels=["state", "filter"])
    awaiting = GaugeMetricFamily("relphot_awaiting_review",
                                 "Exposures of open problems awaiting review.", labels=["filter"])
    active = problems[problems["state"].isin(ACTIVE_STATES)] if not problems.empty else problems
    if not active.empty:
        for (kind, band), n in active.groupby(["kind", "filter"]).size().items():
            open_problems.add_metric([str(kind), str(band)], float(n))
        for band, n in active.groupby("filter")["n_awaiting"].sum().items():
            awaiting.add_metric([str(band)], float(n))
    counted = problems.groupby(["state", "filter"]).size() if not problems.empty else {}
    for band in sorted({*FILTERS, *(problems["filter"].astype(str) if not problems.empty else [])}):
        for state in PROBLEM_STATES:
            by_state.add_metric([state, band], float(counted.get((state, band), 0)))

    exposures = GaugeMetricFamily("relphot_exposures", "Exposures of the current runs by status.",
                                  labels=["filter", "status"])
    counts = store.status_counts()
    seen = {(str(r.filter), str(r.status)): int(r.n_exposures) for r in counts.itertuples(index=False)}
    for band in FILTERS:
        for status in STATUS_ORDER:
            exposures.add_metric([band, str(status)], float(seen.get((band, str(status)), 0)))

    failures = GaugeMetricFamily("relphot_open_failures", "Processing failures not resolved by a later batch.",
                                 labels=["kind"])
    open_failures = store.failures()
    for kind, n in (open_failures["kind"].value_counts().items() if not open_failures.empty else ()):
        failures.add_metric([str(kind)], float(n))

    families: list[Metric] = [open_problems, by_state, awaiting, exposures, failures]
    last = store.batches(limit=1)
    if not last.empty:
        row = last.iloc[0]
        families.append(GaugeMetricFamily("relphot_last_batch_start_timestamp_seconds",
                                          "Start of the latest batch (Unix time).", value=row["started"].timestamp()))
    done = store.batches(limit=1, finished_only=True)
    if not done.empty:
        row = done.iloc[0]
        families += [
            GaugeMetricFamily("relphot_last_batch_end_timestamp_seconds", "End of the latest finished batch.",
                              value=row["finished"].timestamp()),
            GaugeMetricFamily("relphot_last_batch_duration_seconds", "Duration of the latest finished batch.",
                              value=float(row["seconds"] or 0.0)),
            GaugeMetricFamily("relphot_last_batch_exit_status",
                              "Exit status of the latest finished batch (0 ok, 1 failures, 2 refused).",
                              value=float(row["exit_status"] if row["exit_status"] is not None else -1)),
            GaugeMetricFamily("relphot_last_batch_sets", "Sets the latest finished batch computed.",
                              value=float(row["sets_computed"])),
        ]
    totals = store.batch_totals()
    families += [
        CounterMetricFamily("relphot_batches", "Batches logged.", value=totals["batches"]),
        CounterMetricFamily("relphot_sets_computed", "Sets computed by every batch.", value=totals["sets_computed"]),
        CounterMetricFamily("relphot_batch_failures", "Failures met by every batch.", value=totals["failures"]),
    ]
    return families


class _StoreCollector(Collector):
    def __init__(self, store: Any) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        yield from store_metrics(self.store)


def exposition(store: Any) -> tuple[bytes, str]:
    """The store's metrics in Prometheus' text format, and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StoreCollector(store))
    return generate_latest(registry), CONTENT_TYPE


__all__ = ["exposition", "store_metrics"]
