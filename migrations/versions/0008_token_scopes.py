"""token scopes: hook tokens per git host and repositories, agent accounts and read tokens

Revision ID: 0008
Revises: 0006 (another 0007 is made beside this one; the integrator re-chains them)

Tokens made before scopes keep working as they did, for every repository, with their name as
their git host (the README told operators to name a token after its git server), and are
flagged ``unscoped``: ``gate token list`` and the admin page warn about each until it is
replaced by a scoped one. Requests recorded before get their token's host, so a push through
the same token still supersedes them and one through another host never does; a request with
no token has no host and is never superseded.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("operator_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_users_operator_id", "users", ["operator_id"], ["id"])
    with op.batch_alter_table("hook_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=20), nullable=False, server_default="hook")
        )
        batch_op.add_column(sa.Column("host", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("repositories", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("all_repositories", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("unscoped", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("agent_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("refusal_noted_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("refusals_unnoted", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_foreign_key("fk_hook_tokens_agent_id", "users", ["agent_id"], ["id"])
    op.execute(
        sa.text(
            "UPDATE hook_tokens SET host = name, repositories = '[]', "
            "all_repositories = :yes, unscoped = :yes"
        ).bindparams(yes=True)
    )
    with op.batch_alter_table("hook_tokens", schema=None) as batch_op:
        batch_op.alter_column("repositories", existing_type=sa.JSON(), nullable=False)
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("host", sa.String(length=200), nullable=True))
        batch_op.drop_index("ix_requests_supersede")
        batch_op.create_index(
            "ix_requests_supersede", ["repository_id", "ref", "pusher", "host", "state"]
        )
    op.execute(
        "UPDATE requests SET host = "
        "(SELECT hook_tokens.host FROM hook_tokens WHERE hook_tokens.id = requests.token_id)"
    )


def downgrade() -> None:
    # Without a kind an agent's read token would be a hook token for every repository.
    op.execute(
        "UPDATE hook_tokens SET revoked_at = CURRENT_TIMESTAMP "
        "WHERE kind <> 'hook' AND revoked_at IS NULL"
    )
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index("ix_requests_supersede")
        batch_op.create_index("ix_requests_supersede", ["repository_id", "ref", "pusher", "state"])
        batch_op.drop_column("host")
    with op.batch_alter_table("hook_tokens", schema=None) as batch_op:
        batch_op.drop_constraint("fk_hook_tokens_agent_id", type_="foreignkey")
        for column in (
            "refusals_unnoted",
            "refusal_noted_at",
            "agent_id",
            "unscoped",
            "all_repositories",
            "repositories",
            "host",
            "kind",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("fk_users_operator_id", type_="foreignkey")
        batch_op.drop_column("operator_id")
