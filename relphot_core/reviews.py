"""The review rules: who may decide what, which exposures await a decision,
what a decision was about, and what it changes.

A *review* is a reviewer's decision on the flag of one exposure: the flag is
``confirmed`` (right) or ``overruled`` (wrong: the exposure is fine). Each
decision names the flag it was about (`relphot_core.qc.flags.FLAG_KINDS`:
the status with its reason, or a flagged detector, a disagreement with the
global solution, a control-chart alarm), may name a cause from a short controlled vocabulary
(`CAUSES`) besides its free comment, and belongs to a *batch*: the decisions
stored by one action (one exposure, an observation, or hundreds ticked in the
triage queue). A batch can be revoked: it stays in the audit trail but no
longer counts, so the exposures it reviewed return to the triage queue and
their products and exports no longer carry it.

Which exposures are flagged, await review, and what a decision is about are
decided by the flag model (`relphot_core.qc.flags`).

The dashboard, the JSON API and scripts call these functions; the store
keeps the rows (`relphot_core.store.Store.add_reviews`,
`~relphot_core.store.Store.revoke_review_batch`,
`~relphot_core.store.Store.reviews`) and validates with `check_review`.
Nothing here imports the store (the store imports this module).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from .config import FILTERS
from .identity import Action, Identity, check
from .qc.flags import flag_about
from .status import Status

DECISIONS: tuple[str, ...] = ("confirmed", "overruled")
"""``confirmed``: the flag is right; ``overruled``: the flag is wrong, the
exposure is fine."""

CAUSES: tuple[str, ...] = (
    "satellite trail",
    "persistence",
    "flat-field",
    "scattered light",
    "variable source",
    "detector",
    "software",
    "other",
    "zero-point drift",
    "instrument",
)
"""The controlled vocabulary of causes a reviewer may give besides the comment:

- ``satellite trail``: a trail crosses the exposure's sources;
- ``persistence``: latent images of an earlier bright exposure;
- ``flat-field``: a flat-field (or illumination) error on part of the focal plane;
- ``scattered light``: stray light raising the background;
- ``variable source``: the matched sources themselves vary;
- ``detector``: a detector or its read-out misbehaves;
- ``software``: a processing defect (catalogue, matching, relphot itself);
- ``other``: say which in the comment;
- ``zero-point drift``: a dither position's zero point drifts or steps
  across observations (a drift problem);
- ``instrument``: an instrument state or configuration change (filter wheel,
  temperature, a new setting) behind a step.

The empty string means no cause given. Stored as these exact strings: add to
the end, never rename (reviews keep the words they were made with).
"""

MAX_REVIEWER = 80
"""Characters of a reviewer's name kept."""
MAX_COMMENT = 2000
"""Characters of a comment kept."""


class ReviewInputError(ValueError):
    """A review that cannot be stored as given (the message says why, for the reviewer)."""


class StaleReviewError(ReviewInputError):
    """A decision made against a state that changed since: another review
    or a revocation came in between. Nothing was stored.

    Parameters
    ----------
    changes : list of str
        What changed, one sentence per exposure (who, what, when).
    """

    def __init__(self, changes: list[str]) -> None:
        self.changes = list(changes)
        shown = "; ".join(self.changes[:3]) + (f"; and {len(self.changes) - 3} more" if len(self.changes) > 3
                                                else "")
        super().__init__(f"Not stored: changed since this page was loaded: {shown}. Reload the page to see the "
                         "current state, then review again.")


@dataclass(frozen=True)
class ReviewInput:
    """A decision ready to store: cleaned and checked by `check_review`."""

    decision: str
    reviewer: str
    comment: str = ""
    cause: str = ""


@dataclass(frozen=True)
class ReviewState:
    """The latest valid review of one exposure, as the products and the
    exports carry it."""

    decision: str
    reviewer: str
    cause: str
    reviewed_at: datetime | None
    status: str | None
    """The status the decision was made on."""
    flag_kind: str | None = None
    batch_id: int | None = None
    comment: str = ""
    review_id: int | None = None
    """The review's id: what a later decision on the exposure is made against."""


def check_review(decision: Any, reviewer: Any, comment: Any = "", cause: Any = "", *,
                 reason_required: bool = True) -> ReviewInput:
    """Clean and check a decision before it is stored.

    Every decision needs its author; overruling a flag also needs a reason
    (a comment or a cause), which a later reader has no other way to know.

    Parameters
    ----------
    decision : {'confirmed', 'overruled'}
    reviewer : str
        Blanks collapsed, cut to `MAX_REVIEWER` characters.
    comment : str, optional
        Stripped, cut to `MAX_COMMENT` characters.
    cause : str, optional
        One of `CAUSES`, or empty.
    reason_required : bool, optional
        Refuse an overruling without comment nor cause (the pages and the
        API; the store itself accepts it from scripts).

    Returns
    -------
    ReviewInput

    Raises
    ------
    ReviewInputError
        A decision not in `DECISIONS`, no reviewer, a cause not in `CAUSES`,
        or an overruling without comment nor cause (the message is meant for
        the reviewer).

    Examples
    --------
    >>> check_review("confirmed", "  alice  smith ", " trail ", "satellite trail")
    ReviewInput(decision='confirmed', reviewer='alice smith', comment='trail', cause='satellite trail')
    """
    if decision not in DECISIONS:
        raise ReviewInputError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    reviewer = " ".join(str(reviewer or "").split())[:MAX_REVIEWER]
    comment = str(comment or "").strip()[:MAX_COMMENT]
    cause = str(cause or "").strip()
    if not reviewer:
        raise ReviewInputError("Enter your name before reviewing: every decision is stored with its reviewer.")
    if cause and cause not in CAUSES:
        raise ReviewInputError(f"cause must be one of {', '.join(CAUSES)} (or none), not {cause!r}")
    if reason_required and decision == "overruled" and not comment and not cause:
        raise ReviewInputError("Say why the flag is wrong (a comment or a cause): overruling a flag needs a reason.")
    return ReviewInput(decision, reviewer, comment, cause)


