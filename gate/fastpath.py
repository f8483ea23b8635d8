"""The hook's fast path: prove that a push holds nothing, or say that it cannot.

Most pushes bring human commits, or agent commits that touch no guarded path. Starting Python
costs about as much as the push itself, so this module must decide those pushes with what
Python has loaded at start-up (``os``, ``sys``, ``marshal``): no ``re``, no ``subprocess``,
no ``typing``, no dataclasses, no TOML. It reads a summary of the policy and the catalog that
gate.hookcache writes next to its cache, runs ``git rev-list`` (and ``git diff-tree`` only for
commits that might be an agent's) with ``os.posix_spawnp``, and tests plain substrings.

Every pattern that marks a commit as an agent's, or a path as guarded, comes reduced to
strings one of which each match must contain (gate.literals). A commit whose raw object
contains none of the agent strings cannot be an agent's; a path that contains none of the
guard strings cannot be guarded. ``decide`` answers True only when that settles the push:
a human pusher, and every new commit is either certainly human or touches only certainly
unguarded paths. Anything else (no summary, a stale one, an odd input, a git error, a commit
in another encoding, a maybe) answers False, and the hook takes the full path, which decides
exactly and reports errors. The commits inspected here are a superset of the full path's:
those reachable from the pushed tips and from no protected ref named without wildcards.
"""

from __future__ import annotations

import marshal
import os
import sys

import gate

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

SUMMARY_NAME = "gate-cache.fast"
SUMMARY_KEY = ("gate-fast-path", 1, gate.__version__, sys.version, __file__)

# Where each git server puts the authenticated user in the hook's environment:
# GitLab, GitHub Enterprise Server, Gitea/Forgejo, gitolite, then smart HTTP behind a web server.
PUSHER_VARIABLES = (
    "GL_USERNAME",
    "GITHUB_USER_LOGIN",
    "GITEA_PUSHER_NAME",
    "GL_USER",
    "REMOTE_USER",
)

# The only characters Python's re.IGNORECASE equates with an ASCII character that str.lower()
# does not lower to it (tests check every code point).
_FOLD = {0x130: "i", 0x131: "i", 0x17F: "s", 0x212A: "k"}
# diff-tree --stdin reads while it writes: input up to the smallest pipe buffer cannot block.
_SAFE_PIPE_INPUT = 4096
_HEX = frozenset("0123456789abcdef")
_MAX_TIPS = 1000  # pushed tips passed as arguments


def find_pusher(environ: Mapping[str, str]) -> str | None:
    """The authenticated pusher: the first of PUSHER_VARIABLES that is set and not blank."""
    for variable in PUSHER_VARIABLES:
        value = environ.get(variable, "").strip()
        if value:
            return value
    return None


def fold(text: str) -> str:
    """Lower-case ``text`` so that an IGNORECASE match of an ASCII literal is a substring."""
    return text.lower() if text.isascii() else text.translate(_FOLD).lower()


def ref_matches(pattern: str, ref: str) -> bool:
    """A protected-ref pattern: '*' within one component, '**' whole components, else literal.

    The same language as gate.policy.ref_pattern_regex (tests compare them).
    """
    return _match_parts(pattern.split("/"), ref.split("/"))


def _match_parts(parts: list[str], names: list[str]) -> bool:
    if not parts:
        return not names
    head, rest = parts[0], parts[1:]
    if head == "**":
        if not rest:  # trailing '**': one or more components
            return bool(names) and all(names)
        return any(_match_parts(rest, names[i:]) for i in range(len(names) + 1) if all(names[:i]))
    return bool(names) and _match_part(head, names[0]) and _match_parts(rest, names[1:])


def _match_part(pattern: str, name: str) -> bool:
    chunks = pattern.split("*")
    if len(chunks) == 1:
        return pattern == name
    first, last = chunks[0], chunks[-1]
    if len(name) < len(first) + len(last) or not name.startswith(first) or not name.endswith(last):
        return False
    pos, end = len(first), len(name) - len(last)
    for chunk in chunks[1:-1]:
        found = name.find(chunk, pos, end)
        if found < 0:
            return False
        pos = found + len(chunk)
    return True


def may_match(text: str, rules: Iterable[tuple[Sequence[str], Sequence[Sequence[str]]]]) -> bool:
    """Whether any rule (trigger, clauses) might match: ``text`` has a string of each clause."""
    for trigger, clauses in rules:
        if any(piece in text for piece in trigger) and all(
            any(piece in text for piece in clause) for clause in clauses
        ):
            return True
    return False


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:
        return None


def load_summary(git_dir: str) -> dict | None:
    """The summary hookcache wrote, if every file it was built from is unchanged."""
    data = _read(os.path.join(git_dir, SUMMARY_NAME))
    if data is None:
        return None
    try:
        summary = marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        return None
    if not isinstance(summary, dict) or summary.get("key") != SUMMARY_KEY:
        return None
    for path, expected in summary["sources"]:
        if _read(path) != expected:
            return None
    return summary


class _Unsure(Exception):
    """The fast path cannot decide; the full path will."""


