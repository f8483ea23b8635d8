"""Security keys (WebAuthn) for reviewers: enrolment, and approvals signed by the key.

A reviewer enrols a credential on their account page (the registration ceremony). Its
enrolment is an audit record carrying the credential id and its public key as
SubjectPublicKeyInfo PEM (converted from COSE here, with the library), so the offline verifier
(gate.audit.verify) needs only ``cryptography``.

A guard with ``approval = "webauthn"`` makes an assertion the step-up for approving a request
that touches it. The challenge is the SHA-256 of the canonical approval statement
(``approval_statement``: repository, request, every held key, the content hash shown, the
guards, the decision, the comment, the reviewer and the time), so the authenticator signs
exactly what the reviewer saw; the statement and the assertion (authenticator data, client
data JSON, signature, credential id) go into the decision's audit record.

Challenges are kept in the database (``WebAuthnChallenge``, named by the session) and deleted
when answered: each is used at most once. The library (py_webauthn) verifies every response:
client data type, challenge, origin, RP ID hash, user presence, signature and sign counter.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from sqlalchemy import delete, select
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    decode_credential_public_key,
    decoded_public_key_to_cryptography,
    parse_authentication_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from gate.audit.verify import STATEMENT_TYPE, canonical_json
from gate.clock import as_utc, utc_text
from gate.server.extensions import db
from gate.server.models import ApprovalRequest, User, WebAuthnChallenge, WebAuthnCredential
from gate.server.models.base import max_length
from gate.server.services import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceError,
    audit,
    comment_text,
)
from gate.server.services.actor import Actor

WEBAUTHN = "webauthn"
# ES256 and EdDSA: what security keys and passkeys make, and what the offline verifier checks.
ALGORITHMS = [COSEAlgorithmIdentifier.EDDSA, COSEAlgorithmIdentifier.ECDSA_SHA_256]
CHALLENGE_SECONDS = 300  # a ceremony not finished in five minutes starts again
MAX_RESPONSE = 64 * 1024  # a browser's answer, as JSON


class AssertionRefused(Forbidden):
    """The security key's answer was missing or did not verify; nothing was recorded."""


@dataclass(frozen=True)
class RelyingParty:
    """Who the credentials are for: the RP ID (a host name) and the origin browsers show."""

    id: str
    origin: str
    name: str = "gate"

    @classmethod
    def from_url(cls, url: str) -> RelyingParty:
        parts = urlsplit(url)
        if not parts.scheme or not parts.hostname:
            raise ServiceError(f"cannot tell the WebAuthn origin from {url[:200]!r}")
        return cls(parts.hostname, f"{parts.scheme}://{parts.netloc}")


def needs_webauthn(request: ApprovalRequest) -> list[str]:
    """The request's guards whose approvals need a security key (sorted)."""
    methods = request.approval_methods or {}
    return sorted(g for g in request.required if methods.get(g) == WEBAUTHN)


def credentials_of(user: User, *, active: bool = True) -> list[WebAuthnCredential]:
    query = select(WebAuthnCredential).where(WebAuthnCredential.user_id == user.id)
    if active:
        query = query.where(WebAuthnCredential.revoked_at.is_(None))
    return list(db.session.scalars(query.order_by(WebAuthnCredential.id)))


def spki_pem(cose_key: bytes) -> tuple[int, str]:
    """(COSE algorithm, SubjectPublicKeyInfo PEM) of a credential's COSE public key."""
    decoded = decode_credential_public_key(cose_key)
    key = decoded_public_key_to_cryptography(decoded)
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return int(decoded.alg), pem.decode("ascii")


# --- challenges ------------------------------------------------------------------------------


def _new_challenge(user: User, purpose: str, challenge: bytes, state: dict[str, Any]) -> int:
    now = datetime.now(UTC)
    db.session.execute(
        delete(WebAuthnChallenge).where(
            WebAuthnChallenge.created_at < now - timedelta(seconds=CHALLENGE_SECONDS)
        )
    )
    row = WebAuthnChallenge(
        user_id=user.id,
        purpose=purpose,
        challenge=bytes_to_base64url(challenge),
        state=state,
        created_at=now,
    )
    db.session.add(row)
    db.session.flush()
    return row.id


def take_challenge(challenge_id: int | None, user: User, purpose: str) -> dict[str, Any] | None:
    """The ceremony's state (with its ``challenge``), its row deleted as it is taken; None when
    there is none for ``user`` and ``purpose`` or it expired. The edge takes it in a
    transaction of its own, so the deletion stands even when the answer is then refused: each
    challenge is answered at most once."""
    row = db.session.get(WebAuthnChallenge, challenge_id) if challenge_id else None
    if row is None or row.user_id != user.id or row.purpose != purpose:
        return None
    db.session.delete(row)
    db.session.flush()
    if as_utc(row.created_at) < datetime.now(UTC) - timedelta(seconds=CHALLENGE_SECONDS):
        return None
    return {**row.state, "challenge": row.challenge}


