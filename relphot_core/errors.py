"""Exception types, one per kind of bad input.

Every message names the file (or URL) and the problem, so that the command
line can print it as a single line and exit non-zero.
"""
from __future__ import annotations

from pathlib import Path


class RelphotError(Exception):
    """Base class of every error relphot reports to a user.

    Parameters
    ----------
    source : str or Path or None
        The file, URL or object the problem is in.
    reason : str
        What is wrong, in one sentence.
    """

    def __init__(self, source: str | Path | None, reason: str) -> None:
        self.source = None if source is None else str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}" if self.source else reason)


class ConfigError(RelphotError):
    """A configuration file or option is invalid."""


class CatalogError(RelphotError):
    """A source catalogue cannot be read or lacks what the method needs."""


class GroupingError(RelphotError):
    """Catalogues given together do not form consistent exposure sets."""


class ProductError(RelphotError):
    """An XML data product is invalid, hostile or cannot be written."""


class ApplyError(RelphotError):
    """A FITS exposure cannot receive the keywords of a product."""


class StoreError(RelphotError):
    """The database cannot be opened, migrated or written."""


class MixedKeywordsError(CatalogError):
    """A catalogue's headers disagree on its identity (observation, filter, dither)."""
