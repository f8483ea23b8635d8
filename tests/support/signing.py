"""Real signing keys for tests: ed25519 SSH keys from ssh-keygen, OpenPGP keys from gpg's batch
key generation (no passphrase), and commits signed with them by git itself."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.gitrepo import HUMAN, WorkClone, git


def require_tools(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        if os.environ.get("GATE_REQUIRE_BROWSER") or os.environ.get("CI"):
            pytest.fail(f"{', '.join(missing)} missing (.ci/run installs them)")
        pytest.skip(f"{', '.join(missing)} not installed")


@dataclass(frozen=True)
class SshKey:
    private: Path
    public: Path

    @property
    def fingerprint(self) -> str:
        out = subprocess.run(
            ["ssh-keygen", "-l", "-E", "sha256", "-f", str(self.public)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return out.split()[1]


def ssh_key(folder: Path, name: str) -> SshKey:
    require_tools("ssh-keygen")
    folder.mkdir(parents=True, exist_ok=True)
    private = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(private)], check=True
    )
    return SshKey(private, folder / f"{name}.pub")


@dataclass(frozen=True)
class GpgKey:
    home: Path
    fingerprint: str
    armored: Path


def gpg_key(folder: Path, name: str, email: str) -> GpgKey:
    """A key in a GnuPG home of its own. The home is under /tmp with a short name: gpg-agent's
    socket path must fit in 108 bytes, which pytest's folders do not. Stop its agent with
    ``stop_gpg_agent``."""
    require_tools("gpg")
    folder.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="gk-", dir="/tmp"))
    home.chmod(0o700)
    spec = (
        "%no-protection\nKey-Type: eddsa\nKey-Curve: ed25519\nKey-Usage: sign\n"
        f"Name-Real: {name}\nName-Email: {email}\nExpire-Date: 0\n%commit\n"
    )
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(
        ["gpg", "--batch", "--quiet", "--gen-key"],
        input=spec.encode(),
        env=env,
        check=True,
        capture_output=True,
    )
    listing = subprocess.run(
        ["gpg", "--with-colons", "--list-keys", email],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fingerprint = next(
        line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr")
    )
    armored = folder / f"{name}.asc"
    armored.write_bytes(
        subprocess.run(
            ["gpg", "--armor", "--export", email], env=env, capture_output=True, check=True
        ).stdout
    )
    return GpgKey(home, fingerprint, armored)


def stop_gpg_agent(key: GpgKey) -> None:
    subprocess.run(["gpgconf", "--homedir", str(key.home), "--kill", "all"], capture_output=True)
    shutil.rmtree(key.home, ignore_errors=True)


def signed_commit(
    clone: WorkClone,
    message: str,
    files: dict[str, str],
    key: SshKey | GpgKey,
    author: tuple[str, str] = HUMAN,
) -> str:
    """A commit signed by git itself (``commit -S``) with ``key``."""
    for name, content in files.items():
        clone.write(name, content)
    git(clone.path, "add", "-A")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": author[0],
        "GIT_AUTHOR_EMAIL": author[1],
        "GIT_COMMITTER_NAME": author[0],
        "GIT_COMMITTER_EMAIL": author[1],
    }
    if isinstance(key, SshKey):
        options = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key.private}"]
    else:
        env["GNUPGHOME"] = str(key.home)
        options = ["-c", "gpg.format=openpgp", "-c", f"user.signingkey={key.fingerprint}"]
    git(clone.path, *options, "commit", "--quiet", "-S", "-m", message, env=env)
    return clone.head()


def forged_commit(clone: WorkClone, message: str) -> str:
    """HEAD's signed commit with its message changed and its signature kept: a signature
    that no longer matches (written with hash-object, as an attacker would), made HEAD."""
    raw = subprocess.run(
        ["git", "cat-file", "commit", "HEAD"], cwd=clone.path, capture_output=True, check=True
    ).stdout
    header, _, _ = raw.partition(b"\n\n")
    forged = header + b"\n\n" + message.encode() + b"\n"
    oid = (
        subprocess.run(
            ["git", "hash-object", "-t", "commit", "-w", "--stdin"],
            cwd=clone.path,
            input=forged,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    git(clone.path, "reset", "--quiet", "--soft", oid)
    return oid


def _ssh_string(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


SK_TYPE = b"sk-ssh-ed25519@openssh.com"


class SkKey:
    """A FIDO security key's ed25519 key pair, made in software (an sk key cannot be made
    without the hardware): its signatures are crafted here with the flags byte a test chooses,
    in OpenSSH's exact SSHSIG format, and ssh-keygen verifies them like a real key's.
    ``security_key=False``: a plain ssh-ed25519 key, signed the same way (no flags).
    ``seed``: a fixed private key, for signatures that are the same on every run."""

    def __init__(
        self,
        folder: Path | None,
        name: str,
        application: bytes = b"ssh:",
        security_key: bool = True,
        seed: bytes | None = None,
    ) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self._private = (
            Ed25519PrivateKey.generate()
            if seed is None
            else Ed25519PrivateKey.from_private_bytes(seed)
        )
        raw = self._private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.type = SK_TYPE if security_key else b"ssh-ed25519"
        self.application = application if security_key else None
        self.blob = _ssh_string(self.type) + _ssh_string(raw)
        if self.application is not None:
            self.blob += _ssh_string(self.application)
        self.line = f"{self.type.decode()} {base64.b64encode(self.blob).decode()}"
        self.fingerprint = "SHA256:" + base64.b64encode(
            hashlib.sha256(self.blob).digest()
        ).decode().rstrip("=")
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            self.public = folder / f"{name}.pub"
            self.public.write_text(f"{self.line} {name}\n")

    def sign(self, payload: bytes, flags: int = 0x05, counter: int = 1) -> str:
        """An armored SSH signature (namespace "git") of ``payload`` (with ``flags``)."""
        signed = (
            b"SSHSIG" + _ssh_string(b"git") + _ssh_string(b"") + _ssh_string(b"sha512")
            + _ssh_string(hashlib.sha512(payload).digest())
        )  # fmt: skip
        if self.application is None:
            signature = _ssh_string(self.type) + _ssh_string(self._private.sign(signed))
        else:
            tail = bytes([flags]) + struct.pack(">I", counter)
            application = hashlib.sha256(self.application).digest()
            message = application + tail + hashlib.sha256(signed).digest()
            signature = _ssh_string(self.type) + _ssh_string(self._private.sign(message)) + tail
        blob = (
            b"SSHSIG" + struct.pack(">I", 1) + _ssh_string(self.blob) + _ssh_string(b"git")
            + _ssh_string(b"") + _ssh_string(b"sha512") + _ssh_string(signature)
        )  # fmt: skip
        text = base64.b64encode(blob).decode()
        lines = [text[i : i + 70] for i in range(0, len(text), 70)]
        return "\n".join(["-----BEGIN SSH SIGNATURE-----", *lines, "-----END SSH SIGNATURE-----"])


def with_signature(raw: bytes, signature: str) -> bytes:
    """The commit object ``raw`` with ``signature`` in a ``gpgsig`` header, as git writes it."""
    header, _, body = raw.partition(b"\n\n")
    first, *rest = signature.split("\n")
    gpgsig = "gpgsig " + first + "".join("\n " + line for line in rest)
    return header + b"\n" + gpgsig.encode() + b"\n\n" + body


def sk_signed_commit(
    clone: WorkClone, message: str, files: dict[str, str], key: SkKey, flags: int
) -> str:
    """A commit signed by ``key`` with ``flags`` (0x01 user presence, 0x04 user verified),
    written as git writes a signed commit (a ``gpgsig`` header after the committer), made HEAD."""
    clone.commit(message, files)
    raw = subprocess.run(["git", "cat-file", "commit", "HEAD"], cwd=clone.path,
                         capture_output=True, check=True).stdout  # fmt: skip
    signed = with_signature(raw, key.sign(raw, flags))
    oid = subprocess.run(
        ["git", "hash-object", "-t", "commit", "-w", "--stdin"],
        cwd=clone.path, input=signed, capture_output=True, check=True,
    ).stdout.decode().strip()  # fmt: skip
    git(clone.path, "reset", "--quiet", "--soft", oid)
    return oid
