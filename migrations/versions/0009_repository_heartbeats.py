"""repository heartbeats and unsigned landings: which repositories the server guards, whether
their hooks run, and the agent commits found on protected refs without sign-off

Revision ID: 0009
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "repository_heartbeats",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=True),
        sa.Column("hook_version", sa.String(length=100), nullable=True),
        sa.Column("layout", sa.String(length=40), nullable=True),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("unknown_pusher_pushes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unknown_pusher_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("doctor_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_since", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["repository_id"], ["repositories.id"]),
        sa.ForeignKeyConstraint(["token_id"], ["hook_tokens.id"]),
        sa.PrimaryKeyConstraint("repository_id"),
    )
    op.create_table(
        "unsigned_landings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("commit_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("audit_seq", sa.Integer(), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["repository_id"], ["repositories.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("repository_id", "commit_id"),
    )
    op.create_index("ix_unsigned_landings_repository_id", "unsigned_landings", ["repository_id"])


def downgrade() -> None:
    op.drop_index("ix_unsigned_landings_repository_id", table_name="unsigned_landings")
    op.drop_table("unsigned_landings")
    op.drop_table("repository_heartbeats")
