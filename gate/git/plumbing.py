"""The one git runner: every git process gate starts (pre-receive, post-receive, ``gate check``).

git hands the hook a quarantine object directory (``GIT_OBJECT_DIRECTORY`` plus
``GIT_ALTERNATE_OBJECT_DIRECTORIES``); the processes started here inherit that environment, so
they see the pushed objects. They run with replace objects off and grafts ignored: a pusher
who can create ``refs/replace/*`` must not be able to show gate a different history from the
one that lands. Listing commits (``rev-list``) and their changed paths (``diff-tree --stdin``)
reads trees, never blobs, and streams.

The hook imports this module on every push, so it loads nothing beyond Python's start-up:
processes come from ``posix_spawnp``; stderr goes to an anonymous memory file (read after git
exits, so a chatty git can never block on it); a thread is started only when diff-tree's
input may exceed what a pipe holds (diff-tree answers while it reads).
"""

import posix

from gate.errors import GateError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from threading import Thread

_CHUNK = 1 << 16
_LARGE_CHUNK = 1 << 20  # Linux's default pipe-max-size for unprivileged processes
# Input up to the smallest pipe buffer cannot block a process that reads while it writes.
SAFE_PIPE_INPUT = 4096
# The most commits one diff-tree gets when its output is weighed as it comes (ChangedPaths'
# ``weigh``): its output is held whole (git's history: ~1.5 MB), and each diff-tree pays a
# start with cold caches (~35 M instructions for push_large's commits).
BATCH_COMMITS = 5_000
# While ids still come, a batch starts once this many wait (and a lane is free): smaller
# batches, as a slow reader of commits' text would make them, pay more starts than they save.
BATCH_START_COMMITS = 2_000
# At the end, fewer commits than this for each lane do not pay a second diff-tree's start.
LANE_MIN_COMMITS = 500
_HEX = frozenset(b"0123456789abcdef")
_DIFF_TREE = ["diff-tree", "--stdin", "-r", "--root", "-c", "-z", "--no-renames", "--no-ext-diff"]


def environ_of_process() -> dict[str, str]:
    """This process's environment, decoded as ``os.environ`` decodes it."""
    import sys

    encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
    return {
        key.decode(encoding, errors): value.decode(encoding, errors)
        for key, value in posix.environ.items()
    }


def git_environment(environ: "Mapping[str, str]", git_dir: str | None) -> dict[str, str]:
    """The environment every git process runs with: the caller's, made safe to decide on."""
    env = dict(environ)
    if git_dir is not None:
        env["GIT_DIR"] = git_dir
    env.setdefault("GIT_DIR", ".")
    env["LC_ALL"] = "C"
    env["GIT_NO_REPLACE_OBJECTS"] = "1"  # refs/replace/* is pushable: never let it redirect
    env["GIT_GRAFT_FILE"] = "/dev/null"  # nor a grafts file rewrite parents
    # ... without git advising, on every run, to convert the (empty) grafts file.
    count = env.get("GIT_CONFIG_COUNT", "0")
    index = int(count) if count.isdigit() else 0
    # The prefilter reads rev-list's text as UTF-8: a repository's own output encoding must
    # not change what it sees.
    settings = (("advice.graftFileDeprecated", "false"), ("i18n.logOutputEncoding", "UTF-8"))
    for offset, (key, value) in enumerate(settings):
        env[f"GIT_CONFIG_KEY_{index + offset}"] = key
        env[f"GIT_CONFIG_VALUE_{index + offset}"] = value
    env["GIT_CONFIG_COUNT"] = str(index + len(settings))
    for name in ("GIT_REPLACE_REF_BASE", "GIT_LITERAL_PATHSPECS", "GIT_GLOB_PATHSPECS"):
        env.pop(name, None)
    for name in ("GIT_NOGLOB_PATHSPECS", "GIT_ICASE_PATHSPECS"):
        env.pop(name, None)
    return env


