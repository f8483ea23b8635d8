"""Database tables (SQLAlchemy 2.0 typed models), one module per subject. Only
gate.server.services writes.

- accounts: people, agent accounts, reviewer groups and what they may approve, API tokens,
  failed logins;
- requests: repositories, approval requests, held items and their diffs, decisions, facets;
- keys: the commit-signing key registry, and reviewers' WebAuthn credentials (security keys that
  sign approvals) with the challenges of ceremonies under way;
- audit: the hash-chained audit log and its signed checkpoints;
- health: what git hosts report (heartbeats, unsigned landings, push reports);
- pause: pauses of agent changes;
- outbox: webhooks and pending deliveries (webhook calls and e-mail);
- reading: reviewers' viewed ticks and line comments, and the held blobs context is read from.

Every module's tables must be imported here so that Alembic sees the whole metadata.
"""

from gate.server.models.accounts import (
    AGENT_ROLE,
    DECIDING_ROLES,
    GuardGroup,
    HookToken,
    LoginAttempt,
    ReviewerGroup,
    User,
    group_members,
)
from gate.server.models.audit import AuditCheckpoint, AuditRecord
from gate.server.models.base import utcnow
from gate.server.models.health import PushReport, RepositoryHeartbeat, UnsignedLanding
from gate.server.models.keys import SigningKey, WebAuthnChallenge, WebAuthnCredential
from gate.server.models.outbox import Webhook, WebhookDelivery
from gate.server.models.pause import Pause
from gate.server.models.reading import HeldBlob, LineComment, ViewedFile
from gate.server.models.requests import (
    ApprovalRequest,
    Decision,
    HeldItem,
    Repository,
    RequestFacet,
)

__all__ = [
    "AGENT_ROLE",
    "DECIDING_ROLES",
    "ApprovalRequest",
    "AuditCheckpoint",
    "AuditRecord",
    "Decision",
    "GuardGroup",
    "HeldBlob",
    "HeldItem",
    "HookToken",
    "LineComment",
    "LoginAttempt",
    "Pause",
    "PushReport",
    "Repository",
    "RepositoryHeartbeat",
    "RequestFacet",
    "ReviewerGroup",
    "SigningKey",
    "UnsignedLanding",
    "User",
    "ViewedFile",
    "WebAuthnChallenge",
    "WebAuthnCredential",
    "Webhook",
    "WebhookDelivery",
    "group_members",
    "utcnow",
]
