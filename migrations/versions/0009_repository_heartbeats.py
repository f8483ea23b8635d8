"""repository heartbeats: which repositories the server guards, and whether their hooks run

Revision ID: 0009
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0006"
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


def downgrade() -> None:
    op.drop_table("repository_heartbeats")
