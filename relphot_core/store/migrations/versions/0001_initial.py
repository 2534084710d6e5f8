"""Initial schema: observations, exposures, runs, factors, pair/detector
statistics, match samples, reviews.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from relphot_core.store.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # observation <-> processing_run and exposure <-> review reference each
    # other. SQLite accepts a forward reference in CREATE TABLE (and cannot
    # ALTER one in); other databases get the constraint once both tables exist.
    inline = (lambda *fk: [sa.ForeignKeyConstraint(*fk[:2], name=fk[2])]) if sqlite else (lambda *fk: [])

    op.create_table(
        "observation",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("obs_id", sa.Integer(), nullable=False),
        sa.Column("filter", sa.String(16), nullable=False),
        sa.Column("mjd_start", sa.Float(), nullable=True),
        sa.Column("mjd_end", sa.Float(), nullable=True),
        sa.Column("ra_pointing", sa.Float(), nullable=True),
        sa.Column("dec_pointing", sa.Float(), nullable=True),
        sa.Column("pa_pointing", sa.Float(), nullable=True),
        sa.Column("current_run_id", sa.Integer(), nullable=True),
        sa.UniqueConstraint("obs_id", "filter", name="uq_observation_obs_filter"),
        *inline(["current_run_id"], ["processing_run.id"], "fk_observation_current_run"),
    )
    op.create_index("ix_observation_filter_mjd", "observation", ["filter", "mjd_start"])

    op.create_table(
        "processing_run",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("observation_id", sa.Integer(), sa.ForeignKey("observation.id"), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("software_version", sa.String(64), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("input_digest", sa.String(128), nullable=False),
        sa.Column("params_digest", sa.String(64), nullable=False),
        sa.Column("imported", sa.Boolean(), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.UniqueConstraint(
            "observation_id", "method", "input_digest", "params_digest", name="uq_run_identity"
        ),
    )
    op.create_index("ix_run_observation_created", "processing_run", ["observation_id", "created"])

    op.create_table(
        "exposure",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("observation_id", sa.Integer(), sa.ForeignKey("observation.id"), nullable=False),
        sa.Column("dither", sa.Integer(), nullable=False),
        sa.Column("mjd_obs", sa.Float(), nullable=True),
        sa.Column("date_obs", sa.String(32), nullable=True),
        sa.Column("exptime", sa.Float(), nullable=True),
        sa.Column("file", sa.Text(), nullable=True),
        sa.Column("latest_review_id", sa.Integer(), nullable=True),
        sa.UniqueConstraint("observation_id", "dither", name="uq_exposure_obs_dither"),
        *inline(["latest_review_id"], ["review.id"], "fk_exposure_latest_review"),
    )
    op.create_index("ix_exposure_mjd", "exposure", ["mjd_obs"])

    op.create_table(
        "exposure_factor",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("processing_run.id"), nullable=False),
        sa.Column("exposure_id", sa.Integer(), sa.ForeignKey("exposure.id"), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("error", sa.Float(), nullable=True),
        sa.Column("mag_offset", sa.Float(), nullable=True),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("n_pairs", sa.Integer(), nullable=False),
        sa.Column("n_matched", sa.Integer(), nullable=False),
        sa.Column("n_kept", sa.Integer(), nullable=False),
        sa.Column("n_sources", sa.Integer(), nullable=False),
        sa.UniqueConstraint("run_id", "exposure_id", name="uq_factor_run_exposure"),
        sa.CheckConstraint("status IN ('OK', 'WARN', 'FAIL', 'NODATA')", name="ck_factor_status"),
    )
    op.create_index("ix_factor_status", "exposure_factor", ["status"])

    op.create_table(
        "pair_stat",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("processing_run.id"), nullable=False),
        sa.Column("exposure_a", sa.Integer(), nullable=False),
        sa.Column("exposure_b", sa.Integer(), nullable=False),
        sa.Column("median", sa.Float(), nullable=True),
        sa.Column("error", sa.Float(), nullable=True),
        sa.Column("sigma", sa.Float(), nullable=True),
        sa.Column("n_matched", sa.Integer(), nullable=False),
        sa.Column("n_kept", sa.Integer(), nullable=False),
        sa.Column("n_rejected", sa.Integer(), nullable=False),
        sa.Column("clip_low", sa.Float(), nullable=True),
        sa.Column("clip_high", sa.Float(), nullable=True),
        sa.Column("valid", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_pair_run", "pair_stat", ["run_id"])

    op.create_table(
        "detector_stat",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("processing_run.id"), nullable=False),
        sa.Column("exposure", sa.Integer(), nullable=False),
        sa.Column("detector", sa.Integer(), nullable=False),
        sa.Column("median", sa.Float(), nullable=True),
        sa.Column("error", sa.Float(), nullable=True),
        sa.Column("n", sa.Integer(), nullable=False),
    )
    op.create_index("ix_detector_run", "detector_stat", ["run_id"])

    op.create_table(
        "match_sample",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("processing_run.id"), nullable=False),
        sa.Column("exposure_a", sa.Integer(), nullable=False),
        sa.Column("exposure_b", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_sample_run", "match_sample", ["run_id"])

    op.create_table(
        "review",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("observation_id", sa.Integer(), sa.ForeignKey("observation.id"), nullable=False),
        sa.Column("exposure_id", sa.Integer(), sa.ForeignKey("exposure.id"), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reviewer", sa.String(128), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("processing_run.id"), nullable=True),
        sa.Column("status", sa.String(8), nullable=True),
        sa.CheckConstraint("decision IN ('confirmed', 'overruled')", name="ck_review_decision"),
    )
    op.create_index("ix_review_exposure", "review", ["exposure_id"])

    if not sqlite:
        op.create_foreign_key(
            "fk_observation_current_run", "observation", "processing_run", ["current_run_id"], ["id"]
        )
        op.create_foreign_key(
            "fk_exposure_latest_review", "exposure", "review", ["latest_review_id"], ["id"]
        )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        op.drop_constraint("fk_exposure_latest_review", "exposure", type_="foreignkey")
        op.drop_constraint("fk_observation_current_run", "observation", type_="foreignkey")
    for table in (
        "review",
        "match_sample",
        "detector_stat",
        "pair_stat",
        "exposure_factor",
        "exposure",
        "processing_run",
        "observation",
    ):
        op.drop_table(table)
