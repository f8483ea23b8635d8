"""The post-receive hook: tell the server what landed on protected refs, agents vs humans.

Disclosure needs the commits humans push too, which pre-receive never sends. After git has
accepted a push, the hook script (``hooks/post-receive``, plain sh) hands the ref updates to
this module's worker in the background, with no stdout/stderr git would wait for, and returns
at once: the push is never delayed or failed by it. The worker detaches into its own session
and lowers its priority. The worker counts, per guard and committer day, the new commits on
protected refs that touch guarded paths, by agents and by humans (git plumbing only: commit
headers and trees, never blobs), and POSTs the summary to ``/api/v1/pushes``.

The report is written to ``<git dir>/gate-spool/`` before it is sent and removed once the
server has it, so a server that is down loses nothing: the next push's worker resends the
spool, oldest first. Each report has an id, so a resent report is recorded only once.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gate.clock import utc_text

CHAINED_HOOK = "post-receive.gate-chained"
SPOOL_DIR = "gate-spool"
NO_PUSHER_LOG = "no-pusher.log"  # protected pushes that named no authenticated pusher
MAX_LISTED_COMMITS = 1000
MAX_REMEMBERED = 20_000  # wire.MAX_ITEMS: the host's store keeps them all regardless


def spawn_worker(stdin: bytes) -> None:
    """Start the detached worker and give it the ref updates; do not wait for it."""
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    boot = (
        f"import sys; sys.path.insert(0, {package_parent!r}); "
        "from gate.git.post_receive import main; sys.exit(main())"
    )
    proc = subprocess.Popen(
        [sys.executable, "-I", "-c", boot, "--worker"],  # with site-packages: it needs requests
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    assert proc.stdin is not None
    try:
        proc.stdin.write(stdin)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    proc.returncode = 0  # detached on purpose: nothing to reap, nothing to warn about


def build_report(
    stdin: bytes, environ: Mapping[str, str], git_dir: str, central: str | None = None
) -> dict[str, Any] | None:
    """The summary of one accepted push, or None when it updated no protected ref and brought
    no commit an agent account pushed (or the repository is one a central configuration
    passes unguarded)."""
    from gate.git.config import load_hook_config
    from gate.git.policy import load_policy
    from gate.git.refs import parse_ref_updates

    updates = parse_ref_updates(stdin)
    config = load_hook_config(git_dir, environ, central)
    if not config.guarded:
        return None
    policy = load_policy(config.policy)
    protected = [u for u in updates if policy.is_protected(u.ref) and not u.is_delete]
    from gate.git.provenance import take_unreported

    remembered = take_unreported(git_dir, [(u.ref, u.old, u.new) for u in updates])
    if not protected and not remembered:
        return None

    from gate.git.detection import AgentDetector, find_pusher
    from gate.git.plumbing import Git
    from gate.git.prefilter import LAYOUT_PUSHER_VARIABLES, range_stops

    git = Git(git_dir, environ)
    variables = LAYOUT_PUSHER_VARIABLES[config.layout]
    pusher = find_pusher(environ, variables)
    detector = AgentDetector(policy.agents, pusher, None, config.unknown_pusher, variables)
    # The classifier's one commit range, after the push: the updated refs hold the new tips.
    options, stops = range_stops(git, policy.protected_refs, protected, landed=True)
    ids: dict[str, str] = {}  # id -> the first protected ref that brought it
    for update in protected:
        for oid in git.commit_ids([update.new], stops, options):
            ids.setdefault(oid, update.ref)
    buckets: dict[tuple[str, str], dict[str, Any]] = {}
    listed: list[dict[str, Any]] = []
    signatures = _signatures(git, git_dir)
    signed: list[dict[str, Any]] = []
    guarded = guarded_commits(git, policy, detector, ids, signatures, git_dir) if ids else iter(())
    for oid, guards, agents, commit in guarded:
        if not agents:
            signed += _signed_acceptance(policy, signatures, oid, guards)
        day = datetime.fromtimestamp(commit.committer.time, UTC).strftime("%Y-%m-%d")
        for guard in guards:
            bucket = buckets.setdefault(
                (guard, day),
                {"guard": guard, "day": day, "agent": 0, "human": 0, "agents": Counter()},
            )
            bucket["agent" if agents else "human"] += 1
            bucket["agents"].update(agents)
        if agents:
            listed.append({"id": oid, "guards": guards, "agents": agents})
    from gate.wire import push_report

    return push_report(
        report_id=uuid.uuid4().hex,
        repository=config.repository,
        pusher=pusher,
        pushed_at=utc_text(datetime.now(UTC)),
        policy_sha256=policy.sha256,
        guards=[g.name for g in policy.guards],
        refs=[{"ref": u.ref, "old": u.old, "new": u.new} for u in protected],
        commits=len(ids),
        guarded=[
            {**b, "agents": dict(sorted(b["agents"].items()))} for _, b in sorted(buckets.items())
        ],
        agent_commits=listed[:MAX_LISTED_COMMITS],
        agent_commits_truncated=len(listed) > MAX_LISTED_COMMITS,
        signed=signed[:MAX_LISTED_COMMITS],
        remembered=[
            {
                "id": r.id,
                "ref": r.ref,
                "pusher": r.pusher,
                "pushed_at": utc_text(datetime.fromtimestamp(r.pushed_at, UTC)),
            }
            for r in remembered[:MAX_REMEMBERED]
        ],
        remembered_truncated=len(remembered) > MAX_REMEMBERED,
        remembered_count=len(remembered),
    )


def _signatures(git: Any, git_dir: str) -> Any:
    """Signature checks against the kept key registry (the worker refreshed it first); with
    no copy, an empty registry: no signature then counts for anyone."""
    from gate.git.classify import Signatures
    from gate.git.signing import Registry, load_registry

    kept = load_registry(git_dir)
    registry = kept or Registry({"generated_at": "", "keys": []}, 0.0)
    return Signatures(git, git_dir, lambda: registry)


def _signed_acceptance(
    policy: Any, signatures: Any, oid: str, guards: list[str]
) -> list[dict[str, Any]]:
    """The commit as a signed-humans guard accepted it (its signature by a human's key), for
    the audit log: gate audit verify checks it against the key registry in the bundle."""
    trusting = [g for g in policy.guards if g.signed_humans and g.name in guards]
    if not trusting:
        return []
    check = signatures.check(oid)
    if any(
        check.why_not_human(signatures.now, g.require_touch, g.require_pin) is not None
        for g in trusting
    ):
        return []  # it landed only with sign-off (or not through gate): not a signed acceptance
    import base64

    return [
        {
            "id": oid,
            "guards": [g.name for g in trusting],
            "fingerprint": check.key.fingerprint,
            "account": check.key.account,
            "commit": base64.b64encode(signatures.raws[oid]).decode("ascii"),
        }
    ]


def guarded_commits(
    git: Any,
    policy: Any,
    detector: Any,
    ids: Mapping[str, str],
    signatures: Any = None,
    git_dir: str | None = None,
) -> Iterator[tuple[str, list[str], list[str], Any]]:
    """(id, guards, agent names or [], commit) for each of ``ids`` (id -> the ref that brought
    it) that touches a guard. Only those commits' objects are read, as stored (git's reading).
    ``signatures`` (gate.git.classify.Signatures): a commit signed by an agent's key is that
    agent's. A commit the provenance store of ``git_dir`` names is an agent's, as in
    pre-receive."""
    from gate.git.classify import pathspec_of, provenance_signal, signature_signals
    from gate.git.commits import parse_commit
    from gate.git.detection import is_agent
    from gate.git.provenance import AgentCommits
    from gate.git.signing import is_signed

    memory = AgentCommits.open(git_dir) if git_dir is not None else None

    changed = dict(git.changed_paths(ids, pathspec_of(policy)))
    raw = git.raw_commits(oid.encode("ascii") for oid in changed)
    if signatures is not None:
        signatures.raws.update({oid.decode("ascii"): data for oid, data in raw.items()})
    for oid, changes in changed.items():
        guards = sorted(policy.guards_for_paths(c.path for c in changes))
        if not guards:
            continue
        commit = parse_commit(oid, raw[oid.encode("ascii")])
        signals = detector.signals(commit, ids[oid])
        if signatures is not None and is_signed(raw[oid.encode("ascii")]):
            signals += signature_signals(signatures.check(oid))
        remembered = memory.get(oid) if memory is not None else None
        if remembered is not None:
            signals.append(provenance_signal(remembered))
        yield oid, guards, (_agent_names(signals) if is_agent(signals) else []), commit


def _agent_names(signals: list[Any]) -> list[str]:
    """Catalog names when the catalog recognised the tool, else the policy rules that fired."""
    catalog = sorted({s.agent for s in signals if s.source == "catalog"})
    if catalog:
        return catalog
    return sorted({f"{s.agent} {s.rule}" for s in signals if s.kind != "ref"})


def send_report(config: Any, report: dict[str, Any]) -> None:
    from gate.git.client import send_push_report

    send_push_report(config, report)


def _spool(git_dir: str, report: dict[str, Any]) -> Path:
    spool = Path(git_dir) / SPOOL_DIR
    spool.mkdir(exist_ok=True)
    name = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}-{report['report_id']}.json"
    tmp = spool / (name + ".tmp")
    tmp.write_text(json.dumps(report), encoding="utf-8")
    os.replace(tmp, spool / name)
    return spool / name


def _log(git_dir: str, message: str, name: str = "errors.log") -> None:
    """A dated line in the spool's log ``name``, for the admin (and gate doctor)."""
    try:
        spool = Path(git_dir) / SPOOL_DIR
        spool.mkdir(exist_ok=True)
        with open(spool / name, "a", encoding="utf-8") as log:
            log.write(f"{datetime.now(UTC).isoformat()} {message}\n")
    except OSError:
        pass


