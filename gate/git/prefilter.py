"""The first stage of the push classifier: read what a push brings once, let through only what
might matter.

Most pushes bring human commits, or agent commits that touch no guarded path. Starting Python
costs about as much as the push itself, so this stage works with what Python has loaded at
start-up (``posix``, ``sys``, ``marshal``): no ``re``, ``subprocess``, ``typing``, dataclasses or
TOML. It reads the compiled settings (gate.git.settings writes them), walks the one commit
range (reachable from the pushed tips, from no protected ref) with ``git rev-list --header``,
picks the commits whose text might be an agent's (a literal prefilter: every pattern that
marks a commit as an agent's comes reduced to clauses of strings each match must contain, see
gate.git.literals), asks ``git diff-tree`` for their changes under the guards' literal
directory prefixes only, and keeps those with a path that might be guarded.

What it keeps (``FirstStage.suspects``: ids and their changes, nothing else, so its memory
grows with what might be held, not with the history) is all the exact stage
(gate.git.classify) looks at. With no usable literals (``rules`` None) every commit read is
passed to diff-tree.
"""

import marshal
import posix  # what os wraps; always loaded, while os costs an import
import sys

import gate
from gate.errors import GateError
from gate.git.plumbing import ChangedPaths, Git, is_object_id, parse_raw_diff
from gate.git.provenance import AgentCommits
from gate.git.refs import RefUpdate, is_protected

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

ARTIFACT_NAME = "gate-cache"

# Where each git server puts the authenticated user in the hook's environment:
# GitLab, GitHub Enterprise Server, Gitea/Forgejo, gitolite, then smart HTTP behind a web server.
# The default layout ("git") trusts them all, first set first; a host layout trusts only its
# host's own (the others are whatever reached the hook's environment). On GHES a pull
# request's merge names its author: an agent's pull request merged by a human is an agent's.
PUSHER_VARIABLES = (
    "GL_USERNAME",
    "GITHUB_USER_LOGIN",
    "GITEA_PUSHER_NAME",
    "GL_USER",
    "REMOTE_USER",
)
LAYOUT_PUSHER_VARIABLES = {
    "git": PUSHER_VARIABLES,
    "gitea": ("GITEA_PUSHER_NAME",),
    "forgejo": ("GITEA_PUSHER_NAME",),
    "gitlab": ("GL_USERNAME",),
    "gitolite": ("GL_USER",),
    "ghes": ("GITHUB_PULL_REQUEST_AUTHOR_LOGIN", "GITHUB_USER_LOGIN"),
}

# Where each host names the repository a hook runs for (a server-wide hook serves many), tried
# in order; the values joined with "/" are its key in the central configuration.
REPOSITORY_VARIABLES: "dict[str, tuple[tuple[str, ...], ...]]" = {
    "git": (),
    "gitea": (("GITEA_REPO_USER_NAME", "GITEA_REPO_NAME"),),
    "forgejo": (("GITEA_REPO_USER_NAME", "GITEA_REPO_NAME"),),
    "gitlab": (("GL_PROJECT_PATH",), ("GL_REPOSITORY",)),
    "gitolite": (("GL_REPO",),),
    "ghes": (("GITHUB_REPO_NAME",),),
}


def config_origin(environ: "Mapping[str, str]", central: str | None) -> tuple | None:
    """What the compiled settings were resolved from besides files: for a server-wide hook,
    the central file's path and every host variable that names a repository."""
    if central is None:
        return None
    names = sorted({n for keys in REPOSITORY_VARIABLES.values() for key in keys for n in key})
    return (central, *(environ.get(name, "") for name in names))


# The only characters Python's re.IGNORECASE equates with an ASCII character that str.lower()
# does not lower to it (tests check every code point).
_FOLD = (("\u0130", "i"), ("\u0131", "i"), ("\u017f", "s"), ("\u212a", "k"))
_GLOB_CHARS = frozenset("*?[\\")
# Changes that stand for more than their own path (gate.git.classify.guards_of_changes): a
# symbolic link or a submodule at a path, and the file that says where submodules come from.
STAND_IN_MODES = ("120000", "160000")
GITMODULES = ".gitmodules"


