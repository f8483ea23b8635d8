"""The hook's heartbeat: tell the gate server that this repository is guarded, by which gate
version, in which host layout, so the server notices when a repository goes quiet (its hooks
removed or replaced by the host, the hook failing before it reports) and says so to a person.

Sent by the post-receive worker after every push (it never delays the push) and by
``gate doctor --report`` (with the problems doctor found), which cron can run for repositories
that see few pushes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import gate
from gate import wire
from gate.clock import utc_text
from gate.git.config import HookConfig

# The host a hook runs under, told apart by the variables each host sets for its hooks. Most
# specific first: gitolite sets GL_USER, GitLab GL_USERNAME and GL_REPOSITORY.
_HOST_VARIABLES = (
    ("gitlab", ("GL_REPOSITORY", "GL_PROJECT_PATH")),
    ("gitolite", ("GL_REPO",)),
    ("gitea", ("GITEA_REPO_NAME",)),
    ("ghes", ("GITHUB_REPO_NAME",)),
)


def host_layout(config: HookConfig, environ: Mapping[str, str]) -> str:
    """The layout gate was installed for (gate.toml's ``layout``), or else the host that runs
    the hook, from its variables; ``git`` for plain git (SSH, smart HTTP). The default layout
    (``git``) is checked against the host's variables: a Gitea server running a hook installed
    for plain git reports itself as Gitea, which tells the admin the install is wrong."""
    if config.layout and config.layout != "git":
        return config.layout
    for layout, variables in _HOST_VARIABLES:
        if any(environ.get(name) for name in variables):
            return layout
    return "git"


def heartbeat_body(
    config: HookConfig,
    environ: Mapping[str, str],
    source: str,
    *,
    pusher_known: bool | None = None,
    problems: Sequence[str] = (),
    git_dir: str | None = None,
) -> dict[str, Any]:
    from gate.git.provenance import remembered_count

    return wire.heartbeat(
        repository=config.repository,
        source=source,
        hook_version=gate.__version__,
        layout=host_layout(config, environ)[: wire.LAYOUT_LEN],
        sent_at=utc_text(datetime.now(UTC)),
        pusher_known=pusher_known,
        problems=[problem[: wire.SHORT_LEN] for problem in problems][: wire.MAX_PROBLEMS],
        remembered=remembered_count(git_dir) if git_dir is not None else None,
    )


def send_heartbeat(config: HookConfig, body: dict[str, Any]) -> dict[str, Any]:
    """POST one heartbeat; the server's parsed answer (with its latest audit checkpoint), or a
    GateError when the server does not take it."""
    from gate.git.client import post

    answer = post(config, wire.HEARTBEATS_PATH, body)
    try:
        return wire.parse_heartbeat_answer(answer)
    except wire.WireError as exc:
        from gate.errors import GateError

        raise GateError(
            f"the gate server at {config.server} sent an answer gate cannot use ({exc})"
        ) from None


def report_doctor(
    config: HookConfig, environ: Mapping[str, str], problems: Sequence[str], git_dir: str
) -> tuple[dict[str, Any], list[str]]:
    """What ``gate doctor --report`` calls: a heartbeat carrying doctor's findings (none when
    healthy) and the count of remembered commits; the server alerts when there are problems.
    The server's answer, and the problems it shows (the store holds fewer commits than the
    server was told of)."""
    body = heartbeat_body(config, environ, "doctor", problems=problems, git_dir=git_dir)
    answer = send_heartbeat(config, body)
    return answer, lost_memory(git_dir, body["remembered"], answer["remembered_reported"])


def lost_memory(git_dir: str, on_host: int | None, reported: int | None) -> list[str]:
    """The problem when the host's provenance store counts fewer commits than the server was
    told agent accounts pushed: the store was lost or replaced (restored from a backup, or
    the repository moved without ``GIT_DIR/gate/``), so gate no longer knows those commits."""
    if on_host is None or reported is None or on_host >= reported:
        return []
    from gate.git.provenance import store_path

    return [
        f"gate's memory of agent-pushed commits ({store_path(git_dir)}) counts {on_host} "
        f"commit(s), but the gate server was told of {reported}: it was lost or replaced; "
        "restore GIT_DIR/gate/ from the copy taken with the repository"
    ]
