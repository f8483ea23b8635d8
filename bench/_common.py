"""Shared helpers for the benchmarks: synthetic repositories, timed pushes, medians, reports.

Every benchmark builds its own repositories with ``git fast-import`` under a temporary
directory, talks only to 127.0.0.1 and is bounded in runs and time. Gate and baseline runs are
interleaved so that a noisy neighbour slows both alike.
"""

from __future__ import annotations

import atexit
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Each run signs its own audit log: a key directory of its own (inherited by the servers it
# starts), not the user's $GATE_HOME/keys, whose signed head names another run's log.
_KEYS = tempfile.mkdtemp(prefix="gate-bench-keys-")
os.environ["GATE_AUDIT_KEY_DIR"] = _KEYS
atexit.register(shutil.rmtree, _KEYS, True)

HUMAN = "Dana Human <dana@example.com>"
AGENT_TRAILER = "Co-Authored-By: Claude <noreply@anthropic.com>"

POLICY = """\
protected_refs = ["refs/heads/main", "refs/heads/release/*"]

[[guard]]
name = "training"
paths = ["train/**", "configs/train/**", "*.ckpt"]
approvals = 1

[agents]
builtin = true
pushers = ["agent-*"]
emails = ["*@bots.example.com"]
"""

FSCK_KEYS = ("receive.fsckObjects", "transfer.fsckObjects")

# The hook's compiled settings (gate.git.settings writes them, gate.git.prefilter reads them).
CACHE_FILES = ("gate-cache",)

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
}


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_ENV)
    env["HOME"] = env.get("BENCH_HOME", env.get("HOME", "/tmp"))
    for name in ("REMOTE_USER", "GL_USERNAME", "GITHUB_USER_LOGIN", "GITEA_PUSHER_NAME", "GL_USER"):
        env.pop(name, None)
    return env


def git(*args: str, cwd: Path | None = None, input: bytes | None = None) -> bytes:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, input=input, capture_output=True, env=git_env(), check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


# --------------------------------------------------------------------------------------------
# Synthetic histories


@dataclass
class History:
    """Parameters of a linear synthetic history written by fast-import."""

    commits: int
    paths: int = 2000
    files_per_commit: tuple[int, int] = (1, 3)
    agent: bool = False  # every commit carries a Claude Code trailer
    guarded: bool = False  # the commits touch guarded paths (train/...)
    seed: int = 1
    start: int = 0  # commit number of the first commit (for stacking histories)


def _path(index: int, guarded: bool) -> str:
    top = "train" if guarded else "src"
    return f"{top}/d{index % 40:02d}/s{(index // 40) % 10}/f{index}.py"


def fast_import_stream(history: History, ref: str, parent: str | None) -> Iterator[bytes]:
    """A fast-import stream of ``history`` onto ``ref`` (starting from commit ``parent``)."""
    state = history.seed * 2654435761 % 2**32
    when = 1_700_000_000 + history.start * 60
    for n in range(history.start, history.start + history.commits):
        state = (state * 1103515245 + 12345) % 2**31
        low, high = history.files_per_commit
        count = low + state % (high - low + 1)
        message = f"change {n}\n"
        if history.agent:
            message += f"\n{AGENT_TRAILER}\n"
        data = message.encode()
        out = [
            f"commit {ref}\n".encode(),
            f"mark :{n + 1}\n".encode(),
            f"author {HUMAN} {when + n * 60} +0000\n".encode(),
            f"committer {HUMAN} {when + n * 60} +0000\n".encode(),
            f"data {len(data)}\n".encode() + data,
        ]
        if n == history.start and parent:
            out.append(f"from {parent}\n".encode())
        for k in range(count):
            index = (state >> (k * 5) ^ n * 7 + k) % history.paths
            body = f"# {n} {k}\nvalue = {state + k}\n".encode()
            out.append(f"M 100644 inline {_path(index, history.guarded)}\n".encode())
            out.append(f"data {len(body)}\n".encode() + body + b"\n")
        yield b"".join(out)