def _pending(state: dict[str, Any] | None) -> dict[str, Any]:
    if state is None:
        raise AssertionRefused(
            "no security-key ceremony is under way for this, or it expired (each challenge "
            "is answered once, within five minutes); start again. Nothing was recorded."
        )
    return state


def _response(text: str) -> str:
    if not text or len(text) > MAX_RESPONSE:
        raise AssertionRefused(
            "no security-key response was sent (the browser must answer the challenge). "
            "Nothing was recorded."
        )
    return text


# --- enrolment -------------------------------------------------------------------------------


def registration_options(user: User, rp: RelyingParty) -> tuple[int, str]:
    """Start enrolling a credential: (challenge id for the session, options JSON for
    navigator.credentials.create)."""
    challenge = secrets.token_bytes(32)
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_name=user.username,
        user_id=f"gate-user-{user.id}".encode(),
        user_display_name=user.name,
        challenge=challenge,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=_raw_id(c.credential_id)) for c in credentials_of(user)
        ],
        supported_pub_key_algs=ALGORITHMS,
    )
    state = {"rp_id": rp.id, "origin": rp.origin}
    return _new_challenge(user, "enrol", challenge, state), options_to_json(options)


def _raw_id(credential_id: str) -> bytes:
    return base64url_to_bytes(credential_id)


def enrol(
    user: User, pending: dict[str, Any] | None, response: str, name: str, *, actor: Actor
) -> WebAuthnCredential:
    """Finish enrolling: verify the browser's registration response against the challenge,
    keep the credential and its audit record (the public key as SPKI PEM)."""
    name = " ".join(name.split())[: max_length(WebAuthnCredential.name)] or "security key"
    state = _pending(pending)
    rp_id, origin = state["rp_id"], state["origin"]
    try:
        verified = verify_registration_response(
            credential=_response(response),
            expected_challenge=base64url_to_bytes(state["challenge"]),
            expected_rp_id=rp_id,
            expected_origin=origin,
            supported_pub_key_algs=ALGORITHMS,
        )
        algorithm, pem = spki_pem(verified.credential_public_key)
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise AssertionRefused(f"the security key's enrolment did not verify: {exc}") from None
    credential_id = bytes_to_base64url(verified.credential_id)
    taken = db.session.scalar(
        select(WebAuthnCredential).where(WebAuthnCredential.credential_id == credential_id)
    )
    if taken is not None:
        raise Conflict("this security key is already enrolled")
    now = datetime.now(UTC)
    credential = WebAuthnCredential(
        user_id=user.id,
        credential_id=credential_id,
        name=name,
        algorithm=algorithm,
        public_key_cose=verified.credential_public_key,
        public_key_pem=pem,
        sign_count=verified.sign_count,
        rp_id=rp_id,
        origin=origin,
        created_at=now,
    )
    db.session.add(credential)
    db.session.flush()
    audit.append(
        "webauthn.enrolled",
        actor=actor,
        subject={
            "user": user.username,
            "user_email": user.email,
            "credential_id": credential_id,
            "name": name,
            "algorithm": algorithm,
            "public_key": pem,
            "rp_id": rp_id,
            "origin": origin,
            "sign_count": verified.sign_count,
            "aaguid": verified.aaguid,
            "user_verified": verified.user_verified,
            "enrolled_at": utc_text(now),
        },
    )
    return credential


def revoke(user: User, credential_id: int, *, actor: Actor) -> WebAuthnCredential:
    """Stop a credential signing for ``user`` from now on (recorded; approvals it signed before
    stay valid, and the verifier checks each against the time it was revoked)."""
    credential = db.session.get(WebAuthnCredential, credential_id)
    if credential is None or credential.user_id != user.id:
        raise NotFound("you have no such security key")
    if credential.revoked_at is not None:
        raise Conflict("this security key was already removed")
    credential.revoked_at = datetime.now(UTC)
    db.session.flush()
    audit.append(
        "webauthn.revoked",
        actor=actor,
        subject={
            "user": user.username,
            "credential_id": credential.credential_id,
            "revoked_at": utc_text(credential.revoked_at),
        },
    )
    return credential


# --- approvals -------------------------------------------------------------------------------


