"""The hook's fast path: prove that a push holds nothing, or say that it cannot.

Most pushes bring human commits, or agent commits that touch no guarded path. Starting Python
costs about as much as the push itself, so this module must decide those pushes with what
Python has loaded at start-up (``posix``, ``sys``, ``marshal``): no ``re``, no ``subprocess``,
no ``typing``, no dataclasses, no TOML; not even ``os`` (1 ms of a 16 ms push) or
``__future__`` (annotations that name typing-only classes are strings). It reads a summary of
the policy and the catalog that gate.git.settings writes next to its cache, runs ``git rev-list``
(and ``git diff-tree`` only for commits that might be an agent's) with ``posix_spawnp``, and
tests plain substrings.

Every pattern that marks a commit as an agent's, or a path as guarded, comes reduced to
clauses of strings that each match must contain (gate.git.literals). A commit whose raw object
fails every agent rule cannot be an agent's; a path that fails every guard rule cannot be
guarded. ``decide`` answers True only when that settles the push: every new commit is either
certainly human or touches only certainly unguarded paths, and a pusher who might be an agent
(all of whose commits count as an agent's) deletes and rewrites no protected ref. Anything
else (no summary, a stale one, an odd input, a git error, a commit in another encoding, a
maybe) answers False, and the hook takes the full path, which decides exactly and reports
errors. The commits inspected here are a superset of the full path's: those reachable from the
pushed tips and from no protected ref named without wildcards.
"""

import marshal
import posix  # what os wraps; always loaded, while os costs an import
import sys

import gate

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from threading import Thread

SUMMARY_NAME = "gate-cache.fast"
# The modules that write the summary: an edited checkout (same version) rebuilds it too.
_BUILDERS = ("summary.py", "literals.py", "catalog.py", "policy.py", "settings.py")


def _builders_stamp() -> tuple:
    here = __file__.rpartition("/")[0]
    stamp: list[tuple[str, int | None, int | None]] = []
    for name in _BUILDERS:
        try:
            st = posix.stat(f"{here}/{name}")
            stamp.append((name, st.st_mtime_ns, st.st_size))
        except OSError:
            stamp.append((name, None, None))
    return tuple(stamp)


SUMMARY_KEY = ("gate-fast-path", 1, gate.__version__, sys.version, __file__, _builders_stamp())

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
_DIFF_TREE = ("diff-tree", "--stdin", "-r", "--root", "-m", "-z", "--no-renames", "--name-only")


def environ_of_process() -> dict[str, str]:
    """This process's environment, decoded as ``os.environ`` decodes it."""
    encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
    return {
        key.decode(encoding, errors): value.decode(encoding, errors)
        for key, value in posix.environ.items()
    }


def find_pusher(environ: "Mapping[str, str]") -> str | None:
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

    The same language as gate.git.policy.ref_pattern_regex (tests compare them).
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


def may_match(text: str, rules: "Iterable[tuple[Sequence[str], Sequence[Sequence[str]]]]") -> bool:
    """Whether any rule (trigger, clauses) might match: ``text`` has a string of each clause."""
    for trigger, clauses in rules:
        if any(piece in text for piece in trigger) and all(
            any(piece in text for piece in clause) for clause in clauses
        ):
            return True
    return False


def read_bytes(path: str) -> bytes | None:
    """A file's bytes, or None if it cannot be read."""
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:
        return None


def read_keyed(path: str, key: tuple) -> dict | None:
    """A dict that ``write_keyed`` stored with ``key``; None if missing, damaged or stale."""
    data = read_bytes(path)
    if data is None:
        return None
    try:
        stored = marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        return None
    if not isinstance(stored, dict) or stored.get("key") != key:
        return None
    return stored


def write_keyed(path: str, data: dict) -> None:
    """Store ``data`` (with its "key") atomically; a file that cannot be written is no error:
    the caches that use this are rebuilt when missing."""
    tmp = f"{path}.{posix.getpid()}.tmp"
    try:
        with open(tmp, "wb") as file:
            marshal.dump(data, file)
        posix.replace(tmp, path)
    except (OSError, ValueError):
        try:  # noqa: SIM105 - contextlib would be an import on the fast path
            posix.unlink(tmp)
        except OSError:
            pass


def load_summary(git_dir: str) -> dict | None:
    """The summary hookcache wrote, if every file it was built from is unchanged."""
    summary = read_keyed(f"{git_dir}/{SUMMARY_NAME}", SUMMARY_KEY)
    if summary is None:
        return None
    for path, expected in summary["sources"]:
        if read_bytes(path) != expected:
            return None
    return summary


