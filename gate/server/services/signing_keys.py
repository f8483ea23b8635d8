"""The signing-key registry: SSH and OpenPGP public keys that sign commits for an account.

A key belongs to one account, human or agent. The hooks read the whole registry (GET
/api/v1/keys) and keep a copy on the git host (gate.git.signing): a commit signed by an
agent's key is that agent's, and a ``trust = "signed-humans"`` guard accepts without
sign-off only commits validly signed by a human's key that is not revoked. Every change is an
audit record carrying the public key itself, so an exported bundle holds the registry as it
was at any time (gate.audit.verify checks signed acceptances against it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from datetime import UTC, datetime

from sqlalchemy import select

from gate import wire
from gate.clock import as_utc, utc_text
from gate.server.extensions import db
from gate.server.models import SigningKey, User
from gate.server.services import Conflict, NotFound, ServiceError, audit
from gate.server.services.actor import Actor

SSH_KEY_TYPES = (
    "ssh-ed25519",
    "sk-ssh-ed25519@openssh.com",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
)
MAX_KEY_TEXT = 64 * 1024
_ARMOR = re.compile(
    r"-----BEGIN PGP PUBLIC KEY BLOCK-----\r?\n(?P<body>.*?)-----END PGP PUBLIC KEY BLOCK-----",
    re.DOTALL,
)


def parse_ssh_public_key(text: str) -> tuple[str, str, str]:
    """(key type, "TYPE BASE64" as stored, SHA256 fingerprint as ssh-keygen and git show it)
    of one OpenSSH public key line (``ssh-ed25519 AAAA... comment``)."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if len(lines) != 1:
        raise ServiceError("an SSH public key file holds exactly one key line (a .pub file)")
    parts = lines[0].split()
    if len(parts) < 2 or parts[0] not in SSH_KEY_TYPES:
        raise ServiceError(
            "not an OpenSSH public key line (TYPE BASE64 [comment]; type one of "
            f"{', '.join(SSH_KEY_TYPES)}): give the .pub file, not the private key"
        )
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise ServiceError("the SSH public key's base64 does not decode") from None
    if len(blob) < 4:
        raise ServiceError("the SSH public key is truncated")
    (length,) = struct.unpack(">I", blob[:4])
    if blob[4 : 4 + length].decode("ascii", "replace") != parts[0]:
        raise ServiceError(f"the SSH public key's blob is not a {parts[0]} key")
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")
    return parts[0], f"{parts[0]} {parts[1]}", f"SHA256:{digest}"


def parse_openpgp_public_key(text: str) -> tuple[str, str, str]:
    """("openpgp", the armored block as stored, the primary key's v4 fingerprint in upper-case
    hex, as git's %GP shows it) of an ASCII-armored OpenPGP public key (gpg --armor --export)."""
    found = _ARMOR.search(text)
    if found is None:
        raise ServiceError(
            "not an ASCII-armored OpenPGP public key (gpg --armor --export KEYID > key.asc)"
        )
    body_lines = found["body"].replace("\r", "").split("\n")
    # Armor headers end at the first blank line; the checksum line starts with "=".
    if "" in body_lines:
        body_lines = body_lines[body_lines.index("") + 1 :]
    data = "".join(line for line in body_lines if line and not line.startswith("="))
    try:
        packets = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ServiceError("the OpenPGP key's armor does not decode") from None
    tag, body = _first_packet(packets)
    if tag != 6:
        raise ServiceError("the OpenPGP data does not start with a public key packet")
    if not body or body[0] != 4:
        version = body[0] if body else "?"
        raise ServiceError(f"only version 4 OpenPGP keys are supported (this one is v{version})")
    fingerprint = hashlib.sha1(b"\x99" + struct.pack(">H", len(body)) + body).hexdigest().upper()
    return "openpgp", found.group(0).replace("\r", "") + "\n", fingerprint


