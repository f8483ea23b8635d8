"""remembered-commit counts per repository: how many agent-pushed commits the server was told
of (push reports' ``remembered``) and how many the host's provenance store last said it holds,
so a store lost whole (a backup restore, a storage move) is noticed

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("repository_heartbeats") as batch:
        batch.add_column(
            sa.Column("remembered_reported", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("remembered_on_host", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("repository_heartbeats") as batch:
        batch.drop_column("remembered_on_host")
        batch.drop_column("remembered_reported")