def _package_stamp() -> tuple:
    """Name, mtime and size of every module file under gate/git: an edited checkout of the same
    version recompiles the settings too."""
    stamp: list[tuple] = []
    pending = [__file__.rpartition("/")[0]]
    while pending:
        folder = pending.pop()
        try:
            entries = sorted(posix.scandir(folder), key=lambda entry: entry.name)
        except OSError:
            stamp.append((folder, None))
            continue
        for entry in entries:
            if entry.name == "__pycache__":
                continue
            if entry.is_dir():
                pending.append(entry.path)
            elif entry.name.endswith(".py"):
                info = entry.stat()
                stamp.append((entry.path, info.st_mtime_ns, info.st_size))
    return tuple(stamp)


ARTIFACT_KEY = ("gate-settings", 3, gate.__version__, sys.version, _package_stamp())


def find_pusher(
    environ: "Mapping[str, str]", variables: "Sequence[str]" = PUSHER_VARIABLES
) -> str | None:
    """The authenticated pusher: the first of ``variables`` that is set and not blank."""
    for variable in variables:
        value = environ.get(variable, "").strip()
        if value:
            return value
    return None


def unknown_pusher_is_agent(pusher: str | None, unknown_pusher: str) -> bool:
    """The one rule for a push whose pusher nobody authenticated: with ``unknown_pusher =
    "agent"`` its commits are an agent's (both stages of the classifier ask this)."""
    return pusher is None and unknown_pusher == "agent"


def fold(text: str) -> str:
    """Lower-case ``text`` so that an IGNORECASE match of an ASCII literal is a substring."""
    # str.replace runs at C speed, where str.translate looks every character up in a dict
    # (8 s over git's history).
    if not text.isascii():
        for char, ascii_char in _FOLD:
            if char in text:
                text = text.replace(char, ascii_char)
    return text.lower()


def fold_path(path: str) -> str:
    """A path as a case-insensitive, normalising checkout (macOS, Windows) sees it: Unicode
    NFC, case-folded. ``TRAIN/x`` and ``train/x``, or ``é`` composed and decomposed, are one
    file there, so guards match the folded name too (gate.git.policy.model.Guard)."""
    if path.isascii():
        return path.lower()
    import unicodedata  # only for non-ASCII names

    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", path).casefold())


def may_match(text: str, rules: "Iterable[tuple[Sequence[str], Sequence[Sequence[str]]]]") -> bool:
    """Whether any rule (trigger, clauses) might match: ``text`` has a string of each clause."""
    for trigger, clauses in rules:
        if any(piece in text for piece in trigger) and all(
            any(piece in text for piece in clause) for clause in clauses
        ):
            return True
    return False


def star_globs(patterns: "Iterable[str]") -> list[str] | None:
    """fnmatch patterns whose only wildcard is '*' and whose text is ASCII, lowered, for
    ``star_match`` on ``fold``-ed text (an IGNORECASE match of ASCII text is then an exact
    one); None when one has another wildcard or a non-ASCII character (then only the regex
    decides, gate.git.catalog.PatternSet)."""
    globs = []
    for pattern in patterns:
        if not pattern.isascii() or "?" in pattern or "[" in pattern:
            return None
        globs.append(pattern.lower())
    return globs


# Commits a push's text is tested on before its share of agent-looking ones may stop it.
SAMPLE = 256

# More distinct neighbourhoods of a hub than this, and its members are searched in the whole
# text instead (one search each).
NEAR_HUB_LIMIT = 64
# Splitting a text at a hub costs about five searches of it: smaller groups are searched for.
NEAR_HUB_MEMBERS = 8