def _widen_pipe(fd: int) -> None:
    """Give the pipe ``fd`` reads from a buffer of _LARGE_CHUNK (Linux; elsewhere a no-op)."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), _LARGE_CHUNK)
    except (ImportError, OSError):
        pass


def is_object_id(value: bytes) -> bool:
    return len(value) in (40, 64) and _HEX.issuperset(value)


class GitProcess:
    """One git process: input written by the caller, output read as it comes."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.args = args
        stdin_r, self.stdin = posix.pipe()
        self.stdout, stdout_w = posix.pipe()
        if hasattr(posix, "memfd_create"):
            self.stderr = posix.memfd_create("gate-git-stderr")
        else:  # pragma: no cover - not Linux: git's messages are not shown
            self.stderr = posix.open("/dev/null", posix.O_WRONLY)
        try:
            self.pid = posix.posix_spawnp(
                "git",
                ["git", *args],
                env,
                file_actions=[
                    (posix.POSIX_SPAWN_DUP2, stdin_r, 0),
                    (posix.POSIX_SPAWN_DUP2, stdout_w, 1),
                    (posix.POSIX_SPAWN_DUP2, self.stderr, 2),
                    (posix.POSIX_SPAWN_CLOSE, self.stdin),
                    (posix.POSIX_SPAWN_CLOSE, self.stdout),
                ],
            )
        except (OSError, ValueError) as exc:
            for fd in (self.stdin, self.stdout, self.stderr):
                posix.close(fd)
            raise GateError(f"cannot run git {args[0]}: {exc}") from None
        finally:
            for fd in (stdin_r, stdout_w):
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
        size = _CHUNK
        while chunk := posix.read(self.stdout, size):
            if size == _CHUNK and len(chunk) == _CHUNK:
                # Much more to come: a larger pipe lets git run ahead while the caller weighs
                # what it read, instead of each waiting for the other (the first stage over
                # git's history: 3.3 s -> 1.9 s). Only large outputs pay the import.
                size = _LARGE_CHUNK
                _widen_pipe(self.stdout)
            yield chunk

    def records(self, end: bytes) -> "Iterator[bytes]":
        """Output in pieces that each end at a record's ``end`` (whole lines, whole records)."""
        pending = b""
        for chunk in self.chunks():
            pending += chunk
            cut = pending.rfind(end) + 1
            if cut:
                yield pending[:cut]
                pending = pending[cut:]
        if pending:
            yield pending

    def exit_code(self) -> int:
        """Reap git (after reading its output) and give its exit code."""
        self.close_input()
        if self.status is None:
            self.status = posix.waitstatus_to_exitcode(posix.waitpid(self.pid, 0)[1])
        return self.status

    def error(self) -> GateError:
        """What git said, as the error to show."""
        detail = b""
        try:
            posix.lseek(self.stderr, 0, 0)
            detail = posix.read(self.stderr, 4096)
        except OSError:
            pass
        text = detail.decode("utf-8", "replace").strip() or f"exit {self.status}"
        return GateError(f"git {self.args[0]} failed: {text}")

    def check(self) -> None:
        """Reap git; GateError (with what git said) unless it succeeded."""
        if self.exit_code() != 0:
            raise self.error()

    def kill(self) -> None:
        """Stop git if it still runs (after an early exit): its output ends, readers return."""
        self.close_input()
        if self.status is None:
            posix.kill(self.pid, 9)
            self.status = posix.waitstatus_to_exitcode(posix.waitpid(self.pid, 0)[1])

    def release(self) -> None:
        """Stop git if it still runs and close every descriptor."""
        self.kill()
        for name in ("stdout", "stderr"):
            fd = getattr(self, name)
            if fd >= 0:
                posix.close(fd)
                setattr(self, name, -1)


