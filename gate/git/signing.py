"""Commit signatures against the server's key registry, on the git host, with git's own checks.

The registry (GET /api/v1/keys: each key's fingerprint, account, whether that account is a
human's or an agent's, public key and revocation) is kept in the repository as ``gate-keys``,
with what git verifies from: an allowed-signers file for SSH signatures
(``gate-keys.allowed-signers``, ``gpg.ssh.allowedSignersFile``) and a GnuPG home with the
OpenPGP keys imported (``gate-keys.gnupg-<hash>``). The post-receive worker refreshes it after
every push; the pre-receive hook reads it, and asks the server itself only when its copy is
older than ``KEYS_MAX_AGE`` and a decision needs it. When the registry is needed and cannot be
had, the push is refused (fail closed).

One ``git log --no-walk`` call verifies every candidate commit: ``%G?`` (git's verdict),
``%GF``/``%GP`` (the key's fingerprint: ssh-keygen's ``SHA256:...``, an OpenPGP primary key's
hex). A signature counts for a registered key only when git found it good; the key's account
then says whose commit it is. SSH signatures by FIDO keys (``sk-ssh-ed25519``) carry a flags
byte (user presence, user verification) read here from the SSHSIG blob itself.
"""

from __future__ import annotations

import os
import time

from gate.errors import GateError
from gate.git.commits import SIGNATURE_HEADERS as SIGNATURE_HEADERS
from gate.git.commits import is_signed as is_signed
from gate.git.plumbing import Git
from gate.git.values import Frozen, _set

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

# base64, hashlib, json, struct, shutil, subprocess, tempfile and gate.clock are imported
# where they are used: the hook imports this module only for signed commits (is_signed and
# SIGNATURE_HEADERS live in gate.git.commits), and even then needs only some of them.

KEYS_FILE = "gate-keys"
ALLOWED_SIGNERS = "gate-keys.allowed-signers"
GNUPG_PREFIX = "gate-keys.gnupg-"
# The pre-receive hook asks the server when its copy is older than this (seconds): how long a
# new key or a revocation may take to reach a git host whose repository had no push since.
KEYS_MAX_AGE = 300
GOOD = ("G", "U")  # git: good signature (U: good, the key's validity unknown to gpg)
SK_USER_PRESENT, SK_USER_VERIFIED = 0x01, 0x04
SK_KEY_TYPES = ("sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")


class RegisteredKey(Frozen):
    __slots__ = _fields = (
        "fingerprint",
        "account",
        "account_kind",
        "kind",
        "key_type",
        "public_key",
        "revoked_at",
    )
    fingerprint: str
    account: str
    account_kind: str  # human | agent
    kind: str  # ssh | gpg
    key_type: str
    public_key: str
    revoked_at: float | None  # seconds since the epoch

    def __init__(
        self,
        fingerprint: str,
        account: str,
        account_kind: str,
        kind: str,
        key_type: str,
        public_key: str,
        revoked_at: float | None,
    ) -> None:
        _set(self, "fingerprint", fingerprint)
        _set(self, "account", account)
        _set(self, "account_kind", account_kind)
        _set(self, "kind", kind)
        _set(self, "key_type", key_type)
        _set(self, "public_key", public_key)
        _set(self, "revoked_at", revoked_at)

    def revoked_by(self, moment: float) -> bool:
        return self.revoked_at is not None and self.revoked_at <= moment


class Registry:
    """The registry as the hook last fetched it."""

    def __init__(self, document: dict[str, Any], fetched_at: float) -> None:
        import hashlib
        import json

        from gate.clock import parse_rfc3339

        self.document = document
        self.fetched_at = fetched_at
        self.keys: dict[str, RegisteredKey] = {}
        for key in document["keys"]:
            revoked = key.get("revoked_at")
            self.keys[key["fingerprint"]] = RegisteredKey(
                fingerprint=key["fingerprint"],
                account=key["account"],
                account_kind=key["account_kind"],
                kind=key["kind"],
                key_type=key["key_type"],
                public_key=key["public_key"],
                revoked_at=parse_rfc3339(revoked).timestamp() if revoked else None,
            )
        self.sha256 = hashlib.sha256(
            json.dumps(document["keys"], sort_keys=True).encode("utf-8")
        ).hexdigest()

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.fetched_at


