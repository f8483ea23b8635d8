"""The signing-key registry: which SSH and OpenPGP keys sign commits for which account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gate.server.models.accounts import User
from gate.server.models.base import Model, utcnow


class SigningKey(Model):
    """A public key that signs commits for ``account`` (a human reviewer or an agent account).

    ``fingerprint`` is what git reports for a signature by it: ``SHA256:...`` for SSH keys
    (ssh-keygen's), the primary key's 40 hex digits for OpenPGP keys. A revoked key signs for
    no one from ``revoked_at`` on (which may be in the future: a planned rotation).
    """

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # ssh | gpg
    key_type: Mapped[str] = mapped_column(String(60))  # ssh-ed25519, sk-ssh-ed25519@..., openpgp
    public_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(100), unique=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(320))

    account: Mapped[User] = relationship()
