"""The audit signing key: an Ed25519 key pair kept in files, outside the database.

Layout of the key directory (``GATE_AUDIT_KEY_DIR``, default ``$GATE_HOME/keys``, mode 0700):

    audit-ed25519.key        current private key, PKCS#8 PEM, mode 0600
    audit-ed25519.pub.pem    current public key, SubjectPublicKeyInfo PEM (give this to auditors)
    retired/<fp16>.pub.pem   public keys of rotated-out keys (their private keys are deleted)
    signed-head.json         size and head of the last checkpoint this key directory signed
    audit-alert.txt          the audit alert, while the log does not extend the signed head
    .signer.lock             held while a checkpoint is checked, signed and remembered

The signed head is kept here, not in the database, so that whoever owns the database cannot
shorten or rewrite the log and have the signer sign the result: the signer only signs a chain
that extends the head it remembers.

Signing produces C2SP signed notes (https://c2sp.org/signed-note); the format is parsed by
gate.audit.verify, which is where an outside reader should look.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gate.audit.verify import SIGNATURE_DASH, VerifyError, fingerprint, key_id, public_key_raw
from gate.errors import GateError

PRIVATE_FILE = "audit-ed25519.key"
PUBLIC_FILE = "audit-ed25519.pub.pem"
RETIRED_DIR = "retired"
SIGNED_HEAD_FILE = "signed-head.json"
LOCK_FILE = ".signer.lock"


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_raw)

    @property
    def public_pem(self) -> bytes:
        return public_pem(self.public_raw)

    def described(self) -> dict[str, str]:
        """How audit records name a key: fingerprint and base64 raw public key."""
        return {
            "fingerprint": self.fingerprint,
            "public_key": base64.b64encode(self.public_raw).decode("ascii"),
        }


def public_pem(raw: bytes) -> bytes:
    return Ed25519PublicKey.from_public_bytes(raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_key(directory: Path) -> SigningKey | None:
    """The current key, or None if there is none yet. Refuses a key others could read."""
    path = directory / PRIVATE_FILE
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise GateError(f"cannot read the audit key {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise GateError(f"the audit key {path} is readable by others; run: chmod 600 {path}")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise GateError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise GateError(f"{path} is not an Ed25519 key")
    return SigningKey(key)


def current_key(directory: Path) -> SigningKey:
    """The current key, to hand its public half to auditors; refuses when there is none yet."""
    key = load_key(directory)
    if key is None:
        raise GateError(
            f"there is no audit key in {directory} yet: the server makes it when it signs its "
            "first checkpoint (run `gate audit checkpoint`)"
        )
    return key


def create_key(directory: Path) -> SigningKey:
    """A new key pair, written so that two processes racing end up with the same key."""
    key = SigningKey(Ed25519PrivateKey.generate())
    temporary = _write_private_temporary(directory, key)
    try:
        os.link(temporary, directory / PRIVATE_FILE)  # fails if another process won the race
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    winner = load_key(directory)
    assert winner is not None
    _write_public(directory / PUBLIC_FILE, winner.public_pem)
    return winner


def install_key(directory: Path, key: SigningKey) -> None:
    """Make ``key`` the current key (after a rotation has been recorded)."""
    temporary = _write_private_temporary(directory, key)
    temporary.replace(directory / PRIVATE_FILE)
    _write_public(directory / PUBLIC_FILE, key.public_pem)


def new_key() -> SigningKey:
    return SigningKey(Ed25519PrivateKey.generate())


def _write_private_temporary(directory: Path, key: SigningKey) -> Path:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    temporary = directory / f".{PRIVATE_FILE}.{os.getpid()}.{os.urandom(4).hex()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return temporary


def _write_public(path: Path, pem: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_bytes(pem)
    temporary.replace(path)


def retire_key(directory: Path, old: SigningKey) -> None:
    """Keep the old public key under retired/ (install_key then replaces its private key)."""
    retired = directory / RETIRED_DIR
    retired.mkdir(exist_ok=True, mode=0o700)
    _write_public(retired / f"{old.fingerprint[:16]}.pub.pem", old.public_pem)


def public_keys(directory: Path) -> dict[str, bytes]:
    """All public keys (current and retired) as fingerprint -> PEM."""
    keys = {}
    current = load_key(directory)
    if current is not None:
        keys[current.fingerprint] = current.public_pem
    for path in sorted((directory / RETIRED_DIR).glob("*.pub.pem")):
        try:
            keys[fingerprint(public_key_raw(path.read_bytes()))] = path.read_bytes()
        except VerifyError:
            raise GateError(f"{path} is not an Ed25519 public key") from None
    return keys


def sign_note(text: str, name: str, keys: list[SigningKey]) -> str:
    """A C2SP signed note: the text, a blank line, one signature line per key."""
    if not text.endswith("\n") or "\n\n" in text:
        raise ValueError("note text must end in a newline and contain no blank line")
    if not name or " " in name or "+" in name:
        raise ValueError(f"key name {name!r} must be non-empty, without spaces or '+'")
    lines = []
    for key in keys:
        signature = key.private.sign(text.encode("utf-8"))
        blob = base64.b64encode(key_id(name, key.public_raw) + signature).decode("ascii")
        lines.append(f"{SIGNATURE_DASH} {name} {blob}\n")
    return text + "\n" + "".join(lines)


@dataclass(frozen=True)
class SignedHead:
    """The last checkpoint the signer signed: the log's size and chain head then."""

    origin: str
    size: int
    head: str  # hex SHA-256 of record ``size`` (the genesis hash when 0)
    note_sha256: str  # of the signed note, to find it among the stored checkpoints
    time: str


def load_signed_head(directory: Path) -> SignedHead | None:
    path = directory / SIGNED_HEAD_FILE
    try:
        data = json.loads(path.read_text("utf-8"))
        head = SignedHead(**data)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise GateError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, TypeError):
        raise GateError(f"{path} is not a signed-head file; restore it from a backup") from None
    if not isinstance(head.size, int) or head.size < 0 or len(str(head.head)) != 64:
        raise GateError(f"{path} is not a signed-head file; restore it from a backup")
    return head


def save_signed_head(directory: Path, head: SignedHead) -> None:
    path = directory / SIGNED_HEAD_FILE
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(asdict(head), out, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)


@contextmanager
def signer_lock(directory: Path) -> Iterator[None]:
    """One signer at a time per key directory (across processes), so the remembered head only
    moves forward."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(directory / LOCK_FILE, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
