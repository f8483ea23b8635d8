"""gate doctor: whether git really runs gate for a repository, and everything gate needs.

Each check gives a problem with its fix, or nothing. ``gate install-hook`` runs the checks that
can be made before installing (``preflight``) and writes nothing when one fails; ``gate
doctor REPO`` (as the repository's owner, or from cron) runs them all on what is installed:
exit 0 healthy, 1 with each problem. Run from cron it notices what hosts do to hooks: Gitea's
resync, gitolite's compile after an admin push, a copy of gate uninstalled under the hook.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gate.errors import GateError
from gate.git import layouts
from gate.git.config import CONFIG_NAME, HookConfig, load_hook_config, read_token_file
from gate.git.layouts import (
    HOOKS,
    Placement,
    git_dir_of,
    hook_script,
    is_gate_hook,
    placement,
)
from gate.git.post_receive import NO_PUSHER_LOG, SPOOL_DIR
from gate.git.prefilter import REPOSITORY_VARIABLES

NO_PUSHER_WINDOW = timedelta(days=30)
# doctor only reads: another user's repository (cron as root) is inspected, not refused
_TRUST = ("-c", "safe.directory=*")
_CENTRAL = re.compile(r"main\(central=('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\)")


# --------------------------------------------------------------------------------------------
# Access as another user (the repository's owner runs the hooks)


def _owner(path: Path) -> int:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path.stat().st_uid


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _groups(uid: int) -> set[int]:
    import pwd

    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return set()
    return set(os.getgrouplist(entry.pw_name, entry.pw_gid))


def _allowed(info: os.stat_result, uid: int, groups: set[int], bit: int) -> bool:
    """Whether ``uid`` has permission ``bit`` (4 read, 2 write, 1 execute) by the mode bits."""
    if uid == 0:
        return bit != 1 or bool(info.st_mode & 0o111)
    if info.st_uid == uid:
        return bool(info.st_mode & (bit << 6))
    if info.st_gid in groups:
        return bool(info.st_mode & (bit << 3))
    return bool(info.st_mode & bit)


def usable_by(path: str, uid: int, bit: int) -> str | None:
    """None when ``uid`` can reach ``path`` (every directory on the way, symbolic links
    followed) and has ``bit`` on it; else the first place that stops it."""
    groups = _groups(uid)
    seen = 0
    pending = [os.path.abspath(path)]
    while pending:
        current = pending.pop()
        parts = Path(current).parts
        walked = Path(parts[0])
        for index, part in enumerate(parts[1:], 1):
            try:
                info = os.stat(walked)
            except OSError as exc:
                return f"{walked}: {exc.strerror}"
            if not _allowed(info, uid, groups, 1):
                return f"{walked} cannot be entered by {_user_name(uid)}"
            walked = walked / part
            if walked.is_symlink():
                seen += 1
                if seen > 40:
                    return f"{path}: too many symbolic links"
                target = os.path.join(walked.parent, os.readlink(walked))
                rest = parts[index + 1 :]
                pending.append(os.path.normpath(os.path.join(target, *rest)))
                break
        else:
            try:
                info = os.stat(walked)
            except OSError as exc:
                return f"{walked}: {exc.strerror}"
            if not _allowed(info, uid, groups, bit):
                verb = {4: "read", 1: "run"}.get(bit, "use")
                return f"{walked} cannot be {verb} by {_user_name(uid)}"
    return None


# --------------------------------------------------------------------------------------------
# The checks


def _hooks_path(git_dir: Path) -> str | None:
    proc = subprocess.run(
        ["git", *_TRUST, "--git-dir", str(git_dir), "config", "--get", "core.hooksPath"],
        capture_output=True,
        text=True,
    )
    value = proc.stdout.strip()
    return value or None


def _fits(place: Placement) -> list[str]:
    """Whether git (or the host) runs what gate writes where it writes it."""
    git_dir = place.git_dir
    if git_dir is None:
        return []
    problems = []
    hooks_path = _hooks_path(git_dir)
    runs_elsewhere = (
        hooks_path is not None
        and Path(git_dir, hooks_path).resolve() != (git_dir / "hooks").resolve()
    )
    if runs_elsewhere and place.layout in ("git", "gitea", "forgejo"):
        problems.append(
            f"git runs this repository's hooks from {hooks_path} (core.hooksPath), not "
            f"{git_dir / 'hooks'}; fix: unset core.hooksPath, or on GitLab use --layout gitlab"
        )
    if place.layout == "git":
        foreign = layouts.host_of(git_dir)
        if foreign is not None:
            fix = (
                f"install with --layout {foreign.layout}"
                if foreign.layout
                else "add gate to that dispatcher by hand; renaming it would make it run nothing"
            )
            problems.append(f"{foreign.what}; gate will not rename it. Fix: {fix}")
    if place.layout in ("gitea", "forgejo"):
        hooks = git_dir / "hooks"
        dispatcher = [
            hooks / name
            for name, chained, *_ in HOOKS
            if not (
                layouts.is_gitea_dispatcher(hooks / name)
                or layouts.is_gitea_dispatcher(hooks / chained)
            )
        ]
        for path in dispatcher:
            problems.append(
                f"{path} is not Gitea's dispatcher, so nothing in {path.name}.d runs; fix: in "
                "Gitea's Site Administration run 'Resynchronize pre-receive, update and "
                "post-receive hooks of all repositories', then install again"
            )
    return problems


def _token_problem(
    server: str, token_path: str, uid: int, repository: str | None = None
) -> tuple[str | None, str | None]:
    """(problem, warning) about the server and the token: a server that answers and refuses
    the token is a problem; one that does not answer is a warning at install time."""
    blocked = usable_by(token_path, uid, 4)
    if blocked:
        return f"the hook token: {blocked}; fix: chmod/chown it for {_user_name(uid)}", None
    try:
        token = read_token_file(token_path)
    except GateError as exc:
        return str(exc), None
    from gate.git.settings import enable_site_packages

    enable_site_packages()
    import requests

    from gate import wire

    try:
        response = requests.get(
            server + wire.token_path(repository),
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
    except requests.RequestException as exc:
        return None, f"the gate server at {server} does not answer ({type(exc).__name__})"
    if response.status_code == 401:
        return (
            f"the gate server at {server} refuses the hook token in {token_path}; fix: create "
            "one with `gate token create` on the server and store it there",
            None,
        )
    if response.status_code != 200:
        return None, f"the gate server at {server} answered HTTP {response.status_code}"
    try:
        scope = wire.parse_token_scope(response.json())
    except (ValueError, wire.WireError):
        return None, f"the gate server at {server} sent an answer gate cannot use"
    if scope["kind"] != "hook":
        return f"the token in {token_path} is not a hook token; fix: store a hook token there", None
    if repository is not None and scope["covers"] is False:
        return (
            f"the hook token in {token_path} (git host {scope['host']}) does not speak for "
            f"repository {repository!r}; fix: `gate token create --host HOST --repo PATTERN`",
            None,
        )
    return None, None


def _interpreter(uid: int) -> list[str]:
    import gate

    problems = []
    for path, bit in (
        (sys.executable, 1),
        (os.path.dirname(os.path.abspath(gate.__file__)), 1),
    ):
        blocked = usable_by(path, uid, bit)
        if blocked:
            problems.append(
                f"the hook runs {path}, but {blocked}; the push would fail with git's bare "
                "'cannot exec'. Fix: install gate where the repository's owner can run it "
                "(a virtualenv outside home directories, e.g. /opt/gate), then install again"
            )
    return problems


def preflight(
    place: Placement, server: str, token_path: str, check_server: bool
) -> tuple[list[str], list[str]]:
    """The checks made before anything is written: (problems, warnings)."""
    target = place.git_dir or next(iter(place.hooks.values())).parent
    uid = _owner(target)
    problems = []
    if os.geteuid() != uid:
        problems.append(
            f"{target} belongs to {_user_name(uid)}, and the hooks run as that user; run gate "
            f"install-hook as {_user_name(uid)} (sudo -u {_user_name(uid)} gate install-hook ...)"
        )
    problems.extend(_fits(place))
    problems.extend(_interpreter(uid))
    problems.extend(_unwritable(place, uid))
    warnings = []
    if check_server:
        problem, warning = _token_problem(server, token_path, uid)
        problems.extend([problem] if problem else [])
        warnings.extend([warning] if warning else [])
    else:
        blocked = usable_by(token_path, uid, 4)
        if blocked:
            problems.append(f"the hook token: {blocked}")
    return problems, warnings


def _unwritable(place: Placement, uid: int) -> list[str]:
    """The folders install-hook writes in (it replaces files there) that this user cannot
    write: found now, not midway through the install (an earlier install as root leaves its
    folders root's)."""
    folders = {target.parent for target in place.hooks.values()}
    if place.git_dir is not None:
        folders.add(place.git_dir)  # gate.toml, and git's lock file for its config
    problems = []
    for folder in sorted(folders):
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not os.access(existing, os.W_OK | os.X_OK):
            problems.append(
                f"{existing} cannot be written by {_user_name(os.geteuid())}; fix: chown -R "
                f"{_user_name(uid)} {existing}"
            )
    return problems


def _installed(
    git_dir: Path, layout: str | None, server_wide: str | None
) -> tuple[Placement | None, list[str]]:
    """Which of gate's placements this repository has (the first found)."""
    candidates = [layout] if layout else ["git", "gitea", "gitlab"]
    for name in candidates:
        if name == "gitolite":
            continue
        try:
            place = placement(name, git_dir, "-" if server_wide else None, server_wide)
        except GateError:
            continue
        hook = place.hooks["pre-receive"]
        if is_gate_hook(hook):
            place.central = _central_of(hook)
            return place, []
    if layout in (None, "gitolite"):
        links = sorted((git_dir / "hooks").glob("pre-receive.h[0-9][0-9]-*"))
        ours = [link for link in links if link.name.endswith(f"-{layouts.GITOLITE_CODE}")]
        if ours:
            place = Placement("gitolite", {"pre-receive": ours[0]}, git_dir, _central_of(ours[0]))
            problems = []
            if links[-1] != ours[0]:
                problems.append(
                    f"gitolite runs {links[-1].name} after gate, and its hook driver keeps only "
                    "the last hook's exit status, so gate's refusals are lost; fix: name "
                    f"{layouts.GITOLITE_CODE} last in option hook.pre-receive"
                )
            if not layouts.is_gitolite_driver(git_dir / "hooks" / "pre-receive"):
                problems.append(
                    f"{git_dir / 'hooks' / 'pre-receive'} is not gitolite's hook driver; fix: "
                    "push gitolite-admin (or run `gitolite setup`) to re-create it"
                )
            return place, problems
    return None, []


def _central_of(hook: Path) -> str | None:
    match = _CENTRAL.search(hook.read_text(encoding="utf-8", errors="replace"))
    return ast.literal_eval(match.group(1)) if match else None


def _why_missing(git_dir: Path) -> str:
    hooks = git_dir / "hooks"
    foreign = layouts.host_of(git_dir)
    if foreign is not None and foreign.layout == "gitolite":
        return (
            "gate's hook is not installed: gitolite re-creates hooks/pre-receive* on every "
            "compile (a push to gitolite-admin), so only a hook named in gitolite.conf "
            "survives; fix: gate install-hook --layout gitolite (it prints the lines to add)"
        )
    if foreign is not None and foreign.layout:
        return (
            f"gate's hook is not installed ({foreign.what}); fix: gate install-hook --layout "
            f"{foreign.layout}"
        )
    return (
        f"gate's hook is not installed: {hooks / 'pre-receive'} is not gate's and no host "
        "layout holds gate; fix: run gate install-hook for this repository"
    )


def doctor(
    repo: str,
    layout: str | None = None,
    server_wide: str | None = None,
    environ: dict[str, str] | None = None,
) -> list[str]:
    """Every problem with the gate installed for ``repo``, each with its fix (none: healthy).

    ``environ``: the host's variables naming the repository, for a server-wide install."""
    git_dir = git_dir_of(repo, inspect_only=True)
    place, problems = _installed(git_dir, layout, server_wide)
    if place is None:
        return [_why_missing(git_dir)]
    problems = [*problems, *_fits(place)]
    for hook_name, path in place.hooks.items():
        if not path.exists():
            problems.append(f"{path} is missing; fix: run gate install-hook again")
            continue
        if path.read_text(encoding="utf-8", errors="replace") != hook_script(
            hook_name, place.central
        ):
            problems.append(
                f"{path} was written by another version or copy of gate; fix: run gate "
                "install-hook again with this gate"
            )
        if not os.access(path, os.X_OK):
            problems.append(f"{path} is not executable; fix: chmod +x {path}")
    if place.chain:
        problems.extend(_chained(git_dir))
    try:
        config = load_hook_config(git_dir, environ or {}, place.central)
    except GateError as exc:
        return [*problems, str(exc)]
    uid = _owner(git_dir)
    problems.extend(_interpreter(uid))
    if not config.guarded:
        problems.append(
            f"gate does not guard {config.repository!r}: it has no entry in {place.central}, "
            'which passes unlisted repositories (unlisted = "pass"); fix: add an entry, or '
            'unlisted = "guard" with a default_policy'
        )
    else:
        blocked = usable_by(config.policy, uid, 4)
        if blocked:
            problems.append(f"the policy: {blocked}")
        else:
            from gate.git.policy import load_policy

            try:
                load_policy(config.policy)
            except GateError as exc:
                problems.append(f"the policy cannot be used: {exc}")
    problem, warning = _token_problem(config.server, config.token_file, uid, config.repository)
    problems.extend(p for p in (problem, warning) if p)
    # Gitaly passes receive-pack its settings on the command line, which the repository's
    # config does not show: not checked there.
    if place.layout != "gitlab":
        problems.extend(_fsck(git_dir))
    problems.extend(p for p in [object_format_problem(git_dir)] if p)
    problems.extend(_no_pusher(git_dir, config))
    problems.extend(_provenance(git_dir))
    return problems


def _provenance(git_dir: Path) -> list[str]:
    """The memory of agent-pushed commits (gate.git.provenance): readable and whole."""
    from gate.git.provenance import check_store

    return [
        f"{problem}; fix: restore {git_dir}/gate from a backup of the repository's directory "
        "(until then pushes that bring commits on guarded paths are refused), or, if it "
        f"cannot be restored, run `gate reconcile {git_dir}` and review what it names"
        for problem in check_store(str(git_dir))
    ]


def _chained(git_dir: Path) -> list[str]:
    problems = []
    for _, chained_name, *_ in HOOKS:
        chained = git_dir / "hooks" / chained_name
        if not chained.exists():
            continue
        foreign = layouts.host_of(git_dir, chained_name.removesuffix(".gate-chained"))
        if layouts.is_gitea_dispatcher(chained) or layouts.is_gitolite_driver(chained):
            layout = foreign.layout if foreign else "gitea"
            problems.append(
                f"{chained} is a dispatcher that picks hooks by its own name: renamed, it runs "
                f"nothing (the host's own checks are off); fix: gate install-hook --layout {layout}"
            )
        elif not os.access(chained, os.X_OK):
            problems.append(f"{chained} is not executable, so every push is refused; chmod +x it")
        else:
            first = chained.read_bytes()[:256].split(b"\n", 1)[0]
            if first.startswith(b"#!"):
                interpreter = first[2:].strip().split(b" ", 1)[0].decode(errors="replace")
                if not os.access(interpreter, os.X_OK):
                    problems.append(f"{chained} runs {interpreter}, which is not there")
    return problems


def object_format_problem(git_dir: Path) -> str | None:
    """What a repository in SHA-256 object format means for gate (it reads SHA-1 ids only),
    or None for a SHA-1 repository."""
    proc = subprocess.run(
        ["git", *_TRUST, "--git-dir", str(git_dir), "rev-parse", "--show-object-format"],
        capture_output=True,
        text=True,
    )
    found = proc.stdout.strip()
    if proc.returncode != 0 or found in ("", "sha1"):
        return None
    return (
        f"{git_dir} uses {found} object ids, and gate supports SHA-1 repositories only: the "
        "hook refuses every agent change to guarded paths there (no reviewer can be shown it)"
    )


def _fsck(git_dir: Path) -> list[str]:
    for key in ("receive.fsckObjects", "transfer.fsckObjects"):
        proc = subprocess.run(
            ["git", *_TRUST, "--git-dir", str(git_dir), "config", "--bool", "--get", key],
            capture_output=True,
            text=True,
        )
        if proc.stdout.strip() == "true":
            return []
    return [
        "git does not check pushed objects (receive.fsckObjects is off); fix: git config "
        "receive.fsckObjects true (install-hook sets it)"
    ]


def _no_pusher(git_dir: Path, config: HookConfig) -> list[str]:
    log = git_dir / SPOOL_DIR / NO_PUSHER_LOG
    try:
        lines = log.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    since = datetime.now(UTC) - NO_PUSHER_WINDOW
    recent = []
    for line in lines:
        stamp = line.split(" ", 1)[0]
        try:
            if datetime.fromisoformat(stamp) >= since:
                recent.append(stamp)
        except ValueError:
            continue
    if not recent:
        return []
    from gate.git.prefilter import LAYOUT_PUSHER_VARIABLES

    names = ", ".join(LAYOUT_PUSHER_VARIABLES[config.layout])
    return [
        f"{len(recent)} push(es) to protected refs in the last 30 days (last {recent[-1]}) came "
        f"with no authenticated pusher (none of {names} set): an agent pushing with a human "
        "identity would pass. Fix: pass the authenticated user to hooks (README), and set "
        'require_pusher = true or unknown_pusher = "agent"'
    ]


__all__ = ["CONFIG_NAME", "REPOSITORY_VARIABLES", "doctor", "preflight", "usable_by"]