def _git(args: list[str], env: dict[str, str], input: bytes = b"") -> Iterator[bytes]:
    """Run git and yield its output as it comes; _Unsure if it cannot start or fails.

    Input that might not fit a pipe while git is writing its answer (diff-tree answers while it
    reads) is written from a thread, imported only then.
    """
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        pid = os.posix_spawnp(
            "git",
            ["git", *args],
            env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, stdin_r, 0),
                (os.POSIX_SPAWN_DUP2, stdout_w, 1),
                (os.POSIX_SPAWN_DUP2, null, 2),
                (os.POSIX_SPAWN_CLOSE, stdin_w),
                (os.POSIX_SPAWN_CLOSE, stdout_r),
            ],
        )
    except OSError:
        for fd in (stdin_r, stdin_w, stdout_r, stdout_w, null):
            os.close(fd)
        raise _Unsure from None
    for fd in (stdin_r, stdout_w, null):
        os.close(fd)
    writer = None
    finished = False
    try:
        if len(input) <= _SAFE_PIPE_INPUT:
            _write_all(stdin_w, input)
        else:
            import threading

            writer = threading.Thread(target=_write_all, args=(stdin_w, input), daemon=True)
            writer.start()
        while chunk := os.read(stdout_r, 1 << 16):
            yield chunk
        finished = True
    finally:
        if not finished:  # the reader stopped early: no stray process
            os.kill(pid, 9)
        os.close(stdout_r)
        if writer is not None:
            writer.join()
        _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise _Unsure


def _write_all(fd: int, data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        pass  # git stopped reading; its exit status says why
    finally:
        os.close(fd)


def _records(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """NUL-terminated records from a stream of chunks."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *records, pending = pending.split(b"\0")
        yield from records
    if pending:
        yield pending


def _parse_updates(stdin: bytes) -> list[tuple[str, str, str]] | None:
    updates = []
    for line in stdin.decode("ascii", "surrogateescape").splitlines():
        if not line.strip():
            continue
        parts = line.split(" ", 2)
        if len(parts) != 3 or not all(len(p) in (40, 64) and _HEX.issuperset(p) for p in parts[:2]):
            return None
        updates.append((parts[0], parts[1], parts[2]))
    return updates


def _exclusions(patterns: list[str]) -> list[str]:
    """rev-list arguments that stop the walk at protected refs named without wildcards.

    Each name becomes a ``--glob`` whose last character is a one-character class, so it matches
    that ref exactly (a plain name would get ``/*`` appended) and nothing when the ref does not
    exist yet; ``--ignore-missing`` would also ignore a pushed tip that is missing. Refs
    matched by wildcard patterns are not excluded: that costs a ``for-each-ref`` process, and
    leaving them out only adds commits to inspect, never removes any. Nor are the updates' old
    values: for a protected ref the old value is its current tip, excluded by name.
    """
    return [f"--glob={p[:-1]}[{p[-1]}]" for p in patterns if "*" not in p]


def decide(stdin: bytes, environ: Mapping[str, str], git_dir: str) -> bool:
    """True when the push certainly holds nothing; False means "take the full path"."""
    try:
        return _decide(stdin, environ, git_dir)
    except Exception:  # _Unsure or anything unforeseen: the full path decides and explains
        return False


def _decide(stdin: bytes, environ: Mapping[str, str], git_dir: str) -> bool:
    summary = load_summary(git_dir)
    updates = _parse_updates(stdin)
    if summary is None or updates is None or summary.get("disabled"):
        return False
    patterns = summary["protected_refs"]
    protected = [u for u in updates if any(ref_matches(p, u[2]) for p in patterns)]
    if not protected:
        return True
    pusher = find_pusher(environ)
    if pusher is not None and may_match(fold(pusher), summary["pusher_rules"]):
        return False  # maybe an agent pushing: deletions and rewrites need the full path
    tips = [new for _, new, _ in protected if new.strip("0")]
    if not tips:
        return True  # only deletions, by a human pusher
    env = dict(environ)
    env["GIT_DIR"] = git_dir
    env["LC_ALL"] = "C"
    if len(tips) > _MAX_TIPS:
        return False  # a mirror-sized push: the full path streams its input
    output = _git(["rev-list", "--header", *tips, "--not", *_exclusions(patterns)], env)
    maybe_agent = list(_agent_candidates(_records(output), summary["agent_rules"]))
    if not maybe_agent:
        return True
    guard_rules = summary["guard_rules"]
    if guard_rules is None:
        return False
    return _touches_no_guard(maybe_agent, guard_rules, env)


def _agent_candidates(records: Iterable[bytes], agent_rules: list) -> Iterator[bytes]:
    """Ids of the rev-list --header records that might be an agent's commit."""
    for record in records:
        if not record:
            continue
        oid, _, body = record.partition(b"\n")
        header = body.partition(b"\n\n")[0]
        if b"\nencoding " in b"\n" + header:
            raise _Unsure  # text in another encoding: the full path decodes it
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _Unsure from None  # the full path decodes field by field, with replacements
        if may_match(fold(text), agent_rules):
            yield oid


def _touches_no_guard(commits: list[bytes], guard_rules: list, env: dict[str, str]) -> bool:
    ids = b"".join(oid + b"\n" for oid in commits)
    args = ["diff-tree", "--stdin", "-r", "--root", "-m", "-z", "--no-renames", "--no-ext-diff"]
    after_meta = False
    for field in _records(_git(args, env, ids)):
        if after_meta:
            if may_match(field.decode("utf-8", "surrogateescape"), guard_rules):
                return False
            after_meta = False
        elif field.startswith(b":"):
            after_meta = True
    return True