def approval_statement(
    request: ApprovalRequest,
    reviewer: User,
    content_sha256: str,
    comment: str,
    time: datetime,
) -> dict[str, Any]:
    """What the reviewer's key signs for an approval (its SHA-256 over the canonical JSON is
    the challenge); gate.audit.verify rebuilds the comparison from the decision's record."""
    return {
        "type": STATEMENT_TYPE,
        "repository": request.repository.name,
        "request": request.id,
        "ref": request.ref,
        "keys": [item.key for item in request.items],
        "content_sha256": content_sha256,
        "guards": sorted(request.required),
        "decision": "approve",
        "comment": comment_text(comment),
        "reviewer": reviewer.username,
        "time": utc_text(time),
    }


def statement_sha256(statement: dict[str, Any]) -> bytes:
    return hashlib.sha256(canonical_json(statement)).digest()


def assertion_options(
    request: ApprovalRequest,
    reviewer: User,
    content_sha256: str,
    comment: str,
    rp: RelyingParty,
) -> tuple[int, str, dict[str, Any]]:
    """Start a signed approval: (challenge id for the session, options JSON for
    navigator.credentials.get, the statement the key will sign)."""
    credentials = credentials_of(reviewer)
    if not credentials:
        raise Forbidden(
            "approving this request needs your security key (guards "
            f'{", ".join(needs_webauthn(request))} say approval = "webauthn"); enrol one on '
            "your account page first"
        )
    if len(comment) > 10_000:
        raise ServiceError("comments are limited to 10,000 characters")
    statement = approval_statement(request, reviewer, content_sha256, comment, datetime.now(UTC))
    challenge = statement_sha256(statement)
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=_raw_id(c.credential_id)) for c in credentials
        ],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    state = {"statement": statement, "rp_id": rp.id, "origin": rp.origin}
    return (
        _new_challenge(reviewer, "approve", challenge, state),
        options_to_json(options),
        statement,
    )


def verify_approval(
    request: ApprovalRequest,
    reviewer: User,
    content_sha256: str,
    comment: str,
    pending: dict[str, Any] | None,
    response: str,
) -> dict[str, Any]:
    """Check the security key's assertion over the pending statement, which must still
    describe this request as it is and this decision; count the signature; give the audit
    record's ``webauthn`` field. Raises AssertionRefused (nothing recorded) when any check
    fails."""
    state = _pending(pending)
    statement: dict[str, Any] = state["statement"]
    expected = approval_statement(request, reviewer, content_sha256, comment, datetime.now(UTC)) | {
        "time": statement.get("time")
    }
    if statement != expected:
        changed = sorted(k for k in expected if statement.get(k) != expected[k])
        raise AssertionRefused(
            "the statement your security key was asked to sign no longer matches this approval "
            f"({', '.join(changed)} changed); start again. Nothing was recorded."
        )
    text = _response(response)
    try:
        parsed = parse_authentication_credential_json(text)
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise AssertionRefused(f"the security key's answer is not readable: {exc}") from None
    credential_id = bytes_to_base64url(parsed.raw_id)
    credential = db.session.scalar(
        select(WebAuthnCredential).where(
            WebAuthnCredential.credential_id == credential_id,
            WebAuthnCredential.user_id == reviewer.id,
            WebAuthnCredential.revoked_at.is_(None),
        )
    )
    if credential is None:
        raise AssertionRefused(
            "that security key is not one enrolled (and not removed) for you. Nothing was recorded."
        )
    challenge = statement_sha256(statement)
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=state["rp_id"],
            expected_origin=state["origin"],
            credential_public_key=credential.public_key_cose,
            credential_current_sign_count=credential.sign_count,
        )
    except (WebAuthnException, ValueError, TypeError) as exc:
        raise AssertionRefused(
            f"your security key's signature did not verify: {exc}. Nothing was recorded."
        ) from None
    credential.sign_count = verified.new_sign_count
    credential.last_used_at = datetime.now(UTC)
    response_part = parsed.response
    return {
        "statement": statement,
        "statement_sha256": challenge.hex(),
        "credential_id": credential_id,
        "authenticator_data": bytes_to_base64url(response_part.authenticator_data),
        "client_data_json": bytes_to_base64url(response_part.client_data_json),
        "signature": bytes_to_base64url(response_part.signature),
        "origin": state["origin"],
        "rp_id": state["rp_id"],
        "user_verified": verified.user_verified,
        "sign_count": verified.new_sign_count,
    }


def statement_json(statement: dict[str, Any]) -> str:
    """The statement as the page shows it (readable; the key signs its canonical form)."""
    return json.dumps(statement, indent=2, sort_keys=True, ensure_ascii=False)