def live_rules(text: str, groups: list) -> list:
    """The rules that might match somewhere in ``text`` (a part of it can match no other), of
    rules grouped under hubs (gate.git.literals.group_rules): a group whose hub is not in
    ``text`` is passed over whole.

    A member's trigger strings all contain its hub, so they can only lie around the hub's
    occurrences: where what follows those takes few forms (a push of one agent's commits has
    its address in every record), only the members that fit there are searched for, instead
    of one search of the whole text each (28 for ``noreply``: bench/README.md, ninth round).
    """
    live: list = []
    for hub, rules in groups:
        if not hub:
            live.extend(rule for rule in rules if may_match(text, (rule,)))
            continue
        if hub not in text:
            continue
        triggered = _triggered_near(text, hub, rules)
        if triggered is None:
            live.extend(rule for rule in rules if may_match(text, (rule,)))
            continue
        live.extend(
            rule
            for rule in rules
            if rule in triggered
            and all(any(piece in text for piece in clause) for clause in rule[1])
        )
    return live


def _triggered_near(text: str, hub: str, rules: list) -> "set | None":
    """The ``rules`` one of whose trigger strings is in ``text``: only those that fit what
    follows an occurrence of ``hub`` and the character before one are searched for; None when
    what follows takes too many forms."""
    # A trigger string t holds the hub at t.find(hub), so t occurs only where an occurrence
    # is followed by t's rest and preceded by t's character before the hub. What follows is
    # cut at a NUL, which ends a record (a trigger string with a NUL is searched for whole).
    pieces = [piece for trigger, _ in rules for piece in trigger]
    if len(rules) <= NEAR_HUB_MEMBERS or any("\0" in piece for piece in pieces):
        return None
    size = len(hub)
    rest = max(len(piece) - piece.find(hub) - size for piece in pieces)
    parts = None
    if not any(hub[:k] == hub[-k:] for k in range(1, size)):
        # Occurrences cannot overlap: split finds them all, at C speed, unless one follows
        # another closer than ``rest`` within a record (then what follows the first runs on
        # across the second, and each is looked at below).
        parts = text.split(hub)
        inner = parts[1:-1]
        least = max(rest, 1)  # two occurrences side by side: the char before is the hub's
        if (
            inner
            and min(map(len, inner)) < least
            and any(len(part) < least and "\0" not in part for part in inner)
        ):
            parts = None
    if parts is None:  # also where occurrences may overlap ("aaaaaa" twice in "aaaaaaa")
        near: set[str] = set()
        before: set[str] = set()
        at = text.find(hub)
        while at >= 0:
            near.add(text[at + size : at + size + rest].partition("\0")[0])
            if len(near) > NEAR_HUB_LIMIT:
                return None
            before.add(text[at - 1 : at])
            at = text.find(hub, at + 1)
    else:
        near = {part[:rest].partition("\0")[0] for part in parts[1:]}
        if len(near) > NEAR_HUB_LIMIT:
            return None
        before = {part[-1:] for part in parts[:-1]}
    return {
        rule
        for rule in rules
        if any(_may_be_near(piece, hub, near, before, text) for piece in rule[0])
    }


def _may_be_near(piece: str, hub: str, near: set, before: set, text: str) -> bool:
    at = piece.find(hub)
    rest = piece[at + len(hub) :]
    return (
        (at == 0 or piece[at - 1] in before)
        and any(following.startswith(rest) for following in near)
        and piece in text  # the few that pass are confirmed in the text itself
    )