def worker(
    stdin: bytes, environ: Mapping[str, str], git_dir: str, central: str | None = None
) -> int:
    """Build this push's report, spool it, send every spooled report, oldest first, then the
    repository's heartbeat (whatever became of the reports: the server must hear that the
    hook runs even when a report cannot be built)."""
    from gate.git.config import load_hook_config

    try:
        config = load_hook_config(git_dir, environ, central)
    except Exception as exc:  # never let the worker die silently: leave a trace for the admin
        _log(git_dir, f"cannot read the hook's settings: {type(exc).__name__}: {exc}")
        return 1
    if config.guarded:
        try:  # the pre-receive hook reads this copy; it asks the server only when it is stale
            from gate.git.client import Deadline, fetch_key_registry
            from gate.git.signing import refresh_registry

            seconds = min(10.0, max(1.0, config.budget))
            refresh_registry(lambda: fetch_key_registry(config, Deadline(seconds)), git_dir)
        except Exception as exc:
            _log(git_dir, f"cannot refresh the signing-key registry: {type(exc).__name__}: {exc}")
    try:
        report = build_report(stdin, environ, git_dir, central)
        if report is not None:
            _spool(git_dir, report)
            _reported(git_dir, stdin)
            if report["pusher"] is None:  # gate doctor reports these
                _log(git_dir, "push with no authenticated pusher", NO_PUSHER_LOG)
    except Exception as exc:
        _log(git_dir, f"cannot build the push report: {type(exc).__name__}: {exc}")
        return max(1, _heartbeat(config, environ, git_dir))
    sent = _send_spool(config, git_dir)
    return max(sent, _heartbeat(config, environ, git_dir))


