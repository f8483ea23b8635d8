"""one standing approval per reviewer and request

Revision ID: 0005
Revises: 0003 (the head: 0004 came before 0003)

A reviewer's two approvals of one request sent at once could both be stored; withdrawing took
back only one. Before the unique index, every extra standing approval is marked withdrawn at
the moment it was made: it never counted (approvals count once per reviewer), and the audit
verifier, which keeps a reviewer's first approval and drops it on withdrawal, is unaffected.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

STANDING = "verdict = 'approve' AND withdrawn_at IS NULL"


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE decisions SET withdrawn_at = created_at "
            f"WHERE {STANDING} AND EXISTS ("
            "SELECT 1 FROM decisions AS earlier "
            "WHERE earlier.request_id = decisions.request_id "
            "AND earlier.reviewer_id = decisions.reviewer_id "
            "AND earlier.verdict = 'approve' AND earlier.withdrawn_at IS NULL "
            "AND earlier.id < decisions.id)"
        )
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index(
            "uq_decisions_standing_approval",
            ["request_id", "reviewer_id"],
            unique=True,
            sqlite_where=sa.text(STANDING),
            postgresql_where=sa.text(STANDING),
        )


def downgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("uq_decisions_standing_approval")