def guard_pathspec(patterns: "Iterable[str]") -> list[str]:
    """Literal top directories that every path the guards reach lies in, for diff-tree.

    A gitignore pattern is anchored when it has a '/' before its end; the first of its
    leading components without wildcards is its top directory (the first, not all of them: a
    symbolic link at ``configs`` stands for ``configs/train/`` too). An unanchored pattern
    (``*.ckpt``, ``lnk``) can match anywhere: then no pruning at all (an empty list). Negated
    patterns only narrow a guard. ``.gitmodules`` is always listed, since it says where each
    submodule's contents come from. diff-tree matches them case-insensitively and also lists
    every path with a non-ASCII byte (gate.git.plumbing.ChangedPaths), as guards match folded
    names (``fold_path``).
    """
    prefixes = set()
    for pattern in patterns:
        if pattern.startswith("!"):
            continue
        body = pattern.rstrip("/")
        anchored = body.startswith("/") or "/" in body.lstrip("/")
        first = body.lstrip("/").split("/")[0]
        literal = first and not _GLOB_CHARS.intersection(first) and first not in (".", "..")
        if not anchored or not literal or "\0" in pattern:
            return []
        prefixes.add(first)
    return sorted(prefixes | {GITMODULES}) if prefixes else []


# --------------------------------------------------------------------------------------------
# The compiled settings: one marshal file, one key


def read_bytes(path: str) -> bytes | None:
    """A file's bytes, or None if it cannot be read."""
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:
        return None


def write_artifact(git_dir: str, data: dict) -> None:
    """Store the compiled settings atomically; a file that cannot be written is no error: it is
    rebuilt when missing."""
    path = f"{git_dir}/{ARTIFACT_NAME}"
    tmp = f"{path}.{posix.getpid()}.tmp"
    try:
        with open(tmp, "wb") as file:
            marshal.dump({"key": ARTIFACT_KEY, **data}, file)
        posix.replace(tmp, path)
    except (OSError, ValueError):
        try:  # noqa: SIM105 - contextlib would be an import on the hook's path
            posix.unlink(tmp)
        except OSError:
            pass


def load_artifact(git_dir: str, origin: tuple | None = None) -> dict | None:
    """The compiled settings, if built by this gate from files that are all unchanged, for
    the same ``origin`` (see config_origin)."""
    data = read_bytes(f"{git_dir}/{ARTIFACT_NAME}")
    if data is None:
        return None
    try:
        stored = marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        return None
    if not isinstance(stored, dict) or stored.get("key") != ARTIFACT_KEY:
        return None
    if stored.get("origin") != origin:
        return None
    try:
        for path, expected in stored["sources"]:
            if read_bytes(path) != expected:
                return None
    except (KeyError, TypeError, ValueError):
        return None
    return stored


# --------------------------------------------------------------------------------------------
# The walk


def range_stops(
    git: Git, patterns: "Sequence[str]", updates: "Iterable[RefUpdate]", landed: bool = False
) -> tuple[list[str], list[str]]:
    """rev-list options and object ids that stop the walk at every protected ref.

    Most patterns become ``--not --glob`` options, so no ``for-each-ref`` process runs. git's
    ``--glob`` lets '*' match '/' too, so each glob is made exact: a literal name gets a
    one-character class as its last character (it then matches that ref only, and nothing when
    the ref does not exist yet; a plain name would get ``/*`` appended); a pattern whose
    wildcards are all in its last component gets ``--exclude=PATTERN/*`` first, which drops
    the names that '*' would stretch over more components. Other patterns ('**', wildcards
    earlier) need the list of refs. The updates' old values stop the walk too (before a push
    they are their refs' tips). ``landed``: after the push, the updated refs hold the new
    tips, so they are left out (and listed).
    """
    olds = {u.old for u in updates if not u.is_create}
    globs = [_exact_glob(p) for p in patterns]
    if not landed and all(globs):
        return ["--not", *(option for glob in globs for option in glob)], sorted(olds)
    updated = {u.ref for u in updates} if landed else set()
    tips = {
        oid
        for name, oid in git.refs().items()
        if name not in updated and is_protected(name, patterns)
    }
    return [], sorted(tips | olds)


