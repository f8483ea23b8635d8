"""The hook's own settings: gate.toml in the repository (``gate install-hook`` writes it), or,
for server-wide installs, one central file that maps each repository to its policy and name.

A server-wide hook (GitLab's global ``custom_hooks_dir``, gitolite's LOCAL_CODE, a GHES hook
repository) serves many repositories; it finds the one it runs for from the host's own
variables (``REPOSITORY_VARIABLES``), then the repository's path. A repository with no entry
gets the central file's ``unlisted`` choice: ``"guard"`` (the default: ``default_policy``
applies, under the host's name for the repository) or ``"pass"`` (gate lets its pushes through,
and ``gate doctor`` says so).
"""

from __future__ import annotations

from gate.errors import GateError
from gate.git.prefilter import REPOSITORY_VARIABLES
from gate.git.values import Frozen, _set

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

CONFIG_NAME = "gate.toml"
DEFAULT_BUDGET = 10.0
LAYOUTS = ("git", "gitea", "forgejo", "gitlab", "gitolite", "ghes")
UNKNOWN_PUSHER = ("human", "agent")
UNLISTED = ("guard", "pass")


class HookConfig(Frozen):
    __slots__ = _fields = (
        "server",
        "token_file",
        "policy",
        "repository",
        "budget",
        "layout",
        "require_pusher",
        "unknown_pusher",
        "guarded",
    )
    server: str
    token_file: str
    policy: str
    repository: str
    budget: float  # seconds the whole hook may take, server calls included
    layout: str
    require_pusher: bool
    unknown_pusher: str
    guarded: bool  # False: a central file's unlisted repository, passed on purpose

    def __init__(
        self,
        server: str,
        token_file: str,
        policy: str,
        repository: str,
        budget: float = DEFAULT_BUDGET,
        layout: str = "git",
        require_pusher: bool = False,
        unknown_pusher: str = "human",
        guarded: bool = True,
    ) -> None:
        _set(self, "server", server)
        _set(self, "token_file", token_file)
        _set(self, "policy", policy)
        _set(self, "repository", repository)
        _set(self, "budget", budget)
        _set(self, "layout", layout)
        _set(self, "require_pusher", require_pusher)
        _set(self, "unknown_pusher", unknown_pusher)
        _set(self, "guarded", guarded)

    def token(self) -> str:
        return read_token_file(self.token_file)

    def to_toml(self) -> str:
        return (
            "# Written by `gate install-hook`; rerun it to change these.\n"
            f"server = {toml_string(self.server)}\n"
            f"token_file = {toml_string(self.token_file)}\n"
            f"policy = {toml_string(self.policy)}\n"
            f"repository = {toml_string(self.repository)}\n"
            f"layout = {toml_string(self.layout)}\n"
            f"budget = {self.budget}\n"
            f"require_pusher = {'true' if self.require_pusher else 'false'}\n"
            f"unknown_pusher = {toml_string(self.unknown_pusher)}\n"
        )


def toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class CentralConfig(Frozen):
    """The central file of a server-wide install, checked whole."""

    __slots__ = _fields = (
        "path",
        "server",
        "token_file",
        "layout",
        "budget",
        "require_pusher",
        "unknown_pusher",
        "unlisted",
        "default_policy",
        "repositories",
    )
    path: str
    server: str
    token_file: str
    layout: str
    budget: float
    require_pusher: bool
    unknown_pusher: str
    unlisted: str
    default_policy: str | None
    repositories: dict[str, dict[str, str]]

    def __init__(
        self,
        path: str,
        server: str,
        token_file: str,
        layout: str,
        budget: float,
        require_pusher: bool,
        unknown_pusher: str,
        unlisted: str,
        default_policy: str | None,
        repositories: dict[str, dict[str, str]] | None = None,
    ) -> None:
        _set(self, "path", path)
        _set(self, "server", server)
        _set(self, "token_file", token_file)
        _set(self, "layout", layout)
        _set(self, "budget", budget)
        _set(self, "require_pusher", require_pusher)
        _set(self, "unknown_pusher", unknown_pusher)
        _set(self, "unlisted", unlisted)
        _set(self, "default_policy", default_policy)
        _set(self, "repositories", {} if repositories is None else repositories)

    def repository_key(self, environ: Mapping[str, str], git_dir: str) -> tuple[str, bool]:
        """The repository's name as the host gives it, and whether a host variable gave it
        (else its absolute path)."""
        for names in REPOSITORY_VARIABLES[self.layout]:
            values = [environ.get(name, "").strip() for name in names]
            if all(values):
                return "/".join(values), True
        import os

        return os.path.abspath(git_dir), False

    def for_repository(self, environ: Mapping[str, str], git_dir: str) -> HookConfig:
        key, _ = self.repository_key(environ, git_dir)
        import os

        entry = self.repositories.get(key) or self.repositories.get(os.path.abspath(git_dir))
        common: dict[str, Any] = {
            "server": self.server,
            "token_file": self.token_file,
            "budget": self.budget,
            "layout": self.layout,
            "require_pusher": self.require_pusher,
            "unknown_pusher": self.unknown_pusher,
        }
        if entry is not None:
            policy = entry.get("policy") or self.default_policy
            assert policy is not None  # checked when the file was read
            return HookConfig(policy=policy, repository=entry.get("name", key), **common)
        if self.unlisted == "pass":
            return HookConfig(policy="", repository=key, guarded=False, **common)
        assert self.default_policy is not None
        return HookConfig(policy=self.default_policy, repository=key, **common)


