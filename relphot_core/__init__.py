"""relphot: quality control of the relative photometric calibration among the
dithered exposures of Euclid NISP observations.

The science is in pure functions (`matching`, `stats`, `factors`, `flags`);
input and output at the edges (`catalogs`, `store`, `products`, `apply`,
`cli`). Nothing here imports Dash.
"""
from __future__ import annotations

__version__ = "0.1.0"
"""The package version (pyproject.toml reads it from here: one place)."""

from .config import Config, load_config  # noqa: E402
from .errors import (  # noqa: E402
    ApplyError,
    CatalogError,
    ConfigError,
    GroupingError,
    ProductError,
    RelphotError,
    StoreError,
)
from .results import DetectorStat, ExposureFactor, MatchSample, ObservationResult, PairStat  # noqa: E402

__all__ = [
    "__version__",
    "Config",
    "load_config",
    "RelphotError",
    "ConfigError",
    "CatalogError",
    "GroupingError",
    "ProductError",
    "ApplyError",
    "StoreError",
    "ObservationResult",
    "ExposureFactor",
    "PairStat",
    "DetectorStat",
    "MatchSample",
]
