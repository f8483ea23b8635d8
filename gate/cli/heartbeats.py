"""gate heartbeats check: raise the overdue alerts and list every repository's hook health.

For cron on the server (`*/15 * * * * gate heartbeats check`): an idle server still alerts
(audit record, webhook), and the exit status is 1 while any repository needs attention, so
cron's mail tells someone too.
"""

from __future__ import annotations

from flask import Flask


def check(app: Flask) -> tuple[int, list[str]]:
    from gate.server.database import command
    from gate.server.services.heartbeats import check_overdue, repository_health

    with command(app):
        alerted = set(check_overdue())
        health = repository_health()
    lines = []
    for repo in health:
        seen = repo.last_seen_at.strftime("%Y-%m-%d %H:%M UTC") if repo.last_seen_at else "never"
        line = f"{repo.name}: {repo.state}, last heartbeat {seen}"
        if repo.hook_version:
            line += f" (gate {repo.hook_version}, layout {repo.layout}, from {repo.source})"
        if repo.name in alerted:
            line += "; alert raised now"
        lines.append(line)
        lines.extend(f"  problem: {problem}" for problem in repo.problems)
    if not health:
        lines.append("no repository has talked to gate yet")
    attention = any(repo.state in ("overdue", "problem") for repo in health)
    return (1 if attention else 0), lines
