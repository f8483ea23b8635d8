"""Read what a push brings, with git's own plumbing.

git hands the hook a quarantine object directory (``GIT_OBJECT_DIRECTORY`` plus
``GIT_ALTERNATE_OBJECT_DIRECTORIES``); the git processes started here inherit that environment,
so they see the pushed objects. Listing commits (``rev-list``) and their changed paths
(``diff-tree --stdin``) this way reads trees, never blobs, and streams: it is the physical
limit for this job, so the hook's cost stays a small multiple of git's own.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from gate.errors import GateError
from gate.git.commits import Commit, decode_path, parse_commit

_CHUNK = 1 << 16


@dataclass(frozen=True)
class PathChange:
    """One path a commit changes against one parent; renames appear as a delete and an add."""

    status: str  # A, D, M, T (type), or M with differing modes
    path: str
    old_mode: str
    new_mode: str


def _rev_spec(include: Iterable[str], exclude: Iterable[str]) -> bytes:
    """rev-list --stdin input: tips to walk from, then ``^oid`` lines for tips to stop at."""
    lines = [*include, *(f"^{oid}" for oid in exclude)]
    return ("\n".join(lines) + "\n").encode()


def _feed(pipe: IO[bytes], data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.close()
    except (BrokenPipeError, ValueError, OSError):
        pass  # the process ended (or was stopped) before reading everything


class Git:
    """Runs git plumbing against one repository (the hook's cwd and environment by default)."""

    def __init__(self, git_dir: str | None = None, environ: dict[str, str] | None = None) -> None:
        self.env = dict(os.environ if environ is None else environ)
        if git_dir is not None:
            self.env["GIT_DIR"] = git_dir
        self.env.setdefault("GIT_DIR", ".")
        self.env["LC_ALL"] = "C"

    def _popen(self, args: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            ["git", *args],
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def run(self, args: list[str], input: bytes = b"") -> bytes:
        proc = self._popen(args)
        out, err = proc.communicate(input)
        if proc.returncode != 0:
            detail = err.decode("utf-8", errors="replace").strip()
            raise GateError(
                f"gate: git {args[0]} failed: {detail or 'exit ' + str(proc.returncode)}"
            )
        return out

    def _stream(self, args: list[str], input: bytes, sep: bytes) -> Iterator[bytes]:
        """Yield ``sep``-terminated records of a git command's output as they arrive."""
        proc = self._popen(args)
        assert proc.stdin and proc.stdout and proc.stderr
        # Feed stdin from a thread: diff-tree answers while it reads, so writing all of a big
        # input first would deadlock once both pipes are full (10,000 ids are 410 KB).
        feeder = threading.Thread(target=_feed, args=(proc.stdin, input), daemon=True)
        feeder.start()
        try:
            pending = b""
            while chunk := proc.stdout.read(_CHUNK):
                pending += chunk
                *records, pending = pending.split(sep)
                yield from records
            if pending:
                yield pending
            err = proc.stderr.read()
            if proc.wait() != 0:
                detail = err.decode("utf-8", errors="replace").strip()
                raise GateError(
                    f"gate: git {args[0]} failed: {detail or 'exit ' + str(proc.returncode)}"
                )
        finally:  # also when the reader stops early: no stray process, no open pipe
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            feeder.join()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                pipe.close()

    def refs(self) -> dict[str, str]:
        """Every existing ref and the object it points to (before this push is applied)."""
        out = self.run(["for-each-ref", "--format=%(objectname) %(refname)"])
        refs = {}
        for line in out.decode("utf-8", errors="surrogateescape").splitlines():
            oid, _, name = line.partition(" ")
            refs[name] = oid
        return refs

    def commits(self, include: Iterable[str], exclude: Iterable[str] = ()) -> Iterator[Commit]:
        """Commits reachable from ``include`` and from none of ``exclude``, newest first.

        Read as raw objects (``cat-file --batch``): rev-list's ``--header`` output is already
        re-encoded and has its lines' trailing whitespace stripped, and git's reading of a
        commit (gate.git.commits) depends on the exact bytes.
        """
        ids = self.commit_ids(include, exclude)
        if not ids:
            return
        proc = self._popen(["cat-file", "--batch"])
        assert proc.stdin and proc.stdout and proc.stderr
        feeder = threading.Thread(
            target=_feed, args=(proc.stdin, "".join(f"{oid}\n" for oid in ids).encode())
        )
        feeder.start()
        try:
            for oid in ids:
                fields = proc.stdout.readline().split()
                if len(fields) != 3 or fields[1] != b"commit" or not fields[2].isdigit():
                    raise GateError(f"gate: git cat-file cannot read commit {oid}")
                size = int(fields[2])
                raw = proc.stdout.read(size + 1)
                if len(raw) != size + 1:
                    raise GateError(f"gate: git cat-file stopped while reading commit {oid}")
                yield parse_commit(oid, raw[:-1])
        finally:  # also when the reader stops early: no stray process, no open pipe
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            feeder.join()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                pipe.close()

    def commit_ids(self, include: Iterable[str], exclude: Iterable[str] = ()) -> list[str]:
        spec = _rev_spec(include, exclude)
        return self.run(["rev-list", "--stdin"], spec).decode("ascii").split()

    def changed_paths(self, commit_ids: Iterable[str]) -> Iterator[tuple[str, list[PathChange]]]:
        """Per commit, every path it adds, modifies, deletes or re-modes, against every parent.

        Merges are compared with each parent (``-m``), so a change slipped into a merge shows up;
        rename detection is off, so a rename is seen under both its names.
        """
        ids = "".join(f"{oid}\n" for oid in commit_ids).encode()
        if not ids:
            return
        args = ["diff-tree", "--stdin", "-r", "--root", "-m", "-z", "--no-renames", "--no-ext-diff"]
        current: str | None = None
        changes: list[PathChange] = []
        meta: bytes | None = None
        for field in self._stream(args, ids, b"\0"):
            if meta is not None:
                old_mode, new_mode, _, _, status = meta[1:].split(b" ")
                changes.append(
                    PathChange(
                        status.decode(), decode_path(field), old_mode.decode(), new_mode.decode()
                    )
                )
                meta = None
            elif field.startswith(b":"):
                meta = field
            elif field:
                oid = field.decode("ascii").split()[0]
                if oid != current:
                    if current is not None:
                        yield current, changes
                    current, changes = oid, []
        if current is not None:
            yield current, changes

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        proc = subprocess.run(
            ["git", "merge-base", "--is-ancestor", ancestor, descendant],
            env=self.env,
            capture_output=True,
        )
        if proc.returncode in (0, 1):
            return proc.returncode == 0
        detail = proc.stderr.decode("utf-8", errors="replace").strip()
        raise GateError(f"gate: git merge-base failed: {detail}")
