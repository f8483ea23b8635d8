"""Provenance memory: the commits an agent account first pushed, kept on the git host.

A commit an agent account pushed to any ref, protected or not, stays an agent commit when a
human later fast-forwards or merges a protected ref to it: the pusher signal of that later push
names the human, so the evidence that an agent pushed it must have been kept. The pre-receive
hook remembers the commits new to the repository (reachable from the pushed tips, from no ref)
of every push it accepts whose pusher is an agent account, as the last thing before it exits
0; the first stage of the classifier (gate.git.prefilter) looks each commit it reads up here.

The store, ``GIT_DIR/gate/``, is append-only text:

- ``agent-commits/XY``: one file per first two hex digits of the commit id (256 at most),
  one line per remembered commit, ``<id> <unix time> <ref> <pusher>`` (the pusher %-escaped,
  ``-`` when no authenticated pusher was known). A lookup reads one file, a 256th of the
  store, once per push whatever the number of its commits there: a push's cost grows with its
  commits, not with the history of agent pushes. Stores written before kept a file per three
  digits (4096; creating them cost a 10,000-commit push 180 ms): those ``XYZ`` files are read
  too, before ``XY``, and the next remembered push moves their lines into ``XY`` (appended
  first, then removed, so a reader that finds neither file finds nothing to find).
- ``agent-pushes``: one line per remembered push, ``<unix time> <count> <ref> <pusher>``:
  the totals ``gate doctor`` checks the commit files against.
- ``unreported/<key>``: each remembered ref update's lines until post-receive has put them
  in its report to the server (``key``: the SHA-256 of the update's line).
- ``lock``: writers take it (flock), so concurrent pushes' lines never interleave.

A store that existed (``gate/`` is there) but whose files are missing or unreadable is not
read as empty: the push is refused when it brings a commit on a guarded path (gate cannot tell
whether an agent first pushed it), with a message, and ``gate doctor`` names the problem.

This module is imported on the hook's first stage: Python's start-up modules only.
"""

import posix
import time

from gate.errors import GateError
from gate.git.plumbing import is_object_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

STORE_DIR = "gate"
COMMITS_DIR = "agent-commits"
PUSHES_LOG = "agent-pushes"
UNREPORTED_DIR = "unreported"
LOCK_NAME = "lock"
BUCKET_DIGITS = 2
LEGACY_DIGITS = 3  # the files of stores written before (see above)
NO_PUSHER = "-"


class Remembered:
    """One commit's first push by an agent account."""

    __slots__ = ("id", "pushed_at", "pusher", "ref")

    def __init__(self, oid: str, pushed_at: int, ref: str, pusher: str | None) -> None:
        self.id = oid
        self.pushed_at = pushed_at
        self.ref = ref
        self.pusher = pusher

    def when(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.pushed_at))

    def account(self) -> str:
        return self.pusher if self.pusher is not None else "(no authenticated pusher)"

    def evidence(self) -> str:
        return f"first pushed by agent account {self.account()} to {self.ref} at {self.when()}"

    def line(self) -> str:
        return self.id + line_after_id(self.pushed_at, self.ref, self.pusher)


def line_after_id(pushed_at: int, ref: str, pusher: str | None) -> str:
    """What follows the id on a remembered commit's line: the same for a push's every commit."""
    return f" {pushed_at} {ref} {escape(pusher)}\n"


def escape(pusher: str | None) -> str:
    """A pusher name as one field of a line: no space, control character or bare '%'."""
    if pusher is None:
        return NO_PUSHER
    out: list[str] = []
    for byte in pusher.encode("utf-8", "surrogateescape"):
        if byte <= 0x20 or byte in (0x25, 0x7F) or (byte == 0x2D and not out):
            out.append(f"%{byte:02X}")
        else:
            out.append(chr(byte) if byte < 0x80 else f"%{byte:02X}")
    return "".join(out)