class SignatureCheck(Frozen):
    """git's verdict on one commit's signature, and the registered key it names (if any)."""

    __slots__ = _fields = ("commit", "status", "fingerprint", "key", "sk_flags")
    commit: str
    status: str  # git's %G? letter
    fingerprint: str
    key: RegisteredKey | None
    sk_flags: int | None  # a FIDO key's SSHSIG flags byte

    def __init__(
        self,
        commit: str,
        status: str,
        fingerprint: str,
        key: RegisteredKey | None,
        sk_flags: int | None = None,
    ) -> None:
        _set(self, "commit", commit)
        _set(self, "status", status)
        _set(self, "fingerprint", fingerprint)
        _set(self, "key", key)
        _set(self, "sk_flags", sk_flags)

    @property
    def good(self) -> bool:
        return self.status in GOOD and self.key is not None

    @property
    def agent_key(self) -> RegisteredKey | None:
        """The agent's key that this signature names: the commit is that agent's whatever its
        text says. Even a bad signature naming it counts (holding is the safe side)."""
        return self.key if self.key is not None and self.key.account_kind == "agent" else None

    def why_not_human(self, moment: float, require_touch: bool, require_pin: bool) -> str | None:
        """None when a registered human key validly signed the commit, unrevoked at ``moment``
        and with what the guard requires of a security key; else why not."""
        if self.status == "N":
            return "not signed"
        if self.status not in GOOD:
            what = {"B": "a bad signature", "E": "a signature that cannot be checked"}
            shown = what.get(self.status, f"a signature git does not accept (%G? {self.status})")
            return f"{shown}{f' by {self.fingerprint}' if self.fingerprint else ''}"
        if self.key is None:
            return f"signed by {self.fingerprint}, a key not in gate's registry"
        if self.key.account_kind != "human":
            return f"signed by {self.fingerprint}, the key of agent account {self.key.account}"
        if self.key.revoked_by(moment):
            return f"signed by {self.fingerprint} ({self.key.account}), a revoked key"
        if require_touch or require_pin:
            if self.key.key_type not in SK_KEY_TYPES or self.sk_flags is None:
                return f"signed by {self.fingerprint} ({self.key.account}), not a security key"
            if require_touch and not self.sk_flags & SK_USER_PRESENT:
                return f"signed by {self.key.account}'s security key without a touch"
            if require_pin and not self.sk_flags & SK_USER_VERIFIED:
                return f"signed by {self.key.account}'s security key without user verification"
        return None


# --------------------------------------------------------------------------------------------
# Reading signatures out of commit objects


def split_signature(raw: bytes) -> tuple[bytes, bytes] | None:
    """(the signed payload, the signature) of a raw commit object, as git splits them: the
    signature header and its continuation lines out of the header, nothing else changed."""
    header, sep, message = raw.partition(b"\n\n")
    kept: list[bytes] = []
    signature: list[bytes] = []
    in_signature = False
    for line in header.split(b"\n"):
        if in_signature and line.startswith(b" "):
            signature.append(line[1:])
            continue
        in_signature = False
        name = line.partition(b" ")[0]
        if name in SIGNATURE_HEADERS and not signature:
            in_signature = True
            signature.append(line[len(name) + 1 :])
            continue
        kept.append(line)
    if not signature:
        return None
    return b"\n".join(kept) + sep + message, b"\n".join(signature) + b"\n"


def _ssh_string(data: bytes, pos: int) -> tuple[bytes, int]:
    import struct

    if pos + 4 > len(data):
        raise ValueError("truncated")
    (length,) = struct.unpack(">I", data[pos : pos + 4])
    end = pos + 4 + length
    if end > len(data):
        raise ValueError("truncated")
    return data[pos + 4 : end], end


class SshSig(Frozen):
    __slots__ = _fields = (
        "public_key",
        "namespace",
        "hash_algorithm",
        "signature_type",
        "signature",
        "sk_flags",
        "sk_counter",
    )
    public_key: bytes  # the key's wire blob
    namespace: str
    hash_algorithm: str
    signature_type: str
    signature: bytes
    sk_flags: int | None  # FIDO keys: the flags byte
    sk_counter: int | None

    def __init__(
        self,
        public_key: bytes,
        namespace: str,
        hash_algorithm: str,
        signature_type: str,
        signature: bytes,
        sk_flags: int | None,
        sk_counter: int | None,
    ) -> None:
        _set(self, "public_key", public_key)
        _set(self, "namespace", namespace)
        _set(self, "hash_algorithm", hash_algorithm)
        _set(self, "signature_type", signature_type)
        _set(self, "signature", signature)
        _set(self, "sk_flags", sk_flags)
        _set(self, "sk_counter", sk_counter)