def _exact_glob(pattern: str) -> list[str]:
    """rev-list options whose refs are exactly those ``pattern`` matches; empty if none can."""
    head, _, last = pattern.rpartition("/")
    if "*" in head or "**" in last:
        return []
    if "*" in last:
        return [f"--exclude={pattern}/*", f"--glob={pattern}"]
    if _plain(pattern[-1:]):
        return [f"--glob={pattern[:-1]}[{pattern[-1]}]"]
    return []


def _plain(char: str) -> bool:
    """A character that a one-character glob class matches as itself: git's wildmatch
    compares bytes, so a class holding a multi-byte character matches none of it."""
    return char.isascii() and char.isalnum()


class FirstStage:
    """What the first stage read and kept of one push's protected updates."""

    __slots__ = (
        "agent_pusher",
        "count",
        "encoded",
        "memory_error",
        "new_commits",
        "remembered",
        "rewrites",
        "settled",
        "suspects",
        "updates",
    )

    def __init__(self, updates: list[RefUpdate]) -> None:
        self.updates = updates
        self.count = 0  # commits in the range
        self.suspects: dict[bytes, list] = {}  # id -> its changes (PathChange) under the pathspec
        # Commits whose object may declare an encoding: reading them can fail (parse_commit).
        # None: the commits' text was not read (every commit went to diff-tree), so any may.
        self.encoded: set[bytes] | None = set()
        self.agent_pusher = True  # the pusher might be an agent: every commit may be an agent's
        self.rewrites = True  # a deletion or non-fast-forward the exact stage must weigh
        self.settled = False  # True: certainly nothing to hold
        # Commits an agent account first pushed (gate.git.provenance): id -> its Remembered.
        self.remembered: dict[bytes, object] = {}
        # The store cannot be read: a commit on a guarded path cannot be told a human's.
        self.memory_error: GateError | None = None
        # ``new_of``'s commits that no ref reaches, in rev-list's order; None: not walked.
        self.new_commits: list[str] | None = None