def unescape(field: str) -> str | None:
    if field == NO_PUSHER:
        return None
    if "%" not in field and field.isascii():
        return field  # nothing escaped (most names)
    raw = bytearray()
    index = 0
    while index < len(field):
        char = field[index]
        if char == "%":
            raw.append(int(field[index + 1 : index + 3], 16))
            index += 3
        else:
            raw.extend(char.encode("ascii"))
            index += 1
    return raw.decode("utf-8", "surrogateescape")


def parse_line(line: str) -> Remembered:
    """One line of a commit file or an unreported file; ValueError when it is not one."""
    oid, pushed_at, ref, pusher = line.split(" ")
    if not is_object_id(oid.encode("ascii", "replace")):
        raise ValueError(f"not a commit id: {oid[:80]!r}")
    if not ref.startswith("refs/"):
        raise ValueError(f"not a ref: {ref[:80]!r}")
    return Remembered(oid, int(pushed_at), ref, unescape(pusher))


def store_path(git_dir: str) -> str:
    return f"{git_dir}/{STORE_DIR}"


def damaged(git_dir: str, problem: str) -> GateError:
    """The refusal when the store cannot be read: gate must not forget what it remembered."""
    if not git_dir.startswith("/"):  # the hook's GIT_DIR is often "."
        cwd = posix.getcwd()
        git_dir = cwd if git_dir in (".", "./") else f"{cwd}/{git_dir}"
    path = store_path(git_dir)
    return GateError(
        f"gate's memory of agent-pushed commits ({path}) is {problem}",
        lines=[
            f"gate: push refused: gate's memory of the commits agent accounts pushed ({path}) "
            f"is {problem}, so gate cannot tell whether an agent first pushed the commits on "
            "guarded paths in this push.",
            f"gate: Nothing was changed. Ask your gate admin to run `gate doctor {git_dir}`, "
            "which says how to restore it.",
        ],
    )


class AgentCommits:
    """Reads the store: whether an agent account first pushed a commit, and where."""

    def __init__(self, git_dir: str) -> None:
        self.git_dir = git_dir
        self.root = store_path(git_dir)
        self._buckets: dict[str, bytes] = {}
        # The files left by a store written before (read once: no writer makes new ones).
        self._legacy: set[str] | None = None

    @classmethod
    def open(cls, git_dir: str) -> "AgentCommits | None":
        """The store, None where none was ever written; GateError (``damaged``) when it existed
        and its files are missing or unreadable."""
        root = store_path(git_dir)
        try:
            posix.stat(root)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise damaged(git_dir, f"unreadable ({exc.strerror})") from None
        for name in (COMMITS_DIR, PUSHES_LOG):
            path = f"{root}/{name}"
            try:
                posix.stat(path)
            except FileNotFoundError:
                raise damaged(git_dir, f"missing its {name}") from None
            except OSError as exc:
                raise damaged(git_dir, f"unreadable ({name}: {exc.strerror})") from None
            if not posix.access(path, posix.R_OK | (posix.X_OK if name == COMMITS_DIR else 0)):
                raise damaged(git_dir, f"unreadable ({name}: permission denied)")
        return cls(git_dir)

    def get(self, oid: "bytes | str") -> Remembered | None:
        """The first remembered push of commit ``oid``, or None."""
        text = oid.decode("ascii") if isinstance(oid, bytes) else oid
        needle = f"\n{text} ".encode("ascii")
        # The legacy file first: its lines are appended to the new one before it goes.
        at = -1
        if text[:LEGACY_DIGITS] in self._legacy_files():
            data = self._bucket(text[:LEGACY_DIGITS])
            at = data.find(needle)
        if at < 0:
            data = self._bucket(text[:BUCKET_DIGITS])
            at = data.find(needle)
        if at < 0:
            return None
        end = data.find(b"\n", at + 1)
        if end < 0:  # a line still being written: its push has not been accepted yet
            return None
        try:
            return parse_line(data[at + 1 : end].decode("utf-8", "surrogateescape"))
        except (ValueError, IndexError):
            raise damaged(self.git_dir, f"damaged (a bad line for {text})") from None

    def _legacy_files(self) -> set[str]:
        if self._legacy is None:
            folder = f"{self.root}/{COMMITS_DIR}"
            try:
                names = posix.listdir(folder)
            except OSError as exc:
                raise damaged(self.git_dir, f"unreadable ({exc.strerror}: {folder})") from None
            self._legacy = {name for name in names if len(name) == LEGACY_DIGITS}
        return self._legacy

    def _bucket(self, prefix: str) -> bytes:
        data = self._buckets.get(prefix)
        if data is None:
            path = f"{self.root}/{COMMITS_DIR}/{prefix}"
            try:
                with open(path, "rb") as file:
                    data = b"\n" + file.read()
            except FileNotFoundError:
                data = b"\n"
            except OSError as exc:
                raise damaged(self.git_dir, f"unreadable ({exc.strerror}: {path})") from None
            self._buckets[prefix] = data
        return data


