"""reviewer experience: attested decisions, queue facets, reviewer groups, login throttling,
webhooks

Revision ID: 0003
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("attestation", sa.Text(), nullable=True))
        batch.add_column(sa.Column("attested_sha256", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("auth_method", sa.String(length=60), nullable=True))
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("agent_owner", sa.String(length=320), nullable=True))
        batch.create_index("ix_requests_created", ["created_at"])
        batch.create_index("ix_requests_pusher", ["pusher"])
        batch.create_index("ix_requests_supersede", ["repository_id", "ref", "pusher", "state"])

    op.create_table(
        "request_facets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_request_facets_request_id", "request_facets", ["request_id"])
    op.create_index(
        "ix_request_facets_kind_value", "request_facets", ["kind", "value", "request_id"]
    )
    op.create_table(
        "reviewer_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["reviewer_groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("group_id", "user_id"),
    )
    op.create_index("ix_group_members_user_id", "group_members", ["user_id"])
    op.create_table(
        "guard_groups",
        sa.Column("guard", sa.String(length=200), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["reviewer_groups.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("guard", "group_id"),
    )
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_attempts_key_time", "login_attempts", ["key", "created_at"])
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("style", sa.String(length=10), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=60), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["webhook_id"], ["webhooks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_webhook_deliveries_state_due", "webhook_deliveries", ["state", "next_attempt_at"]
    )
    _backfill_facets()


def _backfill_facets() -> None:
    """Requests held before this migration get their guard and agent facets."""
    bind = op.get_bind()
    requests = sa.table("requests", sa.column("id"), sa.column("required", sa.JSON))
    items = sa.table("held_items", sa.column("request_id"), sa.column("signals", sa.JSON))
    facets = sa.table(
        "request_facets", sa.column("request_id"), sa.column("kind"), sa.column("value")
    )
    rows: set[tuple[int, str, str]] = set()
    for request_id, required in bind.execute(sa.select(requests.c.id, requests.c.required)):
        rows.update((request_id, "guard", guard[:200]) for guard in required or {})
    for request_id, signals in bind.execute(sa.select(items.c.request_id, items.c.signals)):
        rows.update(
            (request_id, "agent", s["agent"][:200]) for s in signals or [] if s.get("agent")
        )
    if rows:
        op.bulk_insert(
            facets, [{"request_id": r, "kind": k, "value": v} for r, k, v in sorted(rows)]
        )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
    op.drop_table("login_attempts")
    op.drop_table("guard_groups")
    op.drop_table("group_members")
    op.drop_table("reviewer_groups")
    op.drop_table("request_facets")
    with op.batch_alter_table("requests") as batch:
        batch.drop_index("ix_requests_supersede")
        batch.drop_index("ix_requests_pusher")
        batch.drop_index("ix_requests_created")
        batch.drop_column("agent_owner")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("auth_method")
        batch.drop_column("attested_sha256")
        batch.drop_column("attestation")
