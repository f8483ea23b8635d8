"""Rewrite an exported bundle as someone holding the server's audit key would: edit records,
re-hash the chain, re-sign every checkpoint, review attestation and the manifest with the
real key. What then still fails verification is what the audit key alone cannot forge."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gate.audit.export import manifest_note_text, sha256
from gate.audit.keys import current_key, sign_note
from gate.audit.verify import (
    GENESIS,
    canonical_json,
    dsse_envelope,
    parse_note,
    record_hash,
    review_statements,
)
from gate.audit.verify import Record as VerifierRecord
from tests.support.auditlog import read_zip, write_zip

Records = list[dict[str, Any]]


def rewrite_bundle(bundle: bytes, key_dir: Path, edit: Callable[[Records], None]) -> bytes:
    """``bundle`` with its records edited by ``edit`` (in place) and everything re-signed."""
    key = current_key(key_dir)
    files = read_zip(bundle)
    records = [json.loads(line) for line in files["records.jsonl"].splitlines()]
    edit(records)
    prev = records[0]["prev_hash"] if records and records[0]["seq"] != 1 else GENESIS
    for record in records:
        record["prev_hash"] = prev
        record["hash"] = prev = record_hash(record)
    files["records.jsonl"] = b"".join(canonical_json(r) + b"\n" for r in records)
    head_at = {r["seq"]: r["hash"] for r in records}
    for name in [n for n in files if n.startswith("checkpoints/")]:
        note = parse_note(files[name].decode())
        lines = note.text.rstrip("\n").split("\n")
        if int(lines[1]) in head_at:
            lines[2] = base64.b64encode(bytes.fromhex(head_at[int(lines[1])])).decode()
        signer = note.signatures[0].name
        files[name] = sign_note("\n".join(lines) + "\n", signer, [key]).encode()
    for name in [n for n in files if n.startswith("attestations/")]:
        del files[name]
    wrapped = [VerifierRecord(n, r) for n, r in enumerate(records, 1)]
    for request, statement in review_statements(wrapped).items():
        files[f"attestations/request-{request:08d}.intoto.json"] = dsse_envelope(
            statement, key.private.sign, key.fingerprint
        )
    manifest = json.loads(files["manifest.json"])
    manifest["head_hash"] = records[-1]["hash"] if records else None
    unsigned = ("manifest.json", "manifest.sig", "SHA256SUMS")
    manifest["files"] = {n: sha256(d) for n, d in sorted(files.items()) if n not in unsigned}
    files["manifest.json"] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    origin = manifest["origin"]
    files["manifest.sig"] = sign_note(
        manifest_note_text(origin, files["manifest.json"]), origin, [key]
    ).encode()
    files.pop("SHA256SUMS", None)
    return write_zip(files)