def review_problem(decision: Any, reviewer: Any, comment: Any = "", cause: Any = "") -> str | None:
    """`check_review`'s complaint about a decision, or None when it can be stored."""
    try:
        check_review(decision, reviewer, comment, cause)
    except ReviewInputError as exc:
        return str(exc)
    return None


# ------------------------------------------------------------ which rows
TRIAGE_STATUS_ORDER: tuple[Status, ...] = (Status.FAIL, Status.WARN, Status.NODATA)
"""The order of the triage queue by status: FAIL first, then WARN, then
NODATA (no value to judge); then any other flag (an OK exposure with a
flagged detector, a cross-check or a control-chart alarm)."""


def triage_order(queue: pd.DataFrame) -> np.ndarray:
    """The positions of a triage queue's rows, most urgent first: by status
    (`TRIAGE_STATUS_ORDER`), then farthest from 1 (``|value - 1|``, no value
    last), then obs id, filter (``FILTERS`` order) and dither.

    Parameters
    ----------
    queue : pandas.DataFrame
        Exposure rows with ``status``, ``value``, ``obs_id``, ``filter`` and
        ``exposure`` (e.g. those where `awaits_review` holds).

    Returns
    -------
    numpy.ndarray
        Row positions (for ``queue.iloc``).
    """
    if queue.empty:
        return np.zeros(0, dtype=np.int64)
    rank_of = {status: i for i, status in enumerate(TRIAGE_STATUS_ORDER)}
    rank = queue["status"].astype(object).map(rank_of).fillna(len(rank_of)).to_numpy()
    offset = np.nan_to_num(np.abs(queue["value"].to_numpy(dtype=float) - 1.0), nan=-1.0)
    band = queue["filter"].astype(object).map({f: i for i, f in enumerate(FILTERS)}).fillna(len(FILTERS))
    return np.lexsort((queue["exposure"].to_numpy(), band.to_numpy(), queue["obs_id"].to_numpy(), -offset, rank))


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def flag_label(kind: Any, reason: Any, status: Any = None) -> str:
    """What a decision was about, for a table cell: ``"status FAIL: ..."``,
    ``"detector: ..."``; reviews stored before the flag was recorded give
    their status alone (``"status FAIL"``)."""
    kind, reason = _text(kind), _text(reason)
    if not kind:
        return f"status {_text(status)}".strip() if _text(status) else ""
    if kind == "status":
        return f"status {reason}" if reason else f"status {_text(status)}".strip()
    return f"{kind}: {reason}" if reason else kind


# ------------------------------------------------------- what it changes
def latest_states(reviews: pd.DataFrame) -> dict[tuple[int, str, int], ReviewState]:
    """The latest valid (not revoked) review of each exposure.

    Parameters
    ----------
    reviews : pandas.DataFrame
        `Store.reviews` rows (oldest first).

    Returns
    -------
    dict
        ``(obs_id, filter, dither) -> ReviewState``; exposures whose reviews
        are all revoked are absent.
    """
    out: dict[tuple[int, str, int], ReviewState] = {}
    if reviews is None or reviews.empty:
        return out
    valid = reviews
    if "revoked_at" in reviews.columns:
        valid = reviews[reviews["revoked_at"].isna()]
    for row in valid.sort_values("id", kind="stable").to_dict("records"):
        key = (int(row["obs_id"]), str(row["filter"]), int(row["exposure"]))
        at = row.get("created")
        batch = row.get("batch_id")
        out[key] = ReviewState(
            decision=str(row["decision"]), reviewer=str(row["reviewer"]), cause=_text(row.get("cause")),
            reviewed_at=None if at is None or pd.isna(at) else pd.Timestamp(at).to_pydatetime(),
            status=_text(row.get("status")) or None, flag_kind=_text(row.get("flag_kind")) or None,
            batch_id=None if batch is None or pd.isna(batch) else int(batch), comment=_text(row.get("comment")),
            review_id=int(row["id"]))
    return out