def parse_sshsig(armored: bytes) -> SshSig | None:
    """An SSH signature (``-----BEGIN SSH SIGNATURE-----``, OpenSSH's PROTOCOL.sshsig), or None
    when ``armored`` is not one or does not parse."""
    import base64
    import struct

    text = armored.decode("ascii", "replace").strip()
    begin, end = "-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----"
    if not (text.startswith(begin) and text.endswith(end)):
        return None
    try:
        blob = base64.b64decode("".join(text[len(begin) : -len(end)].split()), validate=True)
        if blob[:6] != b"SSHSIG":
            return None
        pos = 10  # magic and uint32 version
        public_key, pos = _ssh_string(blob, pos)
        namespace, pos = _ssh_string(blob, pos)
        _reserved, pos = _ssh_string(blob, pos)
        hash_algorithm, pos = _ssh_string(blob, pos)
        signature_blob, pos = _ssh_string(blob, pos)
        signature_type, at = _ssh_string(signature_blob, 0)
        signature, at = _ssh_string(signature_blob, at)
        flags = counter = None
        if signature_type.decode("ascii", "replace").startswith("sk-"):
            if at + 5 > len(signature_blob):
                return None
            flags = signature_blob[at]
            (counter,) = struct.unpack(">I", signature_blob[at + 1 : at + 5])
    except (ValueError, struct.error):
        return None
    return SshSig(
        public_key,
        namespace.decode("utf-8", "replace"),
        hash_algorithm.decode("ascii", "replace"),
        signature_type.decode("ascii", "replace"),
        signature,
        flags,
        counter,
    )


def sk_flags_of(raw: bytes) -> int | None:
    """The flags byte of a FIDO key's SSH signature on a raw commit, else None."""
    parts = split_signature(raw)
    if parts is None:
        return None
    parsed = parse_sshsig(parts[1])
    return None if parsed is None else parsed.sk_flags


# --------------------------------------------------------------------------------------------
# Verifying


def verify_commits(
    git: Git, git_dir: str, registry: Registry, raws: dict[str, bytes]
) -> dict[str, SignatureCheck]:
    """git's verdict on each signed commit of ``raws`` (id -> raw object); unsigned ones are
    "N" without running anything."""
    checks = {
        oid: SignatureCheck(oid, "N", "", None) for oid, raw in raws.items() if not is_signed(raw)
    }
    signed = [oid for oid in raws if oid not in checks]
    if not signed:
        return checks
    allowed, gnupg = registry_files(git_dir, registry)
    env = dict(git.env)
    env["GNUPGHOME"] = gnupg
    verifier = Git(None, env)
    output = verifier.run(
        [
            "-c",
            f"gpg.ssh.allowedSignersFile={allowed}",
            "log",
            "--no-walk=unsorted",
            "--stdin",
            "--format=%H %G? %GF %GP %GK",
        ],
        "".join(f"{oid}\n" for oid in signed).encode("ascii"),
    )
    for line in output.decode("utf-8", "replace").splitlines():
        fields = line.split(" ")
        if len(fields) < 2 or fields[0] not in raws:
            continue
        oid, status = fields[0], fields[1]
        fingerprint, primary, key_id = [*fields[2:5], "", "", ""][:3]
        # OpenPGP: the primary key is what is registered (a subkey may have signed).
        key = registry.keys.get(primary) or registry.keys.get(fingerprint)
        if key is None and status not in GOOD:
            key = _named_key(registry, raws[oid], key_id)
        shown = key.fingerprint if key is not None else (primary or fingerprint)
        flags = sk_flags_of(raws[oid]) if key is not None and key.kind == "ssh" else None
        checks[oid] = SignatureCheck(oid, status, shown, key, flags)
    for oid in signed:  # a commit git printed nothing for is not taken as signed by anyone
        checks.setdefault(oid, SignatureCheck(oid, "E", "", None))
    return checks


def _named_key(registry: Registry, raw: bytes, key_id: str) -> RegisteredKey | None:
    """The registered key a signature git did not accept names: git gives no fingerprint for
    a bad signature, yet one naming an agent's key must still make the commit that agent's.
    SSH: the public key the SSHSIG carries; OpenPGP: the issuer key id gpg reported (%GK), as
    the low 64 bits of a registered primary key's fingerprint."""
    import base64
    import hashlib

    parts = split_signature(raw)
    parsed = parse_sshsig(parts[1]) if parts is not None else None
    if parsed is not None:
        digest = base64.b64encode(hashlib.sha256(parsed.public_key).digest()).decode("ascii")
        key = registry.keys.get("SHA256:" + digest.rstrip("="))
        return key if key is not None and key.kind == "ssh" else None
    if len(key_id) == 16:
        for key in registry.keys.values():
            if key.kind == "gpg" and key.fingerprint.upper().endswith(key_id.upper()):
                return key
    return None