def update_key(ref: str, old: str, new: str) -> str:
    """The name a ref update's unreported lines are kept under (pre- and post-receive read
    the same update line)."""
    return _sha256(f"{old} {new} {ref}".encode("utf-8", "surrogateescape")).hexdigest()


def _sha256(data: bytes) -> "Any":
    """SHA-256 from CPython's built-in module where it has one (``_sha2`` from 3.12, ``_sha256``
    before): hashlib loads OpenSSL first, 3 ms of an agent account's 1-commit push."""
    for name in ("_sha2", "_sha256"):
        try:
            return __import__(name).sha256(data)
        except ImportError:
            continue
    import hashlib  # pragma: no cover - a build without them

    return hashlib.sha256(data)  # pragma: no cover


def remember(
    git_dir: str,
    pushes: "Iterable[tuple[str, str, str, list[str]]]",
    pusher: str | None,
    now: int | None = None,
) -> int:
    """Append each (ref, old, new, new commit ids) of an accepted agent push; the number of
    commits remembered. An OSError is the caller's to refuse the push with (``damaged``)."""
    import fcntl

    pushed_at = int(time.time()) if now is None else now
    root = store_path(git_dir)
    if AgentCommits.open(git_dir) is None:  # (which refuses a damaged store)
        _create(root)
    total = 0
    lock = posix.open(f"{root}/{LOCK_NAME}", posix.O_WRONLY | posix.O_CREAT, 0o664)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _merge_legacy(f"{root}/{COMMITS_DIR}")
        for ref, old, new, ids in pushes:
            if not ids:
                continue
            shared = line_after_id(pushed_at, ref, pusher)  # the pusher escaped once
            lines = [oid + shared for oid in ids]
            buckets: dict[str, list[str]] = {}
            for oid, line in zip(ids, lines, strict=True):
                buckets.setdefault(oid[:BUCKET_DIGITS], []).append(line)
            for prefix, chunk in sorted(buckets.items()):
                _append(f"{root}/{COMMITS_DIR}/{prefix}", "".join(chunk).encode("utf-8"))
            key = update_key(ref, old, new)
            tmp = f"{root}/{UNREPORTED_DIR}/{key}.{posix.getpid()}.tmp"
            with open(tmp, "wb") as file:
                file.write("".join(lines).encode("utf-8"))
            posix.replace(tmp, f"{root}/{UNREPORTED_DIR}/{key}")
            _append(
                f"{root}/{PUSHES_LOG}",
                f"{pushed_at} {len(ids)} {ref} {escape(pusher)}\n".encode(),
            )
            total += len(ids)
    finally:
        posix.close(lock)
    return total


def _merge_legacy(folder: str) -> None:
    """Move the lines of a store written before (a file per three digits) into the files of
    two digits, under the writers' lock: appended first, then the old file removed."""
    for entry in posix.scandir(folder):
        if len(entry.name) == LEGACY_DIGITS:
            with open(entry.path, "rb") as file:
                data = file.read()
            if data and not data.endswith(b"\n"):
                # A line a push died writing was never accepted; what follows must start a line.
                data = data[: data.rfind(b"\n") + 1]
            if data:
                _append(f"{folder}/{entry.name[:BUCKET_DIGITS]}", data)
            posix.unlink(entry.path)


