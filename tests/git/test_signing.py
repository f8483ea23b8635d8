"""What a signature proves (gate.git.signing): SSHSIG parsing, the security-key flags byte, and
which verdicts count as a human's. The sk signatures here are crafted in software with chosen
flags (tests/support/signing.SkKey: an sk key cannot be made without the hardware)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.git.policy import PolicyError, parse_policy
from gate.git.signing import (
    RegisteredKey,
    SignatureCheck,
    parse_sshsig,
    sk_flags_of,
    split_signature,
)
from tests.support.signing import SkKey

RAW = (
    b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
    b"author A <a@example.com> 1700000000 +0000\n"
    b"committer A <a@example.com> 1700000000 +0000\n"
)


def signed_raw(signature: str, message: bytes = b"change\n") -> bytes:
    first, *rest = signature.split("\n")
    header = "gpgsig " + first + "".join("\n " + line for line in rest)
    return RAW + header.encode() + b"\n\n" + message


@pytest.mark.parametrize("flags", [0x00, 0x01, 0x04, 0x05, 0xFF])
def test_the_flags_byte_of_a_security_key_signature(tmp_path: Path, flags: int) -> None:
    key = SkKey(tmp_path, "sk")
    raw = signed_raw(key.sign(RAW + b"\nchange\n", flags, counter=42))
    payload, signature = split_signature(raw)  # type: ignore[misc]
    assert payload == RAW + b"\nchange\n"  # what git signed: the object without the header
    parsed = parse_sshsig(signature)
    assert parsed is not None
    assert (parsed.signature_type, parsed.namespace, parsed.hash_algorithm) == (
        "sk-ssh-ed25519@openssh.com",
        "git",
        "sha512",
    )
    assert (parsed.sk_flags, parsed.sk_counter, parsed.public_key) == (flags, 42, key.blob)
    assert sk_flags_of(raw) == flags


def test_no_flags_where_there_is_no_security_key_signature() -> None:
    assert sk_flags_of(RAW + b"\nunsigned\n") is None
    assert parse_sshsig(b"-----BEGIN PGP SIGNATURE-----\nxx\n-----END PGP SIGNATURE-----") is None
    broken = "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ==\n-----END SSH SIGNATURE-----"
    assert parse_sshsig(broken.encode()) is None  # truncated: no public key


def key(kind: str = "human", key_type: str = "sk-ssh-ed25519@openssh.com", revoked=None):  # type: ignore[no-untyped-def]
    return RegisteredKey("SHA256:k", "alice", kind, "ssh", key_type, "x", revoked)


@pytest.mark.parametrize(
    ("check", "touch", "pin", "reason"),
    [
        (SignatureCheck("c", "N", "", None), False, False, "not signed"),
        (SignatureCheck("c", "B", "SHA256:k", key()), False, False, "a bad signature by SHA256:k"),
        (SignatureCheck("c", "E", "", None), False, False, "a signature that cannot be checked"),
        (SignatureCheck("c", "G", "SHA256:u", None), False, False, "a key not in gate's registry"),
        (SignatureCheck("c", "G", "SHA256:k", key("agent")), False, False, "agent account alice"),
        (SignatureCheck("c", "G", "SHA256:k", key(revoked=50.0)), False, False, "a revoked key"),
        (SignatureCheck("c", "G", "SHA256:k", key(revoked=150.0)), False, False, None),
        (SignatureCheck("c", "G", "SHA256:k", key(), 0x00), False, False, None),
        (SignatureCheck("c", "G", "SHA256:k", key(), 0x00), True, False, "without a touch"),
        (SignatureCheck("c", "G", "SHA256:k", key(), 0x01), True, False, None),
        (SignatureCheck("c", "G", "SHA256:k", key(), 0x01), True, True, "without user verification"),
        (SignatureCheck("c", "G", "SHA256:k", key(), 0x04), False, True, None),
        (SignatureCheck("c", "G", "SHA256:k", key(), 0x05), True, True, None),
        (SignatureCheck("c", "G", "SHA256:k", key(key_type="ssh-ed25519")), True, False,
         "not a security key"),
    ],
)  # fmt: skip
def test_which_signatures_count_as_a_humans(
    check: SignatureCheck, touch: bool, pin: bool, reason: str | None
) -> None:
    found = check.why_not_human(100.0, touch, pin)
    assert (found is None) == (reason is None), found
    if reason is not None:
        assert reason in found  # type: ignore[operator]


BASE = 'protected_refs = ["refs/heads/main"]\n\n[[guard]]\nname = "model"\npaths = ["model/**"]\n'


def test_the_trust_options_are_checked_with_their_lines() -> None:
    policy = parse_policy(
        (BASE + 'trust = "signed-humans"\nrequire_touch = true\n').encode(), "p.toml"
    )
    (guard,) = policy.guards
    assert guard.signed_humans and guard.require_touch and not guard.require_pin
    assert policy.signed_humans
    assert guard.to_dict()["trust"] == "signed-humans"
    assert "trust" not in parse_policy(BASE.encode()).guards[0].to_dict()
    with pytest.raises(PolicyError) as caught:
        parse_policy((BASE + 'trust = "signed"\nrequire_pin = 1\n').encode(), "p.toml")
    assert caught.value.lines == [
        "p.toml:6: guard 'model': 'trust' must be one of 'evidence', 'signed-humans', not "
        "'signed'; did you mean 'signed-humans'?",
        "p.toml:7: guard 'model': 'require_pin' must be true or false, not an integer",
    ]
    with pytest.raises(PolicyError) as caught:
        parse_policy((BASE + "require_touch = true\n").encode(), "p.toml")
    assert caught.value.lines == [
        "p.toml:6: guard 'model': 'require_touch' needs trust = \"signed-humans\" (it says "
        "which signatures count as a human's)"
    ]


def test_a_registry_key_cannot_add_options_to_the_allowed_signers_file() -> None:
    from gate import wire

    def registry(public_key: str) -> dict:  # type: ignore[type-arg]
        key = {"fingerprint": "SHA256:x", "account": "a", "account_kind": "human", "kind": "ssh",
               "key_type": "ssh-ed25519", "public_key": public_key,
               "added_at": "2026-01-01T00:00:00Z", "revoked_at": None}  # fmt: skip
        return {"generated_at": "2026-01-01T00:00:00Z", "keys": [key]}

    assert wire.parse_key_registry(registry("ssh-ed25519 AAAAC3Nz=="))["keys"]
    for bad in ("cert-authority ssh-ed25519 AAAA", "ssh-ed25519 AAAA\nb ssh-rsa AAAA"):
        with pytest.raises(wire.WireError, match="must be an OpenSSH key"):
            wire.parse_key_registry(registry(bad))