class _Unsure(Exception):
    """The fast path cannot decide; the full path will."""


class _Git:
    """One git process: input written by the caller, output read as it comes."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        stdin_r, self.stdin = posix.pipe()
        self.stdout, stdout_w = posix.pipe()
        null = posix.open("/dev/null", posix.O_WRONLY)
        try:
            self.pid = posix.posix_spawnp(
                "git",
                ["git", *args],
                env,
                file_actions=[
                    (posix.POSIX_SPAWN_DUP2, stdin_r, 0),
                    (posix.POSIX_SPAWN_DUP2, stdout_w, 1),
                    (posix.POSIX_SPAWN_DUP2, null, 2),
                    (posix.POSIX_SPAWN_CLOSE, self.stdin),
                    (posix.POSIX_SPAWN_CLOSE, self.stdout),
                ],
            )
        except OSError:
            for fd in (self.stdin, self.stdout):
                posix.close(fd)
            raise _Unsure from None
        finally:
            for fd in (stdin_r, stdout_w, null):
                posix.close(fd)
        self.status: int | None = None

    def write(self, data: bytes) -> None:
        try:
            view = memoryview(data)
            while view:
                view = view[posix.write(self.stdin, view) :]
        except OSError:
            pass  # git stopped reading; its exit status says why

    def close_input(self) -> None:
        if self.stdin >= 0:
            posix.close(self.stdin)
            self.stdin = -1

    def chunks(self) -> "Iterator[bytes]":
        while chunk := posix.read(self.stdout, 1 << 16):
            yield chunk

    def exit_code(self) -> int:
        """Reap git (after reading its output) and give its exit code."""
        self.close_input()
        if self.status is None:
            self.status = posix.waitstatus_to_exitcode(posix.waitpid(self.pid, 0)[1])
        return self.status

    def wait(self) -> None:
        """Reap git; _Unsure unless it succeeded."""
        if self.exit_code() != 0:
            raise _Unsure

    def kill(self) -> None:
        """Stop git if it still runs (after an early exit): its output ends, readers return."""
        self.close_input()
        if self.status is None:
            posix.kill(self.pid, 9)
            self.status = posix.waitstatus_to_exitcode(posix.waitpid(self.pid, 0)[1])

    def release(self) -> None:
        self.kill()
        if self.stdout >= 0:
            posix.close(self.stdout)
            self.stdout = -1


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


def decide(stdin: bytes, environ: "Mapping[str, str]", git_dir: str) -> bool:
    """True when the push certainly holds nothing; False means "take the full path"."""
    try:
        return _decide(stdin, environ, git_dir)
    except Exception:  # _Unsure or anything unforeseen: the full path decides and explains
        return False


def _decide(stdin: bytes, environ: "Mapping[str, str]", git_dir: str) -> bool:
    summary = load_summary(git_dir)
    updates = _parse_updates(stdin)
    if summary is None or updates is None or summary.get("disabled"):
        return False
    patterns = summary["protected_refs"]
    protected = [u for u in updates if any(ref_matches(p, u[2]) for p in patterns)]
    if not protected:
        return True
    pusher = find_pusher(environ)
    # A pusher that may be an agent makes every commit it pushes an agent's; deleting or
    # rewriting a protected ref is then a guarded change the full path weighs.
    agent_pusher = pusher is not None and may_match(fold(pusher), summary["pusher_rules"])
    tips = [new for _, new, _ in protected if new.strip("0")]
    if agent_pusher and len(tips) < len(protected):
        return False
    if not tips:
        return True  # only deletions, by a human pusher
    if len(tips) > _MAX_TIPS:
        return False  # a mirror-sized push: the full path streams its input
    env = dict(environ)
    env["GIT_DIR"] = git_dir
    env["LC_ALL"] = "C"
    if summary["guard_rules"] is None and agent_pusher:
        return False
    if agent_pusher and not all(_is_ancestor(old, new, env) for old, new, _ in protected):
        return False
    listing = ["rev-list", *([] if agent_pusher else ["--header"])]
    rev_list = _Git([*listing, *tips, "--not", *_exclusions(patterns)], env)
    paths = _ChangedPaths(env)
    try:
        rev_list.close_input()
        if agent_pusher:
            batches = (_ids(lines) for lines in _whole(rev_list.chunks(), b"\n"))
        else:
            batches = (
                _agent_candidates(_decode(records), summary["agent_rules"])
                for records in _whole(rev_list.chunks(), b"\0")
            )
        for candidates in batches:
            if candidates and summary["guard_rules"] is None:
                return False
            paths.add(candidates)
        rev_list.wait()
        return paths.none_guarded(summary["guard_rules"])
    finally:
        rev_list.release()
        paths.stop()


def _is_ancestor(old: str, new: str, env: dict[str, str]) -> bool:
    """Whether updating a ref from ``old`` to ``new`` removes no commit (creations remove none)."""
    if not old.strip("0"):
        return True
    git = _Git(["merge-base", "--is-ancestor", old, new], env)
    try:
        git.close_input()
        code = git.exit_code()
    finally:
        git.release()
    if code not in (0, 1):
        raise _Unsure
    return code == 0


def _whole(chunks: "Iterable[bytes]", end: bytes) -> "Iterator[bytes]":
    """Output in pieces that each end at a record's ``end`` (whole lines, whole records)."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        cut = pending.rfind(end) + 1
        if cut:
            yield pending[:cut]
            pending = pending[cut:]
    if pending:
        yield pending


