"""Store results carrying a simulated season's factor table (and detector
table): the seasons of `relphot_core.simulate.faults` in a real store."""
from __future__ import annotations

import numpy as np
import pandas as pd

from relphot_core.results import ObservationResult
from relphot_core.testing.synth import make_result


def season_results(table: pd.DataFrame, detectors: pd.DataFrame | None = None) -> list[ObservationResult]:
    """Store results carrying a factor table's values and detector flags
    (and a detector table's offsets)."""
    from relphot_core.results import DetectorStat

    by_obs = dict(list(detectors.groupby("obs_id"))) if detectors is not None else {}
    out = []
    for obs_id, rows in table.groupby("obs_id", sort=True):
        result = make_result(int(obs_id), "NIR_J", values=rows["value"].tolist(), n_detectors=0, n_sample=0,
                             mjd_start=float(rows["mjd_obs"].min()), seed=int(obs_id))
        for exposure, row in zip(result.exposures, rows.itertuples(index=False)):
            exposure.error = float(row.error)
            exposure.mjd_obs = float(row.mjd_obs)
            exposure.status = row.status
            exposure.detector_flag = row.detector_flag
            exposure.detector_reason = row.detector_reason
            if np.isfinite(row.detector_worst):
                exposure.detector_worst, exposure.detector_offset = int(row.detector_worst), float(row.detector_offset)
        if obs_id in by_obs:
            mag = {e.exposure: e.mag_offset for e in result.exposures}
            result.detectors = [DetectorStat(int(r.exposure), int(r.detector), float(r.offset) + mag[int(r.exposure)],
                                             float(r.error), 100) for r in by_obs[obs_id].itertuples(index=False)]
        out.append(result)
    return out