def first_stage(
    git: Git,
    updates: list[RefUpdate],
    patterns: "Sequence[str]",
    pathspec: "Sequence[str]",
    rules: dict | None,
    pusher: str | None,
    unknown_pusher: str = "human",
    new_of: str | None = None,
) -> FirstStage:
    """Walk the protected ``updates``' new commits once and keep the suspects.

    ``rules`` (from the compiled settings) hold the literal prefilters; None lets every commit
    and path through to the exact stage. ``new_of``: a tip whose commits new to the
    repository (reachable from no ref) the caller wants too (an agent account's push
    remembers them): where the walk reads ids only and that is its one tip, it walks those
    first and keeps them (``new_commits``), then only what is left of the range.
    """
    stage = FirstStage(updates)
    unsure: list[RefUpdate] = []  # an agent pusher's updates not yet known to fast-forward
    if rules is not None:  # else both stay True: the exact stage weighs them
        stage.agent_pusher = unknown_pusher_is_agent(pusher, unknown_pusher) or (
            pusher is not None and may_match(fold(pusher), rules["pusher_rules"])
        )
        stage.rewrites = stage.agent_pusher and any(u.is_delete for u in updates)
        if stage.agent_pusher and not stage.rewrites:
            unsure = [u for u in updates if not u.is_create]
    tips = [u.new for u in updates if not u.is_delete]
    # A commit of the walk whose parent is the old tip shows the one update fast-forwards,
    # without a merge-base walk of its own over the same commits (60 ms for 10,000).
    parent_of_old = unsure[0].old.encode() if len(unsure) == 1 and len(tips) == 1 else None
    every_commit = rules is None or stage.agent_pusher or rules.get("every_commit", False)
    memory = None
    git_dir = git.env.get("GIT_DIR")
    if git_dir is not None:
        try:
            memory = AgentCommits.open(git_dir)
        except GateError as exc:
            stage.memory_error = exc
    agent_rules = None if every_commit else rules["agent_rules"]  # type: ignore[index]
    if stage.memory_error is not None:
        agent_rules = None  # any commit may be an agent's: those on guarded paths are refused
    # Where every commit goes to diff-tree anyway, the memory only adds evidence to the
    # suspects: they are looked up at the end, not every commit read (a file read each).
    memory_of_read = memory if agent_rules is not None else None
    guard_rules = None if rules is None else rules["guard_rules"]
    if tips:
        options, stops = range_stops(git, patterns, updates)
        tops = None if rules is None else rules["stand_in_tops"]

        def weigh(output: bytes) -> None:
            _weigh(output, guard_rules, tops, stage)

        paths = ChangedPaths(git.env, pathspec, weigh=weigh)
        needles: tuple[bytes, ...] = ()  # the old tip as a parent on a --parents line
        looks_agent = 0  # commits read so far whose text may be an agent's
        ids_only = agent_rules is None and guard_rules is not None
        walk_new = False
        if ids_only:
            # Every commit goes to diff-tree and the guards' prefilter keeps few: only ids
            # (and parents) are read, not the commits' text (3.2 MB of it for 10,000
            # commits). Without a prefilter (``gate check``) every commit is a suspect, and
            # the text tells which of them can be weighed unread (``encoded``).
            stage.encoded = None
            walk_new = new_of is not None and tips == [new_of]
            if walk_new:  # the range's commits that no ref has first: see _rest_of_range
                rev_list = git.rev_list(["--parents", "--boundary", "--not", "--all"], tips, [])
            else:
                rev_list = git.rev_list(["--parents", *options], tips, stops)
            end = b"\n"
            if parent_of_old is not None:
                needles = (b" %s\n" % parent_of_old, b" %s " % parent_of_old)
        else:
            rev_list = git.rev_list(["--header", "--encoding=none", *options], tips, stops)
            end = b"\0"
        walked: list[bytes] = []  # walk_new: the new commits' ids
        boundary: list[bytes] = []  # and the first walk's boundary lines ("-id parents")
        try:
            while True:
                for chunk in rev_list.records(end):
                    if needles and any(needle in chunk for needle in needles):
                        unsure.clear()
                        needles = ()
                    if ids_only:
                        if walk_new and b"-" in chunk:  # the boundary lines come last
                            cut = chunk.index(b"-")
                            boundary.append(chunk[cut:])
                            chunk = chunk[:cut]
                        kept = _ids(chunk, stage)
                        if walk_new:
                            walked.extend(kept)
                    else:
                        kept = _keep(chunk, agent_rules, stage, memory_of_read)
                        looks_agent += len(kept)
                        if (
                            agent_rules is not None
                            and stage.count >= SAMPLE
                            and looks_agent * 10 >= 9 * stage.count
                        ):
                            # Nine in ten so far look like an agent's: the rest of the push
                            # most likely does too, and goes to diff-tree untested (the exact
                            # stage tells the suspects' authors apart as it would have).
                            agent_rules = None
                    if kept:
                        paths.add(kept)
                rev_list.check()
                if not walk_new:
                    break
                walk_new = False
                stage.new_commits = b" ".join(walked).decode("ascii").split()
                rest = _rest_of_range(b"".join(boundary), None if walked else tips[0], stops)
                if not rest:
                    break
                rev_list.release()
                rev_list = git.rev_list(["--parents", *options], rest, stops)
            paths.finish_raw()
        finally:
            rev_list.release()
            paths.stop()
    if memory is not None and memory_of_read is None:
        for oid in stage.suspects:
            remembered = memory.get(oid)
            if remembered is not None:
                stage.remembered[oid] = remembered
    if any(not git.is_ancestor(u.old, u.new) for u in unsure):
        stage.rewrites = True
    stage.settled = rules is not None and not stage.suspects and not stage.rewrites
    return stage