def build_repo(path: Path, *histories: tuple[str, History]) -> dict[str, str]:
    """A bare repository with each (ref, history) written in order; returns ref -> tip."""
    git("init", "--quiet", "--bare", "--initial-branch=main", str(path))
    tips: dict[str, str] = {}
    for ref, history in histories:
        parent = tips.get(ref) or next(iter(tips.values()), None)
        stream = b"".join(fast_import_stream(history, ref, parent)) + b"done\n"
        git("fast-import", "--quiet", "--done", cwd=path, input=stream)
        tips[ref] = git("rev-parse", ref, cwd=path).decode().strip()
    git("repack", "-a", "-d", "-q", cwd=path)
    return tips


def new_target(path: Path, source: Path, base: str | None) -> Path:
    """A bare repository holding ``base`` (from ``source``) on main, without running any hook."""
    if path.exists():
        # Moved aside, not removed: the gate's post-receive may still be writing there (its
        # report spool) in the background; the temporary directory goes at the end.
        path.rename(path.with_name(f"{path.name}.old-{time.monotonic_ns()}"))
    git("init", "--quiet", "--bare", "--initial-branch=main", str(path))
    # No background gc after a push: it would race the next run's rmtree of this target.
    git("config", "receive.autogc", "false", cwd=path)
    # install-hook turns these on (git checks every pushed object): every target has them,
    # gated or not, so that a ratio is the hook's own cost, not fsck's.
    for key in FSCK_KEYS:
        git("config", key, "true", cwd=path)
    if base:
        git("fetch", "--quiet", str(source), f"{base}:refs/heads/main", cwd=path)
    return path


def install_gate(
    target: Path,
    tmp: Path,
    server: str = "http://127.0.0.1:9",
    name: str | None = None,
    budget: float | None = None,
) -> None:
    """Install gate's hook; with the hook's settings cache of an earlier run, as on a live server.

    Targets are recreated at the same path for every run, so gate.toml is the same and the
    cache (``warm_cache``) applies.
    """
    from gate.git.install import install_hook

    policy, token = settings_files(tmp)
    install_hook(str(target), server, str(token), str(policy), name=name, budget=budget)
    for cache in CACHE_FILES:
        saved = tmp / f"{target.name}.{cache}"
        if saved.exists():
            shutil.copyfile(saved, target / cache)


def settings_files(tmp: Path) -> tuple[Path, Path]:
    """The policy (POLICY unless one was written) and token files hooks are installed with."""
    policy, token = tmp / "policy.toml", tmp / "token"
    if not policy.exists():
        policy.write_text(POLICY)
    if not token.exists():
        token.write_text("bench-token-not-used\n")
    return policy, token


def wait_for_report_workers(timeout: float = 30.0) -> None:
    """Wait until no post-receive report worker runs (they run detached, after the push).

    Not timed: the push does not wait for them either. But a worker still busy during the
    next run would slow that run, gate's or the baseline's alike, and hide gate's cost.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = False
        for proc in Path("/proc").iterdir():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"gate.git.post_receive" in cmdline and b"--worker" in cmdline:
                busy = True
                break
        if not busy:
            return
        time.sleep(0.01)


def warm_cache(target: Path, tmp: Path) -> None:
    """Keep the caches the hook wrote, for the next run's fresh copy of ``target``."""
    for name in CACHE_FILES:
        cache = target / name
        saved = tmp / f"{target.name}.{name}"
        if cache.exists() and not saved.exists():
            shutil.copyfile(cache, saved)


def install_trivial_hook(target: Path) -> None:
    hook = target / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\nexec {sys.executable} -I -c 'import sys; sys.stdin.read()'\n")
    hook.chmod(0o755)


def push(
    source: Path, target: Path, rev: str, ref: str = "refs/heads/main", pusher: str | None = None
) -> tuple[float, str]:
    """Push ``rev`` from ``source`` to ``target`` (as the authenticated ``pusher``, passed as
    REMOTE_USER, as a web server in front of git would); (seconds, stderr). Raises if refused."""
    env = git_env()
    if pusher:
        env["REMOTE_USER"] = pusher
    start = time.perf_counter()
    proc = subprocess.run(
        ["git", "push", "--quiet", str(target), f"{rev}:{ref}"],
        cwd=source,
        capture_output=True,
        env=env,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"push refused: {proc.stderr.decode(errors='replace')}")
    return elapsed, proc.stderr.decode(errors="replace")


# --------------------------------------------------------------------------------------------
# Timing and reporting


