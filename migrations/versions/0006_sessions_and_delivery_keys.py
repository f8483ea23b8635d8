"""session versions for users, idempotency keys for webhook deliveries

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=64), nullable=True))
    # Deliveries queued before this migration: a key that is unique and stable per delivery.
    op.execute("UPDATE webhook_deliveries SET idempotency_key = 'delivery-' || id")
    # Receivers' response bodies were kept in last_error and shown to admins: keep the status.
    op.execute(
        "UPDATE webhook_deliveries SET last_error = 'HTTP ' || last_status "
        "WHERE last_error LIKE 'HTTP %' AND last_status IS NOT NULL"
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.alter_column("idempotency_key", existing_type=sa.String(length=64), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_column("idempotency_key")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_version")
