"""held items' content SHA-256: the hash of the verified objects a hold was rendered from

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Items held before the server checked content keep NULL: nothing proves what they showed,
    # so the hook never takes their approval for a push (gate.git.client.check_content).
    with op.batch_alter_table("held_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("held_items", schema=None) as batch_op:
        batch_op.drop_column("content_sha256")
