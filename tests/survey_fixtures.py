"""A store holding two runs of each set, the second computed with one
changed parameter (clipping.sigma 3.0 -> 2.5) and known changes: obs 1001
NIR_J dither 2 goes OK -> FAIL, obs 1002 NIR_H dither 1 OK -> NODATA, obs
1003 NIR_J dither 4 WARN -> OK; every other factor moves by +0.0005. One
more set (1005 NIR_J) is computed once. For ``relphot compare``, the
compare page and their tests."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from relphot_core.store import Store
from relphot_core.testing.synth import make_result

OBS = range(1000, 1005)
FILTERS = ("NIR_J", "NIR_H")
OLD = {"clipping.sigma": "3.0", "matching.radius_arcsec": "0.5"}
NEW = {"clipping.sigma": "2.5", "matching.radius_arcsec": "0.5"}
T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
LONE = (1005, "NIR_J")
"""A set computed once (the new parameters): no previous run."""


def first_values(obs_id: int, name: str) -> list[float | None]:
    values: list[float | None] = [1.0, 1.0, 1.0, 1.0]
    if (obs_id, name) == (1003, "NIR_J"):
        values[3] = 1.008  # WARN
    return values


def second_values(obs_id: int, name: str) -> list[float | None]:
    values: list[float | None] = [v + 0.0005 for v in first_values(obs_id, name)]
    if (obs_id, name) == (1001, "NIR_J"):
        values[1] = 0.97  # OK -> FAIL
    if (obs_id, name) == (1002, "NIR_H"):
        values[0] = None  # OK -> NODATA
    if (obs_id, name) == (1003, "NIR_J"):
        values[3] = 1.0005  # WARN -> OK
    return values


def fill_two_runs(url: str) -> Store:
    """Fill the store at ``url`` (returned open): 5 observations x 2 filters x 4 dithers, each set run
    with clipping.sigma 3.0 (1 March) then 2.5 (2 March); one more set run
    once (2 March)."""
    store = Store.open(url)
    first = [make_result(o, f, values=first_values(o, f), parameters=OLD, created=T0, n_sample=0,
                         n_detectors=0, input_digest=f"in-{o}-{f}") for o in OBS for f in FILTERS]
    second = [make_result(o, f, values=second_values(o, f), parameters=NEW, created=T0 + timedelta(days=1),
                          n_sample=0, n_detectors=0, input_digest=f"in-{o}-{f}") for o in OBS for f in FILTERS]
    lone = make_result(*LONE, values=[1.0] * 4, parameters=NEW, created=T0 + timedelta(days=1), n_sample=0,
                       n_detectors=0)
    store.save_results([*first, *second, lone])
    return store
