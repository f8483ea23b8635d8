"""The git host's copies of the gate server's signed audit checkpoints.

Every answer to a hold (pre-receive) and to a heartbeat (the post-receive worker) carries the
server's latest signed checkpoint (gate.wire.parse_checkpoint); the hook keeps each new one as
a file in the repository, ``$GIT_DIR/gate-checkpoints/ID-SIZE-DIGEST.note``, exactly as signed.
An auditor passes them to ``gate audit verify --checkpoint``: a log the server's database owner
later cut short or rewrote disagrees with them (docs/audit.md). A file is never overwritten
(a different note under a reused id gets its own name: both are evidence), and a push never
fails because one cannot be written; the caller says so instead.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

# Beside gate/, which is the provenance store's own folder (gate.git.provenance).
CHECKPOINT_DIR = Path("gate-checkpoints")


def checkpoint_name(checkpoint: dict[str, Any]) -> str:
    digest = hashlib.sha256(checkpoint["note"].encode("utf-8")).hexdigest()[:16]
    return f"{checkpoint['id']:08d}-{checkpoint['size']}-{digest}.note"


def keep_checkpoint(git_dir: str | Path, checkpoint: dict[str, Any] | None) -> str | None:
    """Write ``checkpoint`` (parsed by gate.wire) unless it is kept already; None when done,
    else what went wrong, for the caller to show or log."""
    if checkpoint is None:
        return None
    directory = Path(os.path.abspath(git_dir)) / CHECKPOINT_DIR
    path = directory / checkpoint_name(checkpoint)
    try:
        if path.exists():
            return None
        directory.mkdir(parents=True, exist_ok=True)
        temporary = directory / f".{path.name}.{os.getpid()}.tmp"
        temporary.write_text(checkpoint["note"], encoding="utf-8", newline="")
        os.replace(temporary, path)
    except OSError as exc:
        return (
            f"could not keep the gate server's audit checkpoint {checkpoint['id']} in "
            f"{directory} ({exc.strerror or exc}); the push is not affected, but auditors lose "
            "this copy: let the hook write there"
        )
    return None
