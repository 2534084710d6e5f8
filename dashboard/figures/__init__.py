"""Pure figure builders of the dashboard (DataFrames / result records in,
`plotly.graph_objects.Figure` out; no I/O, no store)."""
from __future__ import annotations

from .common import empty_figure
from .observation import (dm_mag_figure, exposure_factor_figure, focal_plane_figure, pair_histogram_figure,
                          pair_matrix_figure, sky_figure)
from .trends import marginal_histogram, trend_figure

__all__ = [
    "empty_figure",
    "trend_figure",
    "marginal_histogram",
    "exposure_factor_figure",
    "pair_matrix_figure",
    "pair_histogram_figure",
    "dm_mag_figure",
    "sky_figure",
    "focal_plane_figure",
]