class ReviewStore(Protocol):
    """What these functions need of a store (`relphot_core.store.Store`)."""

    def add_reviews(self, keys: Any, decision: str, reviewer: str, comment: str = "", *, cause: str = "",
                    about: Any = None, expected: Any = None, auth_mode: str | None = None) -> int | None: ...

    def review_batch_owner(self, batch_id: int) -> str: ...

    def reviews(self, obs_id: int | None = None, filter: str | None = None, *, search: str | None = None,
                batch_id: int | None = None, include_revoked: bool = True) -> pd.DataFrame: ...

    def revoke_review_batch(self, batch_id: int, by: str, *, auth_mode: str | None = None) -> int: ...


def review_states(store: ReviewStore, obs_id: int, filter_name: str) -> dict[int, ReviewState]:
    """The latest valid review of each dither of one observation (for its
    product's QualityFlags)."""
    states = latest_states(store.reviews(obs_id=obs_id, filter=filter_name))
    return {dither: state for (_, _, dither), state in states.items()}


def all_review_states(store: ReviewStore) -> dict[tuple[int, str], dict[int, ReviewState]]:
    """The latest valid review of every reviewed exposure, by observation
    ``(obs_id, filter)`` then dither, in one read (for an export of many
    products: ``product_bytes(result, reviews=states.get((obs_id, filter)))``)."""
    out: dict[tuple[int, str], dict[int, ReviewState]] = {}
    for (obs_id, filter_name, dither), state in latest_states(store.reviews(include_revoked=False)).items():
        out.setdefault((obs_id, filter_name), {})[dither] = state
    return out


def submit(store: ReviewStore, keys: Any, decision: Any, reviewer: Any, comment: Any = "", cause: Any = "", *,
           rows: Mapping[tuple[int, str, int], Mapping[str, Any]] | None = None,
           about: Mapping[tuple[int, str, int], tuple[str, str]] | None = None,
           identity: Identity | None = None,
           expected: Mapping[tuple[int, str, int], int | None] | None = None) -> int | None:
    """Check who decides and the decision, and store it for exposures
    ``(obs_id, filter, dither)`` as one batch.

    Parameters
    ----------
    store : ReviewStore
    keys : sequence of tuple
    decision, reviewer, comment, cause
        As `check_review`.
    rows : mapping, optional
        The exposure rows the reviewer saw, by key: the flag each decision
        was about is taken from them (`flag_about`; a control-chart alarm is
        only known there). Keys without a row get the store's own (status,
        detector, cross-check).
    about : mapping, optional
        The flags already worked out, ``key -> (kind, reason)`` (e.g. grid
        rows carrying `flag_about`'s answer); ``rows`` complete them.
    identity : relphot_core.identity.Identity, optional
        Who decides: must be allowed `Action.REVIEW`; when signed in
        (proxy, accounts) the review is theirs, whatever ``reviewer`` says.
        Its mode is stored with the batch. None: a script with store access.
    expected : mapping, optional
        ``key -> review id`` (None: none) each decision was made against:
        a change since refuses the whole batch (`StaleReviewError`).

    Returns
    -------
    int or None
        The batch id (its reviews: one per distinct key); None when no key is given.

    Raises
    ------
    ReviewInputError
        Bad input (see `check_review`); StaleReviewError: the state changed.
        KeyError: an unknown exposure.
    relphot_core.identity.AuthError
        The identity may not review.
    """
    if identity is not None:
        check(identity, Action.REVIEW)
        if identity.signs_reviews:
            reviewer = identity.name
    review = check_review(decision, reviewer, comment, cause)
    flags: dict[tuple, tuple[str, str]] = {key: flag_about(row) for key, row in (rows or {}).items()}
    flags.update({tuple(key): (str(kind), str(reason or "")) for key, (kind, reason) in (about or {}).items()})
    return store.add_reviews(list(keys), review.decision, review.reviewer, review.comment,
                             cause=review.cause, about=flags or None, expected=expected,
                             auth_mode=None if identity is None else identity.mode.value)


def revoke(store: ReviewStore, batch_id: Any, by: Any, *, identity: Identity | None = None) -> int:
    """Revoke a batch of reviews (`Store.revoke_review_batch`) after checking
    who revokes; returns the number of reviews revoked.

    ``identity`` (None: a script with store access) must be allowed
    `Action.REVOKE_OWN` for its own batch, `Action.REVOKE_ANY` for
    another's; signed in, the revocation is theirs whatever ``by`` says.

    Raises
    ------
    ReviewInputError
        No name, or a batch id that is not a whole number.
    KeyError
        No such batch.
    relphot_core.identity.AuthError
        The identity may not revoke this batch.
    """
    try:
        batch = int(batch_id)
    except (TypeError, ValueError):
        raise ReviewInputError(f"not a batch number: {batch_id!r}") from None
    if identity is not None:
        check(identity, Action.REVOKE_OWN, owner=store.review_batch_owner(batch))
        if identity.signs_reviews:
            by = identity.name
    by = " ".join(str(by or "").split())[:MAX_REVIEWER]
    if not by:
        raise ReviewInputError("Enter your name before revoking: a revocation is stored with its author.")
    return store.revoke_review_batch(batch, by, auth_mode=None if identity is None else identity.mode.value)