def _create(root: str) -> None:
    """Make the store whole or not at all: from then on its files must be there."""
    tmp = f"{root}.{posix.getpid()}.tmp"
    posix.mkdir(tmp, 0o775)
    for folder in (COMMITS_DIR, UNREPORTED_DIR):
        posix.mkdir(f"{tmp}/{folder}", 0o775)
    _append(f"{tmp}/{PUSHES_LOG}", b"")
    try:
        posix.rename(tmp, root)
    except OSError:  # another push made it meanwhile
        for folder in (COMMITS_DIR, UNREPORTED_DIR):
            posix.rmdir(f"{tmp}/{folder}")
        posix.unlink(f"{tmp}/{PUSHES_LOG}")
        posix.rmdir(tmp)
        if AgentCommits.open(root.rpartition("/")[0]) is None:
            raise


def _append(path: str, data: bytes) -> None:
    """One write in append mode: a reader sees whole lines or a last line with no newline."""
    fd = posix.open(path, posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT, 0o664)
    try:
        view = memoryview(data)
        while view:
            view = view[posix.write(fd, view) :]
    finally:
        posix.close(fd)


def take_unreported(git_dir: str, updates: "Iterable[tuple[str, str, str]]") -> list[Remembered]:
    """The remembered lines of these (ref, old, new) updates not yet reported, in order; their
    files stay until ``forget_unreported`` (after the report is spooled)."""
    found: list[Remembered] = []
    for ref, old, new in updates:
        path = f"{store_path(git_dir)}/{UNREPORTED_DIR}/{update_key(ref, old, new)}"
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as file:
                found.extend(parse_line(line.rstrip("\n")) for line in file if line.strip())
        except FileNotFoundError:
            continue
    return found


def forget_unreported(git_dir: str, updates: "Iterable[tuple[str, str, str]]") -> None:
    for ref, old, new in updates:
        try:  # noqa: SIM105 - contextlib would be an import on the hook's path
            posix.unlink(f"{store_path(git_dir)}/{UNREPORTED_DIR}/{update_key(ref, old, new)}")
        except FileNotFoundError:
            pass


def check_store(git_dir: str) -> "list[str]":
    """What is wrong with the store (for ``gate doctor``): unreadable files, lines that do not
    parse, or commit files that hold fewer lines than the pushes log counts."""
    try:
        if AgentCommits.open(git_dir) is None:
            return []
    except GateError as exc:
        return [exc.args[0]]
    root = store_path(git_dir)
    problems: list[str] = []
    counted = 0
    try:
        with open(f"{root}/{PUSHES_LOG}", encoding="utf-8", errors="surrogateescape") as file:
            for number, line in enumerate(file, 1):
                fields = line.rstrip("\n").split(" ")
                if len(fields) != 4 or not fields[1].isdigit():
                    problems.append(f"{root}/{PUSHES_LOG} line {number} is damaged")
                    continue
                counted += int(fields[1])
        lines = 0
        for entry in posix.scandir(f"{root}/{COMMITS_DIR}"):
            with open(entry.path, encoding="utf-8", errors="surrogateescape") as file:
                for number, line in enumerate(file, 1):
                    if not line.endswith("\n"):
                        continue  # a push being remembered now
                    try:
                        parse_line(line[:-1])
                    except (ValueError, IndexError):
                        problems.append(f"{entry.path} line {number} is damaged")
                    lines += 1
    except OSError as exc:
        return [*problems, f"the agent-commit store at {root} cannot be read: {exc}"]
    if lines < counted:
        problems.append(
            f"the agent-commit store at {root} holds {lines} commit lines but its "
            f"{PUSHES_LOG} counts {counted}: commits agents pushed were lost"
        )
    return problems


def remembered_count(git_dir: str) -> int:
    """How many commits the pushes log counts (0 without a store)."""
    try:
        with open(f"{store_path(git_dir)}/{PUSHES_LOG}", encoding="utf-8") as file:
            return sum(int(line.split(" ")[1]) for line in file if line.strip())
    except (OSError, ValueError, IndexError):
        return 0
