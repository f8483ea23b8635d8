"""held items' patch ids (git patch-id --stable), and e-mail deliveries in the outbox

Revision ID: 0015
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Items held before keep NULL: a superseding request shows them as not compared.
    with op.batch_alter_table("held_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("patch_id", sa.String(length=40), nullable=True))
    # An outbox row is sent to a webhook or, with email_to, by e-mail (webhook_id NULL).
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_to", sa.String(length=320), nullable=True))
        batch_op.alter_column("webhook_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    # E-mail deliveries have no webhook to keep them by: they go with the column.
    op.execute("DELETE FROM webhook_deliveries WHERE webhook_id IS NULL")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.alter_column("webhook_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("email_to")
    with op.batch_alter_table("held_items", schema=None) as batch_op:
        batch_op.drop_column("patch_id")