def _weigh(
    output: bytes, guard_rules: list | None, tops: "list[str] | None", stage: FirstStage
) -> None:
    """Keep as suspects the commits of one batch of diff-tree output a guard might match."""
    if guard_rules is not None and not _stands_in(output):
        # The output tested as a whole first: ids, modes and status letters are in it too,
        # which can only let more through. Mostly no rule is live and nothing is parsed.
        if output.isascii():
            # An ASCII name folds to itself lowered, and a rule's string written or folded
            # is in the name only if it is lowered in the name lowered: one search each.
            lowered = output.lower()
            keys = [_lowered(rule) for rule in guard_rules]
            live = {key: _in_lowered(lowered, key) for key in set(keys)}  # each string once
            guard_rules = [rule for rule, key in zip(guard_rules, keys, strict=True) if live[key]]
        else:
            text = output.decode("utf-8", "surrogateescape")
            guard_rules = live_rules(f"{text}\0{fold_path(text)}", [("", guard_rules)])
    if guard_rules is None or guard_rules:
        for oid, changed in parse_raw_diff(output).items():
            if guard_rules is None or _may_be_guarded(changed, guard_rules, tops):
                stage.suspects[oid] = changed


def _lowered(rule: tuple) -> tuple:
    """A rule's strings lowered, as UTF-8."""
    trigger, clauses = rule
    return (
        tuple(piece.lower().encode("utf-8", "surrogateescape") for piece in trigger),
        tuple(
            tuple(piece.lower().encode("utf-8", "surrogateescape") for piece in clause)
            for clause in clauses
        ),
    )


def _in_lowered(lowered: bytes, rule: tuple) -> bool:
    """``may_match`` of a ``_lowered`` rule, on lowered ASCII bytes."""
    trigger, clauses = rule
    return any(piece in lowered for piece in trigger) and all(
        any(piece in lowered for piece in clause) for clause in clauses
    )


def _rest_of_range(boundary: bytes, tip: str | None, stops: "list[str]") -> list[str]:
    """The tips of what is left of the range, to walk next with its stops, after a walk of
    ``rev-list --parents --boundary TIP --not --all``: ``boundary``, its boundary lines;
    ``tip`` when it listed no commit.

    The range is what TIP reaches and no stop reaches; the first walk took what no ref
    reaches. Every other commit of the range is reached from a ref, so on its way from TIP it
    passes a first commit some ref reaches: TIP itself when the first walk was empty, else a
    boundary commit (a parent of a commit walked, not walked itself). Those are the next
    walk's tips, less the stops among them (what a stop reaches is outside the range). A stop
    is a protected ref's tip or an updated ref's old value, its tip before the push, so what a
    stop reaches a ref reaches: the first walk took no commit outside the range (were an old
    value no ref's tip, it could only take more).
    """
    edge = {tip.encode("ascii")} if tip is not None else set()
    for line in boundary.split(b"\n"):
        if line:
            oid = line[1:].partition(b" ")[0]
            if not (line.startswith(b"-") and is_object_id(oid)):
                raise GateError(f"unexpected git rev-list output: {line[:80]!r}")
            edge.add(oid)
    edge.difference_update(stop.encode("ascii") for stop in stops)
    return sorted(oid.decode("ascii") for oid in edge)


def _ids(chunk: bytes, stage: FirstStage) -> list[bytes]:
    """The commit ids of ``rev-list --parents`` lines (each id, then its parents')."""
    ids = [line.partition(b" ")[0] for line in chunk.split(b"\n") if line]
    for oid in ids:
        if not is_object_id(oid):
            raise GateError(f"unexpected git rev-list output: {oid[:80]!r}")
    stage.count += len(ids)
    return ids


