"""``git patch-id --stable``: the id of a change whatever commit carries it.

Two commits with the same patch id make the same change (the same lines added and removed in
the same files, line numbers and whitespace aside), so a reviewer who approved one has read the
other. This is git's algorithm (builtin/patch-id.c) over git's diff text: each file's lines,
whitespace removed and hunk headers and ``index`` lines left out, are hashed with SHA-1, and
the files' hashes are added as 20-byte numbers, so their order does not matter. A binary file
counts as its two blob ids (as ``git show --full-index`` prints them). Its quirks are git's
too: a file whose header has no hunks (a mode change, a pure rename) is hashed together with
the next file, and the ``diff`` line after a binary file is not hashed.
"""

from __future__ import annotations

import hashlib
import re

_HEX_ID = re.compile(rb"[0-9a-fA-F]{40}")
_WHITESPACE = re.compile(rb"[ \t\n\v\f\r]")
_COUNT = re.compile(rb"(\d+)(?:,(\d+))?")


def _hunk_counts(line: bytes) -> tuple[int, int]:
    """The old and new line counts of ``@@ -a,b +c,d @@`` (a count left out is 1)."""
    old, _, rest = line[4:].partition(b" +")
    before = _COUNT.match(old)
    after = _COUNT.match(rest)
    if before is None or after is None:
        return 0, 0  # git leaves both counts where they were: the patch ends here
    return (
        int(before.group(2)) if before.group(2) is not None else 1,
        int(after.group(2)) if after.group(2) is not None else 1,
    )


def _add(total: bytearray, digest: bytes) -> None:
    carry = 0
    for i in range(len(total)):
        carry += total[i] + digest[i]
        total[i] = carry & 0xFF
        carry >>= 8


def _lines(text: bytes) -> list[bytes]:
    """Lines as git reads them: ended by LF only (a CR is part of the line, and whitespace)."""
    parts = text.split(b"\n")
    last = parts.pop()
    return [part + b"\n" for part in parts] + ([last] if last else [])


def stable_patch_id(diff: bytes) -> str | None:
    """The stable patch id of one commit's diff text (``git diff-tree -p`` / ``git show``
    output, from its first ``diff`` line); None when the text changes nothing (git prints no
    id for it)."""
    total = bytearray(20)
    hasher = hashlib.sha1(usedforsecurity=False)
    length = 0
    before = after = -1
    binary = False
    old_id = new_id = b""

    def flush() -> None:
        nonlocal hasher
        _add(total, hasher.digest())
        hasher = hashlib.sha1(usedforsecurity=False)

    for line in _lines(diff):
        if line.startswith(b"\\ ") and len(line) > 12:
            continue  # "\ No newline at end of file"
        if _HEX_ID.match(line):
            break  # the next commit of a log
        if not length and not line.startswith(b"diff "):
            continue
        if before == -1:
            if line.startswith((b"GIT binary patch", b"Binary files")):
                binary = True
                before = 0
                hasher.update(old_id)
                hasher.update(new_id)
                flush()
                continue
            if line.startswith(b"index "):
                ids, dots, rest = line[6:].partition(b"..")
                if dots:
                    old_id = ids
                    new_id = rest.split(b" ", 1)[0] if b" " in rest else rest[:-1]
                continue
            if line.startswith(b"--- "):
                before = after = 1
            elif not line[:1].isalpha():
                break
        if binary:
            if line.startswith(b"diff "):
                binary = False
                before = -1
            continue
        if before == 0 and after == 0:
            if line.startswith(b"@@ -"):
                before, after = _hunk_counts(line)
                continue
            if not line.startswith(b"diff "):
                break
            flush()
            before = after = -1
        if line[:1] in (b"-", b" "):
            before -= 1
        if line[:1] in (b"+", b" "):
            after -= 1
        squeezed = _WHITESPACE.sub(b"", line)
        length += len(squeezed)
        hasher.update(squeezed)
    flush()
    return bytes(total).hex() if length else None