def _ids(lines: bytes) -> list[bytes]:
    ids = lines.split()
    if not all(len(oid) in (40, 64) and _HEX.issuperset(oid.decode("ascii")) for oid in ids):
        raise _Unsure
    return ids


def _decode(data: bytes) -> str:
    """Not UTF-8 means _Unsure: the full path decodes field by field, with replacements."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Unsure from None


def _live(text: str, rules: list) -> list:
    """The rules that might match somewhere in ``text``: a part of it can match no other."""
    return [rule for rule in rules if may_match(text, (rule,))]


def _agent_candidates(records: str, agent_rules: list) -> list[bytes]:
    """Ids of the rev-list --header records that might be an agent's commit.

    The records are tested together first: most pushes are human and settle there; otherwise
    only the rules that fired on the whole are tried on each commit.
    """
    if "\nencoding " in records:  # a header git left (message lines are indented)
        raise _Unsure  # text in an encoding git did not convert: the full path decodes it
    folded = fold(records)  # NUL, hex ids and "tree " are the same folded
    rules = _live(folded, agent_rules)
    if not rules:
        return []
    candidates = []
    for record in folded.split("\0"):
        if not record:
            continue
        oid, _, body = record.partition("\n")
        if not (len(oid) in (40, 64) and _HEX.issuperset(oid) and body.startswith("tree ")):
            raise _Unsure  # a NUL inside a commit split it: records cannot be told apart
        if may_match(body, rules):
            candidates.append(oid.encode("ascii"))
    return candidates


class _ChangedPaths:
    """The paths that commits change, from one ``git diff-tree --stdin`` fed as ids arrive.

    diff-tree answers while it reads, so once more ids are pending than a pipe surely holds,
    it runs alongside rev-list with a thread (imported only then) draining its output.
    """

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.pending: list[bytes] = []
        self.size = 0
        self.git: _Git | None = None
        self.output: list[bytes] = []
        self.reader: Thread | None = None

    def add(self, commits: list[bytes]) -> None:
        for oid in commits:
            self.pending.append(oid + b"\n")
            self.size += len(oid) + 1
        if self.git is None and self.size > _SAFE_PIPE_INPUT:
            import threading

            self.git = _Git(list(_DIFF_TREE), self.env)
            self.reader = threading.Thread(target=self._drain, daemon=True)
            self.reader.start()
        if self.git is not None:
            self.git.write(b"".join(self.pending))
            self.pending.clear()

    def _drain(self) -> None:
        assert self.git is not None
        self.output.extend(self.git.chunks())

    def none_guarded(self, guard_rules: list | None) -> bool:
        """Whether no changed path can match a guard. The output is commit ids and paths,
        NUL-terminated: every field is tried as a path."""
        if self.git is None:
            if not self.pending:
                return True
            self.git = _Git(list(_DIFF_TREE), self.env)
            self.git.write(b"".join(self.pending))  # at most one pipe's worth: cannot block
            self.git.close_input()
            self.output.extend(self.git.chunks())
        else:
            self.git.close_input()
            assert self.reader is not None
            self.reader.join()
        self.git.wait()
        if guard_rules is None:
            return False
        output = b"".join(self.output).decode("utf-8", "surrogateescape")
        rules = _live(output, guard_rules)
        return not rules or not any(may_match(field, rules) for field in output.split("\0"))

    def stop(self) -> None:
        if self.git is not None:
            self.git.kill()
        if self.reader is not None:
            self.reader.join()  # before its pipe is closed
        if self.git is not None:
            self.git.release()
