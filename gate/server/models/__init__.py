"""Database tables (SQLAlchemy 2.0 typed models), one module per area. Only gate.server.services writes.

Every module's tables must be imported here so that Alembic sees the whole metadata.
"""

from gate.server.models.audit import AuditCheckpoint
from gate.server.models.core import (
    AGENT_ROLE,
    ApprovalRequest,
    AuditRecord,
    Decision,
    HeldItem,
    HookToken,
    Repository,
    User,
    utcnow,
)
from gate.server.models.health import RepositoryHeartbeat, UnsignedLanding
from gate.server.models.keys import SigningKey, WebAuthnChallenge, WebAuthnCredential
from gate.server.models.pause import Pause, PushReport
from gate.server.models.review import (
    GuardGroup,
    LoginAttempt,
    RequestFacet,
    ReviewerGroup,
    Webhook,
    WebhookDelivery,
    group_members,
)

__all__ = [
    "AGENT_ROLE",
    "ApprovalRequest",
    "AuditCheckpoint",
    "AuditRecord",
    "Decision",
    "GuardGroup",
    "HeldItem",
    "HookToken",
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
    "WebAuthnChallenge",
    "WebAuthnCredential",
    "Webhook",
    "WebhookDelivery",
    "group_members",
    "utcnow",
]
