"""Reviews with consequences and undo: the review batch (one row per action,
revocable), what each decision was about (the flag kind and its reason), the
reviewer's cause from the controlled vocabulary, and revocation.

Existing reviews keep counting: they get no batch, no cause, no flag kind
(their ``status`` still says what was reviewed) and are not revoked.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from relphot_core.store.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _recreating_review(alter) -> None:
    """Run a batch alteration of ``review`` that SQLite does by copying the
    table: its DROP TABLE would break ``exposure.latest_review_id`` (foreign
    keys are on), so the pointers are set aside and put back (ids are kept)."""
    bind = op.get_bind()
    pointers = bind.execute(sa.text("SELECT id, latest_review_id FROM exposure "
                                    "WHERE latest_review_id IS NOT NULL")).all()
    if pointers:
        bind.execute(sa.text("UPDATE exposure SET latest_review_id = NULL WHERE latest_review_id IS NOT NULL"))
    with op.batch_alter_table("review") as batch:
        alter(batch)
    if pointers:
        bind.execute(sa.text("UPDATE exposure SET latest_review_id = :review WHERE id = :exposure"),
                     [{"review": r, "exposure": e} for e, r in pointers])


def upgrade() -> None:
    op.create_table(
        "review_batch",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("reviewer", sa.String(128), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("cause", sa.String(32), nullable=False, server_default=""),
        sa.Column("n_reviews", sa.Integer(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(128), nullable=True),
        sa.CheckConstraint("decision IN ('confirmed', 'overruled')", name="ck_review_batch_decision"),
    )
    def alter(batch) -> None:
        batch.add_column(sa.Column("batch_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("cause", sa.String(32), nullable=False, server_default=""))
        batch.add_column(sa.Column("flag_kind", sa.String(16), nullable=True))
        batch.add_column(sa.Column("flag_reason", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("revoked_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("revoked_by", sa.String(128), nullable=True))
        batch.create_foreign_key("fk_review_batch", "review_batch", ["batch_id"], ["id"])
        batch.create_index("ix_review_batch", ["batch_id"])

    _recreating_review(alter)


def downgrade() -> None:
    def alter(batch) -> None:
        batch.drop_index("ix_review_batch")
        batch.drop_constraint("fk_review_batch", type_="foreignkey")
        for name in ("revoked_by", "revoked_at", "flag_reason", "flag_kind", "cause", "batch_id"):
            batch.drop_column(name)

    _recreating_review(alter)
    op.drop_table("review_batch")