class PathChange:
    """One path a commit changes against one parent; renames appear as a delete and an add."""

    __slots__ = ("new_id", "new_mode", "old_id", "old_mode", "path", "status")

    def __init__(
        self,
        status: str,
        path: str,
        old_mode: str,
        new_mode: str,
        old_id: str = "",
        new_id: str = "",
    ) -> None:
        self.status = status  # A, D, M, T (type), or M with differing modes
        self.path = path
        self.old_mode = old_mode
        self.new_mode = new_mode
        self.old_id = old_id  # the blob (or gitlink commit) ids; all zeros when absent
        self.new_id = new_id

    def __repr__(self) -> str:
        return f"PathChange({self.status!r}, {self.path!r})"


class ChangedPaths:
    """The paths commits change, from one ``git diff-tree --stdin`` fed as ids arrive.

    A merge is compared with all its parents at once (``-c``): it changes the paths where it
    differs from every parent, so a change slipped into a merge shows up, while what it takes
    from a parent is that parent's change (in the range, so weighed there, or already on a
    protected ref), and git's multi-parent tree walk skips every tree the merge took as it
    was: merges cost what git pays for them. Rename detection is off, so a rename is seen
    under both its names. diff-tree answers while it reads: once more ids are pending than a
    pipe surely holds, it runs alongside the caller with a thread (imported only then)
    draining its output. ``trees`` lists the changed trees too (``-t``: what a hold sends,
    gate.git.objects).

    ``pathspec`` (literal prefixes: the guards' top directories, ``guard_pathspec``) limits
    the output to the paths a guard may reach: those under one of them in any ASCII case, and
    those whose first component has a byte outside ASCII (guards match folded names, which git's icase cannot express). It
    takes two passes, so that git prunes: the first lists each commit's changed top-level
    entries only; the second, over the commits with such an entry, gives git those entries
    as literal pathspecs, so it never opens a tree no guard can reach (a wildcard element
    would make it open every one: bench/README.md, seventh round).

    With ``weigh``, the output is not kept: each batch of ids (``BATCH_COMMITS`` at most) goes
    to its own diff-tree, whose whole output (complete records, so no parsing is needed to cut
    it) is handed to ``weigh`` and dropped, so memory is bounded by a batch, not by the
    history. Batches run side by side (one per core the process may use, at most two, see
    ``_lanes``): receive-pack waits for the hook with its cores idle, and a big push's
    diff-trees take half the time. A batch starts whenever a lane is free and enough ids
    wait (``BATCH_START_COMMITS``), with all of them up to ``BATCH_COMMITS``; ``finish_raw``
    shares out what is left in equal batches. So the lanes start while the commits' text is
    still being read, and end together where a walk with stops gives every id at once
    (batches of one size left the last to run alone). Batches are weighed in order.
    """

    def __init__(
        self,
        env: dict[str, str],
        pathspec: "Iterable[str]" = (),
        trees: bool = False,
        weigh: "Callable[[bytes], None] | None" = None,
    ) -> None:
        self.env = env
        # A hold's objects (``trees``, gate.git.objects) are those of the diff against each
        # parent, which the server renders: -m there, and the changed trees too (-t).
        diff_tree = [("-m" if arg == "-c" else arg) for arg in _DIFF_TREE] if trees else _DIFF_TREE
        self.args = [*diff_tree, *(["-t"] if trees else [])]
        pathspec = list(pathspec)
        # The first pass chooses by top-level entry (a prefix's first component), which git
        # lists without -r and without opening a tree below (a merge's combined diff
        # recurses all the same).
        self.tops = {
            p.partition("/")[0].encode("utf-8", "surrogateescape").lower() for p in pathspec
        }
        self.limited = self.args  # the second pass's diff-tree, before its pathspec
        self.pathspec = [f":(literal,icase){p}" for p in pathspec]
        if self.tops:
            self.args = [arg for arg in self.args if arg != "-r"]
        self.final_weigh = weigh
        self.weigh = None if weigh is None else self._weigh_limited
        self.pending: list[bytes] = []
        self.size = 0
        self.queued: list[bytes] = []  # ids to weigh, not yet in a batch
        self.git: GitProcess | None = None
        self.output: list[bytes] = []
        self.reader: Thread | None = None
        # Earlier batches' diff-trees, fed in full and still running, oldest first.
        self.running: list[tuple[GitProcess, Thread, list[bytes]]] = []

    def add(self, commits: "Iterable[bytes]") -> None:
        if self.weigh is not None:
            self.queued.extend(commits)
            self._weigh_finished()
            # A lane left idle while ids wait costs more than a diff-tree's start; the ids
            # that come while both lanes are busy make the next batches larger.
            while len(self.queued) >= BATCH_START_COMMITS and self._busy() < _lanes():
                self._run_batch(self.queued[:BATCH_COMMITS])
                del self.queued[:BATCH_COMMITS]
            return
        for oid in commits:
            self.pending.append(oid + b"\n")
            self.size += len(oid) + 1
        self._start_or_feed()

    def _start_or_feed(self) -> None:
        """Write the pending ids to the current diff-tree; start it (with a thread draining
        its output) once they are more than a pipe surely holds."""
        if self.git is None and self.size > SAFE_PIPE_INPUT:
            import threading

            self.git = GitProcess(self.args, self.env)
            self.output = []
            self.reader = threading.Thread(target=self._drain, args=(self.git, self.output))
            self.reader.daemon = True
            self.reader.start()
        if self.git is not None and self.pending:
            self.git.write(b"".join(self.pending))
            self.pending.clear()

    @staticmethod
    def _drain(git: GitProcess, output: list[bytes]) -> None:
        output.extend(git.chunks())

    def _run_batch(self, ids: "list[bytes]") -> None:
        """Start a diff-tree on a batch of ids to weigh (the caller sees that a lane is free)."""
        import threading

        assert self.weigh is not None
        if len(self.running) >= 2 * _lanes():
            # Batches done but not weighed wait for an older one: their outputs are held, so
            # no more start until it is weighed.
            self.weigh(self._finish_running())
        git = GitProcess(self.args, self.env)
        # A batch's ids fit in a widened pipe: feeding it never waits on diff-tree.
        _widen_pipe(git.stdin)
        output: list[bytes] = []
        reader = threading.Thread(target=self._drain, args=(git, output))
        reader.daemon = True
        reader.start()
        self.running.append((git, reader, output))  # stop() ends it if feeding it fails
        git.write(b"".join(oid + b"\n" for oid in ids))
        git.close_input()

    def _busy(self) -> int:
        """How many batches' diff-trees still run."""
        return sum(reader.is_alive() for _, reader, _ in self.running)

    def _weigh_finished(self) -> None:
        """Weigh the oldest batches whose diff-trees are done (in order: none after one that
        still runs)."""
        assert self.weigh is not None
        while self.running and not self.running[0][1].is_alive():
            self.weigh(self._finish_running())

    def _finish_running(self) -> bytes:
        git, reader, output = self.running.pop(0)
        try:
            reader.join()
            git.check()
            return b"".join(output)
        finally:
            git.release()

    def finish(self) -> "dict[bytes, list[PathChange]]":
        """Commit id -> its changes (only commits with a change under the pathspec)."""
        return parse_raw_diff(self.finish_raw())

    def finish_raw(self) -> bytes:
        """diff-tree's whole output (see parse_raw_diff); with ``weigh``, what is left goes to it
        and this is empty."""
        if self.weigh is not None:
            queued, self.queued = self.queued, []
            lanes = _lanes()
            sizes = _batch_sizes(len(queued), lanes)
            if not self.running and len(sizes) == 1:
                # One diff-tree, without a thread when its ids fit a pipe.
                self.pending = [oid + b"\n" for oid in queued]
                self.size = sum(map(len, self.pending))
                self._start_or_feed()
                self.weigh(self._finish_process())
                return b""
            start = 0
            for size in sizes:  # what is left, in equal batches as lanes come free
                while self._busy() >= lanes:
                    self.weigh(self._finish_running())
                self._run_batch(queued[start : start + size])
                start += size
            while self.running:
                self.weigh(self._finish_running())
            return b""
        return self._limited(self._finish_process())

    def _weigh_limited(self, output: bytes) -> None:
        assert self.final_weigh is not None
        self.final_weigh(self._limited(output))

    def _limited(self, output: bytes) -> bytes:
        """The second pass under a pathspec, given the first's output (without one, that
        output is the answer): the changes, under the pathspec, of the commits that changed a
        top-level entry it names or one with a non-ASCII byte, each such entry named."""
        if not self.tops or not output:
            return output
        tops = self.tops
        chosen: list[bytes] = []
        names: set[bytes] = set()
        oid = b""
        fields = output.split(b"\0")
        index, count = 0, len(fields)
        while index < count:
            field = fields[index]
            index += 1
            if not field.startswith(b":"):
                oid = field  # a commit id (or the empty field after the last path)
                continue
            top = fields[index].partition(b"/")[0] if index < count else b""
            index += 1
            if top.isascii():
                if top.lower() not in tops:
                    continue
            else:
                names.add(top)
            if not chosen or chosen[-1] != oid:
                chosen.append(oid)
        if not chosen:
            return b""
        literal = [f":(literal){n.decode('utf-8', 'surrogateescape')}" for n in sorted(names)]
        return _whole_output(
            [*self.limited, "--", *self.pathspec, *literal],
            self.env,
            b"".join(oid + b"\n" for oid in chosen),
        )

    def _finish_process(self) -> bytes:
        """The current diff-tree's whole output, once it has read every pending id."""
        try:
            if self.git is None:
                if not self.pending:
                    return b""
                self.git = GitProcess(self.args, self.env)
                self.git.write(b"".join(self.pending))  # one pipe's worth at most: cannot block
                self.pending.clear()
                self.git.close_input()
                self.output.extend(self.git.chunks())
            else:
                self.git.close_input()
                assert self.reader is not None
                self.reader.join()
                self.reader = None
            self.git.check()
            return b"".join(self.output)
        finally:
            self.stop()
            self.git = None
            self.output = []
            self.size = 0

    def stop(self) -> None:
        """Stop every diff-tree still running (after an early exit) and close its pipes."""
        for git, reader, _ in self.running:
            git.kill()
            reader.join()  # before its pipe is closed
            git.release()
        self.running.clear()
        if self.git is not None:
            self.git.kill()
            if self.reader is not None:
                self.reader.join()
                self.reader = None
            self.git.release()


