"""The signing-key registry: which SSH and OpenPGP keys sign commits for which account."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, LargeBinary, String, Text
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


class WebAuthnCredential(Model):
    """A reviewer's security key or passkey, enrolled on their account page, that signs
    approvals of guards with ``approval = "webauthn"`` (gate.server.services.webauthn).

    ``credential_id`` is the authenticator's id in base64url, as browsers give it;
    ``public_key_cose`` is what the library verifies assertions with, ``public_key_pem`` the
    same key as SubjectPublicKeyInfo, which the enrolment's audit record carries for the
    offline verifier. ``sign_count`` is the last counter seen (0: the authenticator keeps none).
    """

    __tablename__ = "webauthn_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    algorithm: Mapped[int] = mapped_column(Integer)  # COSE: -7 ES256, -8 EdDSA, -257 RS256
    public_key_cose: Mapped[bytes] = mapped_column(LargeBinary)
    public_key_pem: Mapped[str] = mapped_column(Text)
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    rp_id: Mapped[str] = mapped_column(String(253))
    origin: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()


class WebAuthnChallenge(Model):
    """A ceremony under way: the challenge the server sent, kept here (the session cookie only
    names it) and deleted when used, so each challenge is answered at most once. ``purpose``
    is "enrol" or "approve"; ``state`` holds what the answer must match (for an approval, the
    statement whose SHA-256 is the challenge)."""

    __tablename__ = "webauthn_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(10))
    challenge: Mapped[str] = mapped_column(String(100), unique=True)  # base64url
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
