"""Database tables (SQLAlchemy 2.0 typed models), one module per area. Only gate.services writes.

Every module's tables must be imported here so that Alembic sees the whole metadata.
"""

from gate.models.audit import AuditCheckpoint
from gate.models.core import (
    ApprovalRequest,
    AuditRecord,
    Decision,
    HeldItem,
    HookToken,
    Repository,
    User,
    utcnow,
)
from gate.models.pause import Pause, PushReport

__all__ = [
    "ApprovalRequest",
    "AuditCheckpoint",
    "AuditRecord",
    "Decision",
    "HeldItem",
    "HookToken",
    "Pause",
    "PushReport",
    "Repository",
    "User",
    "utcnow",
]
