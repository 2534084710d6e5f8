"""How counts are said, once for the command line, the alerts and the
dashboard: ``1 exposure``, ``1,204 exposures``."""
from __future__ import annotations


def noun(n: int, word: str, many: str | None = None) -> str:
    """The word for ``n`` of them: ``exposure`` for 1, ``exposures`` otherwise (see `plural`)."""
    return word if n == 1 else (many or word + "s")


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 exposure``, ``2 exposures``, ``1,204 observation products`` (``many``: the plural when it
    is not ``word + "s"``).

    Examples
    --------
    >>> plural(1, "exposure"), plural(1204, "exposure"), plural(1, "observation product")
    ('1 exposure', '1,204 exposures', '1 observation product')
    >>> plural(0, "new FAIL"), plural(2, "batch", "batches")
    ('0 new FAILs', '2 batches')
    """
    return f"{n:,} {noun(n, word, many)}"


__all__ = ["noun", "plural"]