def _keep(
    chunk: bytes, agent_rules: list | None, stage: FirstStage, memory: AgentCommits | None
) -> list[bytes]:
    """Ids of the records in ``chunk`` that might be an agent's commit (``agent_rules``: the
    grouped rules of the compiled settings; None keeps every record).

    The records are tested together first: most pushes are human and settle there; otherwise
    only the rules that fired on the whole are tried on each commit, on its part of the
    chunk's folded text (folding keeps every NUL where it was). A record in another
    encoding, or not UTF-8, is kept: the exact stage decodes it field by field. A commit that
    ``memory`` says an agent account first pushed is kept whatever its text.
    """
    records = chunk.split(b"\0")
    folded: list[str] | None = None
    rules = agent_rules
    clean = True  # every record UTF-8, none with an encoding header
    if rules is not None:
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError:
            # A record that is not UTF-8 is kept below; every other one is a part of this
            # text as it would be decoded alone, so the rules live in it are a superset.
            text = chunk.decode("utf-8", "surrogateescape")
            clean = False
        clean = clean and "\nencoding " not in text
        whole = fold(text)
        rules = live_rules(whole, rules)
        if clean and not rules and memory is None:
            stage.count += len(records) - records.count(b"")
            return []
        folded = whole.split("\0")
    matching = _matching(folded, rules) if folded is not None and rules else ()
    kept = []
    for index, record in enumerate(records):
        if not record:
            continue
        stage.count += 1
        oid, _, body = record.partition(b"\n")
        if not (is_object_id(oid) and body.startswith(b"tree ")):
            # Also a NUL inside a commit, which splits it: records cannot be told apart.
            raise GateError(f"unexpected git rev-list output: {record[:80]!r}")
        if b"\nencoding " in body and stage.encoded is not None:
            stage.encoded.add(oid)
        if memory is not None:
            remembered = memory.get(oid)
            if remembered is not None:
                stage.remembered[oid] = remembered
                kept.append(oid)
                continue
        if folded is not None:
            if not clean and not _plain_utf8(body):
                kept.append(oid)  # decoded field by field by the exact stage
            elif index in matching:
                kept.append(oid)
            continue
        kept.append(oid)
    return kept


def _matching(texts: "list[str]", rules: list) -> "set[int]":
    """The indices of the ``texts`` that ``rules`` may match (``may_match`` on each), found
    rule by rule over the texts not yet matched: a chunk of one agent's commits settles on
    its first rule, at a list comprehension's speed."""
    found: set[int] = set()
    pending = list(range(len(texts)))
    for trigger, clauses in rules:
        if len(trigger) == 1:
            piece = trigger[0]
            hits = [i for i in pending if piece in texts[i]]
        else:
            hits = [i for i in pending if any(piece in texts[i] for piece in trigger)]
        for clause in clauses:
            if not hits:
                break
            hits = [i for i in hits if any(piece in texts[i] for piece in clause)]
        if hits:
            found.update(hits)
            pending = [i for i in pending if i not in found]
            if not pending:
                break
    return found


def _plain_utf8(body: bytes) -> bool:
    """Whether a commit's text is UTF-8 and names no other encoding."""
    if b"\nencoding " in body:
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _stands_in(output: bytes) -> bool:
    """Whether diff-tree's raw output may hold a change that stands for more than its path
    (a new mode 120000 or 160000 follows a space; a path is a NUL-separated field)."""
    return (
        b" 120000 " in output
        or b" 160000 " in output
        or b"\0.gitmodules\0" in output
        or output.endswith(b"\0.gitmodules")
    )


def _may_be_guarded(changes: list, guard_rules: list, tops: "list[str] | None") -> bool:
    """Whether a guard might match a change: its path as written or folded against the rules
    (which hold the folded patterns' literals too), or a change that stands for more: a link
    or submodule in one of the ``tops`` (gate.git.policy.paths.stand_in_tops; None: anywhere),
    or .gitmodules."""
    for change in changes:
        if change.path == GITMODULES:
            return True
        if change.new_mode in STAND_IN_MODES:
            top = change.path.partition("/")[0]
            if tops is None or top in tops or fold_path(top) in tops:
                return True
        if may_match(change.path, guard_rules) or may_match(fold_path(change.path), guard_rules):
            return True
    return False
