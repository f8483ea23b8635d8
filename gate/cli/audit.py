"""gate audit ...: checkpoints, exports, verification, key rotation and diff pruning.

Each function returns the lines to print (and, for verify, an exit code); the CLI prints them.
``verify`` needs no server configuration or database: it only reads the files it is given.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from gate.errors import GateError


def checkpoint(app: Flask) -> list[str]:
    from gate.server.services.checkpoints import create_checkpoint

    with app.app_context():
        made = create_checkpoint()
        return [
            f"signed checkpoint {made.id}: {made.size} records, head {made.head}",
            *made.note.rstrip("\n").split("\n"),
        ]


def export(
    app: Flask, fmt: str, since: str | None, until: str | None, out: str | Path
) -> list[str]:
    from gate.audit.export import parse_period
    from gate.server.services.exports import export_audit

    period = parse_period(since, until)
    target = Path(out)
    if target.is_dir():
        raise GateError(f"{target} is a directory; give a file name with --out")
    with app.app_context():
        made = export_audit(fmt, period)
    try:
        target.write_bytes(made.data)
    except OSError as exc:
        raise GateError(f"cannot write {target}: {exc.strerror}") from None
    span = f"seq {made.first_seq}..{made.last_seq}" if made.count else "no records"
    return [f"wrote {made.count} records ({span}) as {fmt} to {target}"]


def verify(
    path: str | Path, public_key: str | Path | None, checkpoints: tuple[str, ...] = ()
) -> tuple[int, list[str]]:
    """0 when everything verifies, 1 when something does not, 2 when the input is unreadable."""
    from gate.audit.verify import VerifyError, report_lines, verify_path

    try:
        key = Path(public_key).read_bytes() if public_key else None
    except OSError as exc:
        return 2, [f"cannot read the public key {public_key}: {exc.strerror}"]
    try:
        report = verify_path(path, key, checkpoints)
    except VerifyError as exc:
        return 2, [f"{path}: {exc}"]
    return (0 if report.ok else 1), report_lines(report)


def rotate_key(app: Flask) -> list[str]:
    from gate.server.services.checkpoints import key_directory, rotate_key

    with app.app_context():
        old, new = rotate_key()
        return [
            f"rotated the audit key: {old.fingerprint} -> {new.fingerprint}",
            f"give auditors the new public key: {key_directory() / 'audit-ed25519.pub.pem'}",
        ]


def prune_diffs(app: Flask, older_than_days: int | None) -> list[str]:
    from gate.server.database import command
    from gate.server.services.actor import Actor
    from gate.server.services.retention import prune_diffs as prune

    with command(app):
        days = older_than_days or int(app.config["GATE_DIFF_RETENTION_DAYS"])
        count = prune(days, actor=Actor.cli())
        return [f"pruned the diff bodies of {count} held items decided over {days} days ago"]