def _first_packet(data: bytes) -> tuple[int, bytes]:
    """The tag and body of the first OpenPGP packet (RFC 4880 4.2, both header formats)."""
    if not data or not data[0] & 0x80:
        raise ServiceError("the OpenPGP data is not a packet")
    first = data[0]
    try:
        if first & 0x40:  # new format
            tag, length_octet = first & 0x3F, data[1]
            if length_octet < 192:
                length, start = length_octet, 2
            elif length_octet < 224:
                length, start = ((length_octet - 192) << 8) + data[2] + 192, 3
            elif length_octet == 255:
                (length,), start = struct.unpack(">I", data[2:6]), 6
            else:
                raise ServiceError("the OpenPGP key packet has a partial length")
        else:
            tag, kind = (first >> 2) & 0x0F, first & 0x03
            size = {0: 1, 1: 2, 2: 4}.get(kind)
            if size is None:
                raise ServiceError("the OpenPGP key packet has an indeterminate length")
            length = int.from_bytes(data[1 : 1 + size], "big")
            start = 1 + size
    except (IndexError, struct.error):
        raise ServiceError("the OpenPGP key packet is truncated") from None
    body = data[start : start + length]
    if len(body) != length:
        raise ServiceError("the OpenPGP key packet is truncated")
    return tag, body


def _record(key: SigningKey) -> dict[str, object]:
    """A key as its audit records and the registry give it."""
    account = key.account
    return {
        "fingerprint": key.fingerprint,
        "account": account.username,
        "account_kind": "agent" if account.is_agent else "human",
        "kind": key.kind,
        "key_type": key.key_type,
        "public_key": key.public_key,
        "added_at": utc_text(key.added_at),
        "revoked_at": utc_text(key.revoked_at) if key.revoked_at is not None else None,
    }


def add_key(account: str, kind: str, text: str, *, actor: Actor) -> SigningKey:
    """Register a public key (``kind`` ssh or gpg) as signing for ``account``."""
    owner = db.session.scalar(select(User).where(User.username == account))
    if owner is None:
        raise NotFound(f"there is no account {account[:80]!r} (gate user list)")
    if not owner.active:
        raise ServiceError(f"the account {owner.username} is disabled")
    if len(text) > MAX_KEY_TEXT:
        raise ServiceError(f"a public key file is at most {MAX_KEY_TEXT} bytes")
    if kind == "ssh":
        key_type, public, fingerprint = parse_ssh_public_key(text)
    elif kind == "gpg":
        key_type, public, fingerprint = parse_openpgp_public_key(text)
    else:
        raise ServiceError("a key is --ssh FILE or --gpg FILE")
    taken = db.session.scalar(select(SigningKey).where(SigningKey.fingerprint == fingerprint))
    if taken is not None:
        raise Conflict(
            f"the key {fingerprint} is already registered for {taken.account.username}"
            + (" (revoked: a revoked key is never registered again)" if taken.revoked_at else "")
        )
    key = SigningKey(
        account_id=owner.id,
        kind=kind,
        key_type=key_type,
        public_key=public,
        fingerprint=fingerprint,
        added_at=datetime.now(UTC),
    )
    key.account = owner
    db.session.add(key)
    db.session.flush()
    audit.append("key.added", actor=actor, subject=_record(key))
    return key


def revoke_key(fingerprint: str, *, start: datetime | None = None, actor: Actor) -> SigningKey:
    """Revoke a key from ``start`` (default now; earlier: signatures accepted since then were
    made by a key that was no longer trusted, which gate audit verify then names)."""
    key = find_key(fingerprint)
    if key.revoked_at is not None:
        raise Conflict(
            f"the key {key.fingerprint} was already revoked from {utc_text(key.revoked_at)}"
        )
    key.revoked_at = as_utc(start) if start is not None else datetime.now(UTC)
    key.revoked_by = actor.name
    db.session.flush()
    audit.append("key.revoked", actor=actor, subject=_record(key))
    return key


def find_key(fingerprint: str) -> SigningKey:
    wanted = fingerprint.strip()
    if not wanted.startswith("SHA256:"):
        wanted = wanted.upper().replace(" ", "")
    key = db.session.scalar(select(SigningKey).where(SigningKey.fingerprint == wanted))
    if key is None:
        raise NotFound(f"there is no registered key {fingerprint[:100]!r} (gate key list)")
    return key


def list_keys() -> list[SigningKey]:
    return list(db.session.scalars(select(SigningKey).order_by(SigningKey.id)))


def registry() -> dict[str, object]:
    """GET /api/v1/keys: every key, revoked ones included (a revoked key is never human)."""
    return wire.key_registry(
        [_record(key) for key in list_keys()], generated_at=utc_text(datetime.now(UTC))
    )
