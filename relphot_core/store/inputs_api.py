"""The inputs part of the `~relphot_core.store.api.Store` facade: the
catalogue files each set was computed from (to tell what changed) and the
processing failures (`relphot_core.store.batches` holds their SQL).

The part assumes the facade's ``_read()`` / ``_write(what)`` connection
context managers, ``_write_retrying(what, work)`` and ``url``
(`relphot_core.store.api.Store`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from ..results import ObservationResult
from . import batches
from .writes import prepare, result_label, save_batch


class InputsPart:
    """Recorded input files and processing failures (part of `Store`)."""

    def recorded_inputs(self, params_digest: str) -> dict[str, batches.RecordedInput]:
        """The input files recorded for a parameter set, by absolute path
        (`relphot_core.store.writes.params_digest` of the run parameters)."""
        with self._read() as conn:
            return batches.recorded_inputs(conn, params_digest)

    def save_set(self, result: ObservationResult, files: Sequence[Any], params_digest: str) -> int | None:
        """Store one set's result and the files it was computed from, in one
        transaction, and resolve the set's open processing failures.

        Parameters
        ----------
        result : ObservationResult
        files : sequence
            Objects with ``path``, ``dither``, ``size``, ``mtime_ns`` and
            ``sha256`` (`relphot_core.inputs.CatalogFile`).
        params_digest : str
            The digest the inputs are recorded under.

        Returns
        -------
        int or None
            As `save_result`: None when an identical run was stored before
            (the inputs are recorded all the same).
        """
        return self.save_sets([(result, files)], params_digest)[0]

    def save_sets(self, items: Sequence[tuple[ObservationResult, Sequence[Any]]],
                  params_digest: str) -> list[int | None]:
        """`save_set` for many sets in one transaction: all or nothing."""
        what = "cannot save " + (result_label(items[0][0]) if len(items) == 1 else f"{len(items)} sets")

        def work(conn: Connection) -> list[int | None]:
            run_ids = save_batch(conn, [result for result, _ in items])
            for (result, files), run_id in zip(items, run_ids):
                observation_id = batches.observation_row_id(conn, int(result.obs_id), result.filter)
                assert observation_id is not None
                if run_id is None:
                    p = prepare(result)
                    run_id_known = batches.run_of(conn, observation_id, p.method, p.input_digest,
                                                  p.params_digest)
                else:
                    run_id_known = run_id
                batches.record_inputs(
                    conn, observation_id, params_digest,
                    [(f.path, int(f.dither), int(f.size), int(f.mtime_ns), f.sha256) for f in files],
                    run_id_known,
                )
                batches.resolve_failures(conn, int(result.obs_id), result.filter,
                                         [f.path for f in files])
            return run_ids

        # a concurrent batch may store the same set first: the retry finds it
        return self._write_retrying(what, work, attempts=2)

    def touch_inputs(self, params_digest: str, files: Sequence[tuple[str, int, int]]) -> None:
        """Record the new (size, mtime_ns) of files whose content was found
        unchanged, so that the next batch tells it from size and time alone."""
        if files:
            with self._write("cannot update input files") as conn:
                batches.touch_inputs(conn, params_digest, files)

    def record_failure(self, failure: Any, params_digest: str) -> int:
        """Record a processing failure (`relphot_core.inputs.SetFailure`:
        ``kind``, ``path``, ``reason``, ``files``, ``obs_id``, ``filter``).

        The same open failure met again counts one more attempt. Returns
        the failure's id.
        """
        with self._write(f"cannot record the failure of {failure.path}") as conn:
            return batches.record_failure(
                conn, kind=failure.kind, path=str(failure.path), reason=failure.reason,
                files=[str(f) for f in failure.files] or [str(failure.path)], params_digest=params_digest,
                obs_id=failure.obs_id, filter=failure.filter,
            )

    def failures(self, *, open_only: bool = True, obs_id: int | None = None,
                 filter: str | None = None) -> pd.DataFrame:
        """Processing failures, newest first: ``id, obs_id, filter, kind,
        path, files, reason, created, last_seen, attempts, resolved``.

        Parameters
        ----------
        open_only : bool
            Only those not resolved by a later batch (default).
        """
        with self._read() as conn:
            rows = conn.execute(batches.failures_query(open_only=open_only, obs_id=obs_id, filter=filter)).all()
        frame = pd.DataFrame([tuple(r) for r in rows], columns=list(batches.FAILURE_COLUMNS))
        frame["obs_id"] = frame["obs_id"].astype("Int64")
        for column in ("created", "last_seen", "resolved"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame
