"""gate reconcile REPO: every agent commit on a guarded path that reached a protected ref
without sign-off, checked with the server (which records each one once and alerts)."""

from __future__ import annotations

from gate.git.layouts import git_dir_of
from gate.git.plumbing import environ_of_process
from gate.git.reconcile import reconcile as run


def reconcile(repo: str) -> tuple[int, list[str]]:
    result = run(str(git_dir_of(repo)), environ_of_process())
    lines = [
        f"{result.repository}: {result.commits} commits on the protected refs "
        f"({', '.join(result.refs) or 'none exist'}); {len(result.agent_commits)} agent commits "
        f"on guarded paths; {len(result.unsigned)} landed without sign-off"
        + (f" ({result.recorded} recorded now)" if result.recorded else "")
    ]
    by_id = {c["id"]: c for c in result.agent_commits}
    for oid in result.unsigned:
        commit = by_id[oid]
        lines.append(
            f"  {oid} guards {', '.join(commit['guards'])}; agents {', '.join(commit['agents'])}"
        )
    return (1 if result.unsigned else 0), lines