def _reported(git_dir: str, stdin: bytes) -> None:
    """The remembered commits are in a spooled report: their unreported copies can go."""
    from gate.git.provenance import forget_unreported
    from gate.git.refs import parse_ref_updates

    forget_unreported(git_dir, [(u.ref, u.old, u.new) for u in parse_ref_updates(stdin)])


def _heartbeat(config: Any, environ: Mapping[str, str], git_dir: str) -> int:
    from gate.git.checkpoints import keep_checkpoint
    from gate.git.detection import find_pusher
    from gate.git.heartbeat import heartbeat_body, send_heartbeat

    try:
        pusher_known = find_pusher(environ) is not None
        answer = send_heartbeat(
            config,
            heartbeat_body(
                config, environ, "post-receive", pusher_known=pusher_known, git_dir=git_dir
            ),
        )
    except Exception as exc:
        _log(git_dir, f"cannot send the heartbeat: {type(exc).__name__}: {exc}")
        return 1
    problem = keep_checkpoint(git_dir, answer["checkpoint"])
    if problem is not None:
        _log(git_dir, problem)
        return 1
    return 0


def _send_spool(config: Any, git_dir: str) -> int:
    for path in sorted((Path(git_dir) / SPOOL_DIR).glob("*.json")):
        try:
            send_report(config, json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            continue  # another push's worker sent it meanwhile
        except Exception as exc:
            _log(
                git_dir,
                f"cannot send {path.name}, kept for the next push: {type(exc).__name__}: {exc}",
            )
            return 1
        path.unlink(missing_ok=True)
    return 0


def _run_chained(git_dir: str, stdin: bytes) -> int:
    chained = Path(git_dir) / "hooks" / CHAINED_HOOK
    if not chained.exists() or not os.access(chained, os.X_OK):
        return 0
    return subprocess.run([str(chained)], input=stdin).returncode


def _detach() -> None:
    """Leave the push's session (a closing SSH connection must not stop the report) and yield
    the CPU to the pushes themselves."""
    with contextlib.suppress(OSError):
        os.setsid()
    with contextlib.suppress(OSError):
        os.nice(10)


def main(central: str | None = None) -> int:
    """``central``: the central configuration of a server-wide install (the hook script
    passes it), else the repository's gate.toml."""
    git_dir = os.environ.get("GIT_DIR", ".")
    stdin = sys.stdin.buffer.read()
    if sys.argv[1:] == ["--worker"]:
        _detach()
        return worker(stdin, os.environ, git_dir, central)
    # Hook scripts installed by earlier versions of gate start here: spawn the worker as they
    # expect. The current script (hooks/post-receive) starts the worker itself.
    try:
        spawn_worker(stdin)
    except OSError as exc:
        print(
            f"gate: could not start the disclosure report ({exc}); the push is unaffected",
            file=sys.stderr,
        )
    return _run_chained(git_dir, stdin)


if __name__ == "__main__":
    sys.exit(main())