# --------------------------------------------------------------------------------------------
# The copy on the git host


def load_registry(git_dir: str) -> Registry | None:
    """The registry as last fetched, or None when there is no usable copy."""
    import json

    try:
        with open(os.path.join(git_dir, KEYS_FILE), encoding="utf-8") as file:
            stored = json.load(file)
        from gate import wire

        return Registry(wire.parse_key_registry(stored["registry"]), float(stored["fetched_at"]))
    except Exception:  # missing, unreadable or damaged: no copy
        return None


def save_registry(git_dir: str, document: dict[str, Any]) -> Registry:
    import json

    registry = Registry(document, time.time())
    _write_atomic(
        os.path.join(git_dir, KEYS_FILE),
        json.dumps({"fetched_at": registry.fetched_at, "registry": document}).encode("utf-8"),
    )
    registry_files(git_dir, registry)
    return registry


def refresh_registry(fetch: Callable[[], dict[str, Any]], git_dir: str) -> Registry:
    """Fetch the registry from the server (``fetch``: gate.git.client.fetch_key_registry with
    the hook's settings and deadline) and keep it; GateError when that cannot be done."""
    document = fetch()
    try:
        return save_registry(git_dir, document)
    except OSError as exc:
        raise GateError(f"cannot keep the key registry in {git_dir}: {exc.strerror}") from None


def registry_for_push(fetch: Callable[[], dict[str, Any]], git_dir: str) -> Registry:
    """The registry for a decision that needs it: the kept copy when fresh enough, else the
    server's; if neither, a GateError that refuses the push."""
    kept = load_registry(git_dir)
    if kept is not None and 0 <= kept.age() <= KEYS_MAX_AGE:
        return kept
    try:
        return refresh_registry(fetch, git_dir)
    except GateError as exc:
        age = "no copy" if kept is None else f"its copy is {int(kept.age())} s old"
        raise GateError(
            "gate cannot read the signing-key registry",
            lines=[
                "gate: push refused: commits here need their signatures checked against the "
                f"signing-key registry, and gate has {age} (at most {KEYS_MAX_AGE} s) and "
                f"could not fetch it: {exc}",
                "gate: Nothing was changed; push again once the gate server answers, or ask "
                "your gate admin.",
            ],
        ) from None


def registry_files(git_dir: str, registry: Registry) -> tuple[str, str]:
    """The allowed-signers file and GnuPG home for ``registry``, written when missing."""
    import shutil

    allowed = os.path.join(git_dir, ALLOWED_SIGNERS)
    lines = [
        f'{key.account} namespaces="git" {key.public_key}\n'
        for key in registry.keys.values()
        if key.kind == "ssh"
    ]
    content = "".join(lines).encode("utf-8")
    try:
        with open(allowed, "rb") as file:
            current = file.read()
    except OSError:
        current = None
    if current != content:
        _write_atomic(allowed, content)
    gnupg = os.path.join(git_dir, GNUPG_PREFIX + registry.sha256[:16])
    gpg_keys = [key.public_key for key in registry.keys.values() if key.kind == "gpg"]
    if not os.path.isdir(gnupg):
        _build_gnupg_home(git_dir, gnupg, gpg_keys)
        for name in os.listdir(git_dir):  # homes of earlier registries
            if name.startswith(GNUPG_PREFIX) and os.path.join(git_dir, name) != gnupg:
                shutil.rmtree(os.path.join(git_dir, name), ignore_errors=True)
    return allowed, gnupg


def _build_gnupg_home(git_dir: str, home: str, armored: Iterable[str]) -> None:
    import shutil
    import subprocess
    import tempfile

    scratch = tempfile.mkdtemp(prefix=".gate-keys-gnupg-", dir=git_dir)
    try:
        os.chmod(scratch, 0o700)
        keys = "".join(armored)
        if keys and shutil.which("gpg"):
            subprocess.run(
                ["gpg", "--batch", "--quiet", "--homedir", scratch, "--import"],
                input=keys.encode("utf-8"),
                capture_output=True,
                timeout=30,
                check=False,
            )
        try:
            os.rename(scratch, home)
        except OSError:  # another push made it meanwhile
            shutil.rmtree(scratch, ignore_errors=True)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as file:
        file.write(data)
    os.replace(tmp, path)
