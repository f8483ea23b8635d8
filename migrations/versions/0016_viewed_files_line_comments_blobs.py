"""viewed ticks per reviewer and request version, line comments, and the held blobs the
review page expands context from

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "viewed_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("file_key", sa.String(length=64), nullable=False),
        sa.Column("attested_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["reviewer_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["held_items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_viewed_files_request_id", "viewed_files", ["request_id"])
    op.create_index(
        "uq_viewed_files_tick",
        "viewed_files",
        ["request_id", "reviewer_id", "file_key", "attested_sha256"],
        unique=True,
    )
    op.create_table(
        "line_comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("side", sa.String(length=3), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["reviewer_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["held_items.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_line_comments_decision_id", "line_comments", ["decision_id"])
    op.create_index(
        "ix_line_comments_request_reviewer", "line_comments", ["request_id", "reviewer_id"]
    )
    # Requests held before 0016 have none: their pages expand no context.
    op.create_table(
        "held_blobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("oid", sa.String(length=40), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("uq_held_blobs_request_oid", "held_blobs", ["request_id", "oid"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_held_blobs_request_oid", table_name="held_blobs")
    op.drop_table("held_blobs")
    op.drop_index("ix_line_comments_request_reviewer", table_name="line_comments")
    op.drop_index("ix_line_comments_decision_id", table_name="line_comments")
    op.drop_table("line_comments")
    op.drop_index("uq_viewed_files_tick", table_name="viewed_files")
    op.drop_index("ix_viewed_files_request_id", table_name="viewed_files")
    op.drop_table("viewed_files")
