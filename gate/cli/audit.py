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


def verify_repository(
    path: str | Path, repo: str, policy_path: str | None, repository: str | None
) -> tuple[int, list[str]]:
    """After the log verified: every agent commit on guarded paths that the clone's protected
    refs reach has a matching approval in it, or is named. 1 when any is not."""
    from gate.audit.landed import repositories, unsigned_commits
    from gate.disclosure.compute import read_export
    from gate.git.layouts import git_dir_of
    from gate.git.plumbing import environ_of_process
    from gate.git.policy import load_policy
    from gate.git.reconcile import walk_protected_refs

    if policy_path is None:
        raise GateError("--repo needs --policy FILE: the policy the repository is guarded by")
    records = read_export(path)
    if repository is None:
        named = sorted(repositories(records))
        if len(named) != 1:
            raise GateError(
                "--repo needs --repository NAME: the log names "
                + (", ".join(named) if named else "no repository")
            )
        repository = named[0]
    git_dir = git_dir_of(repo)
    walk = walk_protected_refs(
        str(git_dir), environ_of_process(), load_policy(policy_path), clone=True
    )
    unsigned, checked = unsigned_commits(records, repository, walk.agent_commits, walk.reachable)
    lines = [
        f"repository {repository} ({repo}): {len(walk.reachable)} commits on the protected refs "
        f"({', '.join(walk.refs) or 'none'}); {checked} agent commits on guarded paths; "
        + (
            "each has a matching approval in the log"
            if not unsigned
            else f"{len(unsigned)} have no matching approval:"
        )
    ]
    lines.extend(
        f"  {c['id']} guards {', '.join(c['guards'])}; agents {', '.join(c['agents'])}"
        for c in unsigned
    )
    return (1 if unsigned else 0), lines


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
