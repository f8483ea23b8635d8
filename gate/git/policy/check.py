"""Reading and checking a policy file: every problem at once, each with its line number."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from typing import Any

from gate.git.policy.errors import PolicyError, Problem
from gate.git.policy.limits import MAX_APPROVALS, MAX_EMAIL, MAX_GUARD_NAME, MAX_PUSHER_NAME
from gate.git.policy.model import (
    AGENT_GLOB_KEYS,
    APPROVAL_PASSWORD,
    APPROVAL_VALUES,
    TRUST_EVIDENCE,
    TRUST_SIGNED_HUMANS,
    TRUST_VALUES,
    Policy,
    build_policy,
)
from gate.git.policy.paths import bracket_end, check_path_pattern
from gate.git.policy.refs import check_ref_pattern
from gate.git.policy.toml_lines import KeyPath, SourceMap

TOP_LEVEL_KEYS = ("protected_refs", "guard", "agents")
GUARD_KEYS = (
    "name",
    "paths",
    "approvals",
    "trust",
    "require_touch",
    "require_pin",
    "approval",
)
AGENT_KEYS = ("builtin", "pushers", "emails", "names", "trailers", "owners")


def parse_policy(data: bytes, source: str = "<policy>") -> Policy:
    """The policy in ``data`` (the file's bytes), or PolicyError listing every problem."""
    text = _decode(data, source)
    doc = _load_toml(text, source)
    checker = _Checker(doc, SourceMap(text))
    checker.check()
    if checker.problems:
        raise PolicyError(source, sorted(checker.problems, key=lambda problem: problem[0] or 0))
    import hashlib

    return build_policy(doc, sha256=hashlib.sha256(data).hexdigest(), source=source)


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and check the policy file at ``path``."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as exc:
        raise PolicyError(str(path), [(None, f"cannot read policy file: {exc.strerror}")]) from None
    return parse_policy(data, str(path))


def _decode(data: bytes, source: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = data[exc.start]
        message = f"not valid UTF-8 (byte 0x{byte:02x} at column {column}); save the file as UTF-8"
        raise PolicyError(source, [(line, message)]) from None
    text = text.removeprefix("\ufeff")
    if not text.strip():
        hint = "it needs protected_refs and at least one [[guard]]"
        raise PolicyError(source, [(None, f"the policy file is empty; {hint}")])
    return text


_TOML_POSITION = re.compile(
    r"^(?P<msg>.*?) \(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)$"
)


def _load_toml(text: str, source: str) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError) as exc:
        raise PolicyError(source, [_toml_problem(str(exc), text)]) from None


def _toml_problem(message: str, text: str) -> Problem:
    found = _TOML_POSITION.match(message)
    if not found:
        return (None, f"TOML syntax error: {message}")
    if found["line"] is None:
        last_line = text.rstrip("\n").count("\n") + 1
        return (last_line, f"TOML syntax error: {found['msg']} (at end of file)")
    return (int(found["line"]), f"TOML syntax error: {found['msg']} (column {found['col']})")


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names |= {list: "a list", dict: "a table"}
    return names.get(type(value), "a date or time")


def _did_you_mean(key: str, allowed: Iterable[str]) -> str:
    import difflib  # only needed when something is wrong

    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Checker:
    """Walks a parsed policy document and collects every problem with its line."""

    def __init__(self, doc: dict[str, Any], where: SourceMap) -> None:
        self.doc = doc
        self.where = where
        self.problems: list[Problem] = []

    def report(self, path: KeyPath, message: str) -> None:
        self.problems.append((self.where.line(path), message))

    def check(self) -> None:
        self.check_unknown_keys((), self.doc, TOP_LEVEL_KEYS, "top-level key")
        self.check_refs()
        self.check_guards()
        self.check_agents()

    def check_unknown_keys(
        self, path: KeyPath, table: dict[str, Any], allowed: tuple[str, ...], what: str
    ) -> None:
        for key in table:
            if key not in allowed:
                known = ", ".join(allowed)
                self.report(
                    (*path, key),
                    f"unknown {what} {key!r}{_did_you_mean(key, allowed)} (known: {known})",
                )

    def string_list(
        self, path: KeyPath, value: object, name: str, owner: str = ""
    ) -> Iterator[tuple[int, str]]:
        """Yield (index, item) for the strings of a list, reporting a wrong type for the rest.

        ``owner`` prefixes the messages, as in "guard 'model': ".
        """
        if not isinstance(value, list):
            simple = isinstance(value, str) and not any(char in value for char in '"\\\n')
            hint = f' (write {name} = ["{value}"])' if simple else ""
            self.report(
                path, f"{owner}{name!r} must be a list of strings, not {_type_name(value)}{hint}"
            )
            return
        seen: set[str] = set()
        for index, item in enumerate(value):
            if not isinstance(item, str):
                message = f"{owner}{name!r} entries must be strings, not {_type_name(item)}"
                self.report((*path, index), message)
            elif item in seen:
                self.report((*path, index), f"{owner}{name!r} lists {item!r} twice")
            else:
                seen.add(item)
                yield index, item

    def check_refs(self) -> None:
        path: KeyPath = ("protected_refs",)
        if "protected_refs" not in self.doc:
            self.report(
                path, "missing required key 'protected_refs' (for example [\"refs/heads/main\"])"
            )
            return
        value = self.doc["protected_refs"]
        if value == []:
            self.report(path, "'protected_refs' is empty; list at least one ref pattern")
        for index, pattern in self.string_list(path, value, "protected_refs"):
            reason = check_ref_pattern(pattern)
            if reason:
                self.report((*path, index), f"protected ref {pattern!r} {reason}")

    def check_guards(self) -> None:
        guards = self.doc.get("guard")
        if guards is None or guards == []:
            self.report(
                ("guard",), "no [[guard]] tables: add at least one guard with a name and paths"
            )
            return
        if not isinstance(guards, list) or not all(isinstance(guard, dict) for guard in guards):
            self.report(
                ("guard",), "'guard' must be an array of tables: write [[guard]], not [guard]"
            )
            return
        first_line: dict[str, int | None] = {}
        for index, guard in enumerate(guards):
            name = self.check_guard(("guard", index), guard, index)
            if name is None:
                continue
            if name in first_line:
                where = f" (first defined on line {first_line[name]})" if first_line[name] else ""
                self.report(("guard", index, "name"), f"duplicate guard name {name!r}{where}")
            else:
                first_line[name] = self.where.line(("guard", index, "name"))

    def check_guard(self, path: KeyPath, guard: dict[str, Any], index: int) -> str | None:
        """Check one [[guard]]; return its name if it has a usable one."""
        self.check_unknown_keys(path, guard, GUARD_KEYS, "guard key")
        name = self.check_guard_name(path, guard, index)
        label = f"guard {name!r}" if name else f"guard #{index + 1}"
        self.check_guard_paths(path, guard, label)
        self.check_approvals(path, guard, label)
        self.check_trust(path, guard, label)
        self.check_approval_method(path, guard, label)
        return name

    def check_approval_method(self, path: KeyPath, guard: dict[str, Any], label: str) -> None:
        method = guard.get("approval", APPROVAL_PASSWORD)
        if not isinstance(method, str) or method not in APPROVAL_VALUES:
            shown = repr(method) if isinstance(method, str) else _type_name(method)
            hint = _did_you_mean(method, APPROVAL_VALUES) if isinstance(method, str) else ""
            if isinstance(method, int) and not isinstance(method, bool):
                hint = "; did you mean 'approvals'?"  # the count of reviewers
            self.report(
                (*path, "approval"),
                f"{label}: 'approval' must be one of {', '.join(map(repr, APPROVAL_VALUES))}, "
                f"not {shown}{hint}",
            )

    def check_trust(self, path: KeyPath, guard: dict[str, Any], label: str) -> None:
        trust = guard.get("trust", TRUST_EVIDENCE)
        if not isinstance(trust, str) or trust not in TRUST_VALUES:
            shown = repr(trust) if isinstance(trust, str) else _type_name(trust)
            self.report(
                (*path, "trust"),
                f"{label}: 'trust' must be one of {', '.join(map(repr, TRUST_VALUES))}, not "
                f"{shown}{_did_you_mean(trust, TRUST_VALUES) if isinstance(trust, str) else ''}",
            )
            trust = None
        for key in ("require_touch", "require_pin"):
            if key not in guard:
                continue
            if not isinstance(guard[key], bool):
                self.report(
                    (*path, key),
                    f"{label}: '{key}' must be true or false, not {_type_name(guard[key])}",
                )
            elif trust is not None and trust != TRUST_SIGNED_HUMANS:
                self.report(
                    (*path, key),
                    f"{label}: '{key}' needs trust = \"{TRUST_SIGNED_HUMANS}\" (it says which "
                    "signatures count as a human's)",
                )

    def check_guard_name(self, path: KeyPath, guard: dict[str, Any], index: int) -> str | None:
        if "name" not in guard:
            self.report(path, f"guard #{index + 1} has no 'name'")
            return None
        name = guard["name"]
        if not isinstance(name, str):
            self.report((*path, "name"), f"guard 'name' must be a string, not {_type_name(name)}")
            return None
        if not name.strip():
            self.report((*path, "name"), f"guard #{index + 1} has an empty name")
            return None
        if not name.isprintable():
            self.report((*path, "name"), f"guard name {name!r} contains control characters")
        if len(name) > MAX_GUARD_NAME:
            self.report(
                (*path, "name"),
                f"guard #{index + 1} has a name of {len(name)} characters; at most {MAX_GUARD_NAME}",
            )
            return None
        return name

    def check_guard_paths(self, path: KeyPath, guard: dict[str, Any], label: str) -> None:
        if "paths" not in guard:
            self.report(path, f"{label} has no 'paths' (for example paths = [\"train/**\"])")
            return
        patterns = guard["paths"]
        if patterns == []:
            self.report((*path, "paths"), f"{label} has no paths; list at least one pattern")
        good = []
        for index, pattern in self.string_list((*path, "paths"), patterns, "paths", f"{label}: "):
            reason = check_path_pattern(pattern)
            if reason:
                self.report((*path, "paths", index), f"{label}: path pattern {pattern!r} {reason}")
            else:
                good.append(pattern)
        if good and len(good) == len(patterns) and all(p.startswith("!") for p in good):
            self.report((*path, "paths"), f"{label} has only '!' patterns, so it guards nothing")

    def check_approvals(self, path: KeyPath, guard: dict[str, Any], label: str) -> None:
        approvals = guard.get("approvals", 1)
        if isinstance(approvals, bool) or not isinstance(approvals, int):
            given = "true/false" if isinstance(approvals, bool) else _type_name(approvals)
            self.report(
                (*path, "approvals"), f"{label}: 'approvals' must be a whole number, not {given}"
            )
        elif approvals < 1:
            self.report(
                (*path, "approvals"), f"{label}: 'approvals' must be at least 1, not {approvals}"
            )
        elif approvals > MAX_APPROVALS:
            self.report(
                (*path, "approvals"),
                f"{label}: 'approvals' must be at most {MAX_APPROVALS}, not {approvals}",
            )

    def check_agents(self) -> None:
        agents = self.doc.get("agents", {})
        if not isinstance(agents, dict):
            self.report(
                ("agents",), f"'agents' must be a table ([agents]), not {_type_name(agents)}"
            )
            return
        self.check_unknown_keys(("agents",), agents, AGENT_KEYS, "[agents] key")
        builtin = agents.get("builtin", True)
        if not isinstance(builtin, bool):
            self.report(
                ("agents", "builtin"), f"'builtin' must be true or false, not {_type_name(builtin)}"
            )
        for key in AGENT_GLOB_KEYS:
            path: KeyPath = ("agents", key)
            for index, pattern in self.string_list(path, agents.get(key, []), key, "[agents] "):
                reason = check_agent_glob(key, pattern)
                if reason:
                    self.report((*path, index), f"[agents] {key} pattern {pattern!r} {reason}")
        self.check_owners(agents.get("owners", {}))

    def check_owners(self, owners: object) -> None:
        """[agents.owners]: agent pusher name = "email of the human who operates it"."""
        path: KeyPath = ("agents", "owners")
        if not isinstance(owners, dict):
            self.report(
                path,
                f"'owners' must be a table ([agents.owners], pusher = \"email\"), not {_type_name(owners)}",
            )
            return
        for name, email in owners.items():
            where = (*path, name)
            if not name.strip() or any(ord(char) < 32 for char in name):
                self.report(
                    where,
                    f"[agents.owners] pusher name {name!r} is empty or has control characters",
                )
            elif len(name) > MAX_PUSHER_NAME:
                self.report(
                    where,
                    f"[agents.owners] pusher name {name[:40]!r}... has {len(name)} characters; at most {MAX_PUSHER_NAME}",
                )
            if not isinstance(email, str):
                self.report(
                    where,
                    f"[agents.owners] owner of {name!r} must be an email string, not {_type_name(email)}",
                )
            elif len(email) > MAX_EMAIL:
                self.report(
                    where,
                    f"[agents.owners] owner of {name[:40]!r} has an email of {len(email)} characters; at most {MAX_EMAIL}",
                )
            elif not _OWNER_EMAIL.fullmatch(email):
                self.report(
                    where, f"[agents.owners] owner of {name!r} is not an email address: {email!r}"
                )


_OWNER_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+")


def policy_summary(policy: Policy) -> str:
    """A few lines for people: what ``gate policy check FILE`` prints when the file is good."""
    lines = [
        f"policy {policy.source} (sha256 {policy.sha256[:12]})",
        f"protected refs: {', '.join(policy.protected_refs) or '(none)'}",
        f"guards ({len(policy.guards)}):",
    ]
    for guard in policy.guards:
        plural = "approval" if guard.approvals == 1 else "approvals"
        trust = ""
        if guard.signed_humans:
            needs = [k for k in ("require_touch", "require_pin") if getattr(guard, k)]
            trust = f"; trust signed-humans{' (' + ', '.join(needs) + ')' if needs else ''}"
        if guard.approval != APPROVAL_PASSWORD:
            trust += f"; approval {guard.approval} (a security-key assertion to approve)"
        lines.append(f"  {guard.name}: {guard.approvals} {plural}; {', '.join(guard.paths)}{trust}")
    agents = policy.agents
    lines.append("agents:")
    lines.append(f"  built-in catalog: {'on' if agents.builtin else 'off'}")
    for key in AGENT_GLOB_KEYS:
        patterns = getattr(agents, key)
        if patterns:
            lines.append(f"  {key}: {', '.join(patterns)}")
    for name, email in agents.owners:
        lines.append(f"  owner of {name}: {email}")
    return "\n".join(lines)


def check_agent_glob(key: str, pattern: str) -> str | None:
    """Why ``pattern`` cannot be used in ``[agents] key``, or None if it can."""
    if not pattern.strip():
        return "is empty"
    if any(ord(char) < 32 for char in pattern):
        return "contains a control character"
    if _has_unclosed_bracket(pattern):
        return "has an unclosed '['"
    if key == "trailers":
        trailer_key = pattern.partition(":")[0]
        if ":" not in pattern or not trailer_key:
            return "must look like 'Key: value', for example 'Assisted-by:*'"
        if not re.fullmatch(r"[A-Za-z0-9*?\[\]!-]+", trailer_key):
            return f"has an invalid trailer key {trailer_key!r} (letters, digits and '-' only)"
    return None


def _has_unclosed_bracket(pattern: str) -> bool:
    index = pattern.find("[")
    while index != -1:
        close = bracket_end(pattern, index + 1)
        if close is None:
            return True
        index = pattern.find("[", close)
    return False