def _whole_output(args: list[str], env: dict[str, str], data: bytes) -> bytes:
    """A git process's whole output for input ``data`` (drained by a thread while it is fed,
    when the input is more than a pipe surely holds)."""
    git = GitProcess(args, env)
    try:
        if len(data) <= SAFE_PIPE_INPUT:
            git.write(data)
            git.close_input()
            output = list(git.chunks())
        else:
            import threading

            output = []
            reader = threading.Thread(target=lambda: output.extend(git.chunks()))
            reader.daemon = True
            reader.start()
            try:
                git.write(data)
                git.close_input()
            except BaseException:
                git.kill()  # its output ends: the reader returns
                raise
            finally:
                reader.join()
        git.check()
        return b"".join(output)
    finally:
        git.release()


def _batch_sizes(count: int, lanes: int) -> list[int]:
    """``count`` ids shared out in equal batches, a multiple of ``lanes`` of them, none above
    BATCH_COMMITS; one batch where each lane would get fewer than LANE_MIN_COMMITS."""
    if count == 0:
        return []
    if count < lanes * LANE_MIN_COMMITS:
        return [count]
    batches = lanes * -(-count // (lanes * BATCH_COMMITS))
    size, extra = divmod(count, batches)
    return [size + 1] * extra + [size] * (batches - extra)


def _lanes() -> int:
    """How many diff-trees may run at once: the cores this process may use, at most two."""
    try:
        return max(1, min(2, len(posix.sched_getaffinity(0))))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return 1


def parse_raw_diff(output: bytes) -> "dict[bytes, list[PathChange]]":
    """diff-tree -z raw output: a commit id field, then ``:meta`` and path field pairs.

    A merge's lines (``-c``) start with one ':' per parent and carry a mode and an id per
    parent and the result, then a status letter per parent: the change keeps the first
    parent's mode as its old one, and one status (the letters' own if they agree, else M).
    """
    changes: dict[bytes, list[PathChange]] = {}
    current: list[PathChange] = []
    fields = output.split(b"\0")
    index = 0
    while index < len(fields):
        field = fields[index]
        index += 1
        if field.startswith(b":"):
            parents = len(field) - len(field.lstrip(b":"))
            meta = field[parents:].split(b" ")
            if len(meta) != 2 * parents + 3:
                raise GateError(f"unexpected git diff-tree output: {field[:80]!r}")
            letters = set(meta[-1].decode())
            status = letters.pop() if len(letters) == 1 else "M"
            path = fields[index].decode("utf-8", "surrogateescape")
            index += 1
            current.append(
                PathChange(
                    status,
                    path,
                    meta[0].decode(),
                    meta[parents].decode(),
                    meta[parents + 1].decode(),
                    meta[2 * parents + 1].decode(),
                )
            )
        elif field:
            oid = field.split()[0]
            if not is_object_id(oid):
                raise GateError(f"unexpected git diff-tree output: {field[:80]!r}")
            current = changes.setdefault(oid, [])
    # -c names a merge even when it differs from no parent anywhere: such a merge changes nothing.
    return {oid: found for oid, found in changes.items() if found}


class Git:
    """Runs git plumbing against one repository (the hook's cwd and environment by default)."""

    def __init__(
        self, git_dir: str | None = None, environ: "Mapping[str, str] | None" = None
    ) -> None:
        self.env = git_environment(environ_of_process() if environ is None else environ, git_dir)

    def spawn(self, args: list[str]) -> GitProcess:
        return GitProcess(args, self.env)

    def run(self, args: list[str], input: bytes = b"") -> bytes:
        """The whole output of a command that reads all its input before it writes."""
        git = self.spawn(args)
        try:
            git.write(input)
            git.close_input()
            out = b"".join(git.chunks())
            git.check()
            return out
        finally:
            git.release()

    def mailmap(self, identities: "Iterable[str]") -> dict[str, str]:
        """Each "Name <email>" as the repository's mailmap shows it (``git check-mailmap``:
        ``.mailmap``, ``mailmap.file``, ``mailmap.blob``, in a bare repository HEAD's)."""
        wanted = list(dict.fromkeys(identities))
        shown: dict[str, str] = {}
        for start in range(0, len(wanted), 200):
            chunk = wanted[start : start + 200]
            out = self.run(["check-mailmap", "--", *chunk]).decode("utf-8", "replace")
            lines = out.split("\n")[: len(chunk)]
            if len(lines) != len(chunk):
                raise GateError("gate: git check-mailmap answered fewer lines than asked")
            shown.update(zip(chunk, lines, strict=True))
        return shown

    def refs(self) -> dict[str, str]:
        """Every existing ref and the object it points to (before this push is applied)."""
        out = self.run(["for-each-ref", "--format=%(objectname) %(refname)"])
        refs = {}
        for line in out.decode("utf-8", errors="surrogateescape").splitlines():
            oid, _, name = line.partition(" ")
            refs[name] = oid
        return refs

    def symbolic_refs(self, names: "Iterable[str]" = ()) -> dict[str, str]:
        """Every symbolic ref under refs/ and the ref it names; also each of ``names`` that is
        a symbolic ref whose target does not exist yet (for-each-ref leaves those out)."""
        out = self.run(["for-each-ref", "--format=%(symref)%00%(refname)"])
        found = {}
        for line in out.decode("utf-8", errors="surrogateescape").splitlines():
            target, _, name = line.partition("\0")
            if target:
                found[name] = target
        git_dir = self.env["GIT_DIR"]
        for name in names:
            if name not in found and name.startswith("refs/") and ".." not in name:
                try:
                    with open(f"{git_dir}/{name}", "rb") as file:
                        head = file.read(4096)
                except OSError:
                    continue
                if head.startswith(b"ref: "):
                    found[name] = head[5:].strip().decode("utf-8", "surrogateescape")
        return found

    def rev_list(
        self, options: "Iterable[str]", include: "Iterable[str]", exclude: "Iterable[str]"
    ) -> GitProcess:
        """A started ``rev-list``: tips and ``^oid`` stops on its stdin (read before it walks)."""
        spec = "".join([*(f"{oid}\n" for oid in include), *(f"^{oid}\n" for oid in exclude)])
        git = self.spawn(["rev-list", "--stdin", *options])
        git.write(spec.encode("utf-8", "surrogateescape"))
        git.close_input()
        return git

    def commit_records(
        self, include: "Iterable[str]", exclude: "Iterable[str]" = (), options: "Iterable[str]" = ()
    ) -> "Iterator[tuple[bytes, bytes]]":
        """(id, raw commit object) reachable from ``include`` and from none of ``exclude``."""
        git = self.rev_list(["--header", *options], include, exclude)
        try:
            for chunk in git.records(b"\0"):
                for record in chunk.split(b"\0"):
                    if record:
                        oid, _, body = record.partition(b"\n")
                        yield oid, unindent_message(body)
            git.check()
        finally:
            git.release()

    def commits(self, include: "Iterable[str]", exclude: "Iterable[str]" = ()):  # type: ignore[no-untyped-def]
        """Commits reachable from ``include`` and from none of ``exclude``, newest first."""
        from gate.git.commits import parse_commit

        ids = self.commit_ids(include, exclude)
        raw = self.raw_commits(oid.encode("ascii") for oid in ids)
        for oid in ids:
            yield parse_commit(oid, raw[oid.encode("ascii")])

    def raw_commits(self, ids: "Iterable[bytes]") -> "dict[bytes, bytes]":
        """Each commit's object exactly as stored (``cat-file --batch``).

        rev-list's ``--header`` output is re-encoded and has its lines' trailing whitespace
        stripped; git's own reading of a commit (gate.git.commits) needs the exact bytes.
        """
        found = {}
        for oid, (kind, data) in self.read_objects(ids).items():
            if kind != b"commit":
                raise GateError(
                    f"gate: git cat-file cannot read commit {oid.decode('ascii', 'replace')}"
                )
            found[oid] = data
        return found

    def read_objects(self, ids: "Iterable[bytes]") -> "dict[bytes, tuple[bytes, bytes]]":
        """Each object's (type, raw bytes), as stored, from one ``cat-file --batch``."""
        found: dict[bytes, tuple[bytes, bytes]] = {}
        wanted, out = self._batch("--batch", ids)
        pos = 0
        for oid in wanted:
            kind, size, pos = _batch_header(out, pos, oid)
            if out[pos + size : pos + size + 1] != b"\n":
                raise GateError(
                    f"git cat-file stopped while reading {oid.decode('ascii', 'replace')}"
                )
            found[oid] = (kind, out[pos : pos + size])
            pos += size + 1
        return found

    def object_sizes(self, ids: "Iterable[bytes]") -> "dict[bytes, int]":
        """Each object's size, from one ``cat-file --batch-check`` (nothing read)."""
        found: dict[bytes, int] = {}
        wanted, out = self._batch("--batch-check", ids)
        pos = 0
        for oid in wanted:
            _, found[oid], pos = _batch_header(out, pos, oid)
        return found

    def _batch(self, mode: str, ids: "Iterable[bytes]") -> "tuple[list[bytes], bytes]":
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return wanted, b""
        git = self.spawn(["cat-file", mode])
        feeder = None
        try:
            data = b"".join(oid + b"\n" for oid in wanted)
            if len(data) <= SAFE_PIPE_INPUT:
                git.write(data)
                git.close_input()
            else:  # cat-file answers while it reads: feed it from a thread
                import threading

                feeder = threading.Thread(target=_feed_and_close, args=(git, data), daemon=True)
                feeder.start()
            out = b"".join(git.chunks())
            git.check()
        finally:
            if feeder is not None:
                feeder.join()
            git.release()
        return wanted, out

    def commit_ids(
        self, include: "Iterable[str]", exclude: "Iterable[str]" = (), options: "Iterable[str]" = ()
    ) -> list[str]:
        return self.output_of(self.rev_list(options, include, exclude)).decode("ascii").split()

    @staticmethod
    def output_of(git: GitProcess) -> bytes:
        """A started git process's whole output; GateError when it fails. It is reaped."""
        try:
            out = b"".join(git.chunks())
            git.check()
        finally:
            git.release()
        return out

    def changed_paths(
        self, commit_ids: "Iterable[str]", pathspec: "Iterable[str]" = ()
    ) -> "Iterator[tuple[str, list[PathChange]]]":
        """Per commit, every path it adds, modifies, deletes or re-modes (a merge: where it
        differs from all its parents, see ChangedPaths); only commits with changes under
        ``pathspec`` (literal prefixes) when one is given."""
        lister = ChangedPaths(self.env, pathspec)
        lister.add(oid.encode("ascii") for oid in commit_ids)
        for oid, changes in lister.finish().items():
            yield oid.decode("ascii"), changes

    def config_blob(self, blob_id: str) -> "list[tuple[str, str]]":
        """A config-format blob (``.gitmodules``) as git parses it: (key, value) in order.

        GateError when git cannot parse it: the caller cannot then say what it configures.
        """
        out = self.run(["config", "--blob", blob_id, "--null", "--list"])
        entries = []
        for record in out.split(b"\0"):
            if record:
                key, _, value = record.partition(b"\n")
                entries.append(
                    (
                        key.decode("utf-8", "surrogateescape"),
                        value.decode("utf-8", "surrogateescape"),
                    )
                )
        return entries

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        git = self.spawn(["merge-base", "--is-ancestor", ancestor, descendant])
        try:
            git.close_input()
            code = git.exit_code()
            if code not in (0, 1):
                raise git.error()
        finally:
            git.release()
        return code == 0


def _batch_header(out: bytes, pos: int, oid: bytes) -> tuple[bytes, int, int]:
    """One ``cat-file --batch(-check)`` header at ``pos``: (type, size, where the data starts)."""
    end = out.find(b"\n", pos)
    fields = out[pos:end].split() if end >= 0 else []
    if len(fields) != 3 or fields[0] != oid or not fields[2].isdigit():
        raise GateError(f"gate: git cat-file cannot read {oid.decode('ascii', 'replace')}")
    return fields[1], int(fields[2]), end + 1


def _feed_and_close(git: GitProcess, data: bytes) -> None:
    git.write(data)
    git.close_input()


def unindent_message(body: bytes) -> bytes:
    """rev-list --header indents every message line by four spaces; give back the raw object."""
    header, sep, message = body.partition(b"\n\n")
    if not sep:
        return body
    lines = message.split(b"\n")
    return (
        header + sep + b"\n".join(line[4:] if line.startswith(b"    ") else line for line in lines)
    )