def read_token_file(path: str | Path) -> str:
    """The hook token in a token file: its last line that is neither blank nor a ``#`` comment
    (so an admin can note above it what the token is for). The one reader, for the hook and
    for ``gate wait``."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as exc:
        raise GateError(f"cannot read the token file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise GateError(f"the token file {path} is not UTF-8 text") from None
    lines = [line.strip() for line in text.splitlines()]
    tokens = [line for line in lines if line and not line.startswith("#")]
    if not tokens:
        raise GateError(f"the token file {path} holds no token (only blank or # comment lines)")
    token = tokens[-1]
    if not token.isascii() or any(ch.isspace() or not ch.isprintable() for ch in token):
        raise GateError(
            f"the last line of the token file {path} is not a token (one word, ASCII only)"
        )
    return token


def _read_toml(path: str, missing: str) -> dict[str, Any]:
    import tomllib  # here, not at the top: the hook's cache (gate.git.settings) usually spares it

    try:
        with open(path, encoding="utf-8") as file:
            return tomllib.loads(file.read())
    except FileNotFoundError:
        raise GateError(f"{path} is missing; {missing}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GateError(f"cannot read {path}: {exc}") from None


class _Fields:
    """Typed reads of one TOML table, each wrong value named with its key and file."""

    def __init__(self, data: Mapping[str, Any], where: str, fix: str) -> None:
        self.data, self.where, self.fix = data, where, fix

    def fail(self, key: str, expected: str) -> GateError:
        return GateError(f"{self.where}: {key} must be {expected}; {self.fix}")

    def text(self, key: str, default: str | None = None, choices: tuple[str, ...] = ()) -> str:
        value = self.data.get(key, default)
        if value is None:
            raise GateError(f"{self.where} is incomplete (no {key}); {self.fix}")
        if not isinstance(value, str) or (choices and value not in choices):
            raise self.fail(key, " or ".join(map(repr, choices)) if choices else "a string")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.fail(key, "a positive number of seconds")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "true or false")
        return value


def load_hook_config(
    git_dir: str | Path, environ: Mapping[str, str] | None = None, central: str | None = None
) -> HookConfig:
    """The settings the hook runs with: the central file's entry for this repository when the
    hook was installed server-wide (``central``), else the repository's gate.toml."""
    if central is not None:
        return load_central_config(central).for_repository(environ or {}, str(git_dir))
    import os

    path = os.path.join(git_dir, CONFIG_NAME)
    fix = "reinstall the hook with `gate install-hook`"
    data = _read_toml(path, fix)
    fields = _Fields(data, path, fix)
    return HookConfig(
        server=fields.text("server").rstrip("/"),
        token_file=fields.text("token_file"),
        policy=fields.text("policy"),
        repository=fields.text("repository"),
        # gate.toml files written before the whole-hook budget call it timeout
        budget=fields.number("budget", fields.number("timeout", DEFAULT_BUDGET)),
        layout=fields.text("layout", "git", LAYOUTS),
        require_pusher=fields.flag("require_pusher", False),
        unknown_pusher=fields.text("unknown_pusher", "human", UNKNOWN_PUSHER),
    )


# Every field but the file's own path is a key of the file.
CENTRAL_KEYS = frozenset(CentralConfig._fields) - {"path"}


def load_central_config(path: str) -> CentralConfig:
    fix = "fix the central gate configuration (see README, server-wide installs)"
    data = _read_toml(path, "the hook was installed server-wide with it; " + fix)
    unknown = sorted(set(data) - CENTRAL_KEYS)
    if unknown:
        raise GateError(f"{path}: unknown key {unknown[0]!r}; {fix}")
    fields = _Fields(data, path, fix)
    layout = fields.text("layout", None, LAYOUTS)
    unlisted = fields.text("unlisted", "guard", UNLISTED)
    default_policy = data.get("default_policy")
    if default_policy is not None and not isinstance(default_policy, str):
        raise fields.fail("default_policy", "a path")
    repositories = data.get("repositories", {})
    if not isinstance(repositories, dict):
        raise fields.fail("repositories", 'a table of [repositories."NAME"] entries')
    for key, entry in repositories.items():
        where = f'{path}: [repositories."{key}"]'
        if not isinstance(entry, dict) or not set(entry) <= {"policy", "name"}:
            raise GateError(f"{where} may only set policy and name; {fix}")
        if any(not isinstance(value, str) or not value for value in entry.values()):
            raise GateError(f"{where}: policy and name must be non-empty strings; {fix}")
        if "policy" not in entry and default_policy is None:
            raise GateError(f"{where} has no policy and there is no default_policy; {fix}")
    if unlisted == "guard" and default_policy is None:
        raise GateError(
            f'{path}: unlisted = "guard" (the default) needs default_policy, the policy of '
            f'repositories with no entry; set it, or unlisted = "pass"; {fix}'
        )
    return CentralConfig(
        path=path,
        server=fields.text("server").rstrip("/"),
        token_file=fields.text("token_file"),
        layout=layout,
        budget=fields.number("budget", default_budget(layout)),
        require_pusher=fields.flag("require_pusher", False),
        unknown_pusher=fields.text("unknown_pusher", "human", UNKNOWN_PUSHER),
        unlisted=unlisted,
        default_policy=default_policy,
        repositories=repositories,
    )


def default_budget(layout: str) -> float:
    """GHES kills all pre-receive hooks together after 5 s: gate's refusal must come first."""
    return 4.0 if layout == "ghes" else DEFAULT_BUDGET