@dataclass
class Case:
    name: str
    gate: list[float] = field(default_factory=list)
    base: list[float] = field(default_factory=list)
    goal: str = ""

    def line(self) -> str:
        g, b = statistics.median(self.gate), statistics.median(self.base)
        return (
            f"{self.name:<44} gate {fmt(g):>9}  baseline {fmt(b):>9}  ratio {g / b:5.2f}x"
            f"  (runs {len(self.gate)}; {self.goal})"
        )


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.2f} s"


def interleave(
    runs: int, gate: Callable[[], float], base: Callable[[], float], case: Case, budget: float
) -> Case:
    """Alternate gate and baseline runs (order flipped each round), within ``budget`` seconds."""
    deadline = time.monotonic() + budget
    for n in range(runs):
        pair = (gate, base) if n % 2 == 0 else (base, gate)
        for fn in pair:
            (case.gate if fn is gate else case.base).append(fn())
        if time.monotonic() > deadline and n >= 2:
            break
    return case


class HookClock:
    """How long receive-pack waited for each hook, read from git's own trace2 events.

    Whole pushes of a long history swing by several seconds between runs on a shared machine,
    far more than a hook costs; receive-pack's trace of its hook children times the hook
    itself inside the real push. trace2 is read from the global config only, so the pushes
    run with HOME at a directory of this clock's (``BENCH_HOME``) whose .gitconfig names an
    event directory while ``watch`` is open, and nothing otherwise.
    """

    def __init__(self, tmp: Path) -> None:
        self.home = tmp / "home"
        self.home.mkdir(exist_ok=True)
        (self.home / ".gitconfig").write_text("")
        os.environ["BENCH_HOME"] = str(self.home)
        self.seconds: dict[str, list[float]] = {}

    @contextmanager
    def watch(self) -> Iterator[None]:
        events = Path(tempfile.mkdtemp(prefix="trace2-", dir=self.home))
        (self.home / ".gitconfig").write_text(f"[trace2]\n\teventTarget = {events}\n")
        try:
            yield
        finally:
            (self.home / ".gitconfig").write_text("")
        started: dict[tuple[str, int], str] = {}
        for file in events.iterdir():
            for line in file.read_text().splitlines():
                event = json.loads(line)
                key = (event.get("sid", ""), event.get("child_id", -1))
                if event.get("event") == "child_start" and event.get("child_class") == "hook":
                    started[key] = event.get("hook_name", "?")
                elif event.get("event") == "child_exit" and key in started:
                    self.seconds.setdefault(started[key], []).append(event["t_rel"])
        shutil.rmtree(events, ignore_errors=True)

    def line(self, baseline: list[float]) -> str:
        hooks = {name: statistics.median(times) for name, times in sorted(self.seconds.items())}
        total = sum(hooks.values())
        shown = ", ".join(f"{name} {fmt(seconds)}" for name, seconds in hooks.items())
        share = total / statistics.median(baseline)
        return f"  hooks inside the push (git's trace2, medians): {shown}; 1 + hooks/baseline = {1 + share:.3f}x"


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    git_version = git("--version").decode().strip()
    return (
        f"nproc {os.cpu_count()}, {cpu or 'unknown CPU'}, {git_version}, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(
        prefix=f"gate-bench-{prefix}-", ignore_cleanup_errors=True
    ) as tmp:
        yield Path(tmp)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(tmp: Path, database_url: str, workers: int = 2):  # type: ignore[no-untyped-def]
    """Migrate the database, make a hook token, start gunicorn; returns (process, url, token)."""
    import secrets
    import urllib.request

    from gate.server.app import create_app
    from gate.server.database import command, upgrade_database
    from gate.server.services.accounts import create_token
    from gate.server.services.actor import Actor

    secret = secrets.token_hex(16)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": secret})
    upgrade_database(app)
    with command(app):
        token = create_token("bench", actor=Actor.cli())[1]
    port = free_port()
    env = {**os.environ, "GATE_DATABASE_URL": database_url, "GATE_SECRET_KEY": secret}
    proc = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "gunicorn"),
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "120",
            "gate.server.app:create_app()",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "gunicorn.log", "w"),  # noqa: SIM115
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/login", timeout=1).read()
            return proc, url, token
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gunicorn did not start; see gunicorn.log")
